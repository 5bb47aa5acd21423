"""``incident-bot report``: how are we doing against GOV-001, per severity, model, team, trigger?

    incident-bot report --since 2026-10-01 [--until 2026-11-01] [--format table|json|csv|html]

Incidents declared in ``[since, until)`` (until defaults to now); the figures are computed in
SQL (storage/reports.py) and defined in domain/insights.py. ``--output`` writes to a file
(the HTML report is one self-contained file with its charts inline).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import sys
from datetime import UTC, datetime
from typing import Any

from domain.insights import (
    DIMENSION_LABELS,
    DIMENSIONS,
    TARGET_KINDS,
    Report,
    human_duration,
    percent_text,
    report_as_dict,
    targets_from_policy,
)

_SHORT_LABELS = {"ack": "ack", "mitigate": "mitig", "resolve": "resolve", "commander": "IC",
                 "update": "updates"}


def register(subparsers: Any) -> None:
    report = subparsers.add_parser(
        "report", help="incident figures against the policy: MTTA/MTTM/MTTR, SLA compliance, "
                       "escalations, postmortems, action items (per severity, model, team, trigger)")
    report.add_argument("--since", required=True, type=parse_when,
                        help="ISO date or datetime (UTC): incidents declared from then")
    report.add_argument("--until", type=parse_when, default=None,
                        help="ISO date or datetime (UTC), exclusive; default: now")
    report.add_argument("--format", choices=("table", "json", "csv", "html"), default="table")
    report.add_argument("--output", "-o", default=None, help="write to this file instead of stdout")
    report.add_argument("--breaches", type=int, default=200, metavar="N",
                        help="list at most the N newest SLA breaches (default 200)")
    report.set_defaults(func=_report)


def parse_when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"want an ISO date, e.g. 2026-10-01: {exc}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _report(args: argparse.Namespace) -> int:
    from bot.app import load_policy
    from bot.settings import Settings
    from storage import migrate
    from storage.db import create_engine, safe_url
    from storage.reports import build_report

    settings = Settings()
    policy = load_policy(settings)
    now = datetime.now(UTC)
    until = args.until or now
    if until <= args.since:
        print("incident-bot: --until must be after --since", file=sys.stderr)
        return 2

    async def run() -> Report | None:
        engine = create_engine(settings.database_url)
        try:
            if await migrate.current_revision(engine) is None:
                return None  # a database the bot never ran on: nothing to report, say why
            return await build_report(engine, targets_from_policy(policy), args.since, until,
                                      min(until, now), breach_limit=max(0, args.breaches),
                                      policy_name=policy.name)
        finally:
            await engine.dispose()

    report = asyncio.run(run())
    if report is None:
        print(f"incident-bot: the database at {safe_url(settings.database_url)} has no incident "
              "tables yet; run `incident-bot db upgrade` (or start the bot once)", file=sys.stderr)
        return 1
    text = render(report, args.format)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
        print(f"report written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report_as_dict(report), indent=2) + "\n"
    if fmt == "csv":
        return render_csv(report)
    if fmt == "html":
        from bot.reports.html import render_html

        return render_html(report)
    return render_table(report)


CSV_FIELDS = ("dimension", "key", "count", "mtta_p50_s", "mtta_p90_s", "mttm_p50_s", "mttm_p90_s",
              "mttr_p50_s", "mttr_p90_s",
              *(f"{k}_{part}" for k in TARGET_KINDS for part in ("evaluated", "met", "pct")),
              "escalations", "postmortems_required", "postmortems_on_time", "postmortems_late",
              "postmortems_overdue", "actions_open", "actions_overdue", "incident_minutes")


def render_csv(report: Report) -> str:
    """One row per group (dimension, key), durations in seconds."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for g in report.groups:
        row: list[Any] = [g.dimension, g.key, g.count, g.mtta.median, g.mtta.p90, g.mttm.median,
                          g.mttm.p90, g.mttr.median, g.mttr.p90]
        for k in TARGET_KINDS:
            c = g.compliance[k]
            row += [c.evaluated, c.met, "" if c.percent is None else c.percent]
        row += [g.escalations, g.postmortems_required, g.postmortems_on_time, g.postmortems_late,
                g.postmortems_overdue, g.actions_open, g.actions_overdue, g.incident_minutes]
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(  # noqa: E731
        c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def render_table(report: Report) -> str:
    overall = report.overall
    lines = [f"Incident report {report.since:%Y-%m-%d} to {report.until:%Y-%m-%d} "
             f"(policy {report.policy_name}, as of {report.as_of:%Y-%m-%d %H:%M} UTC): "
             f"{overall.count if overall else 0} incidents", ""]
    if overall is None:
        return "\n".join(lines + ["No incidents were declared in this period.", ""])
    headers = ["", "n", "MTTA p50/p90", "MTTM p50/p90", "MTTR p50/p90",
               *(f"{_SHORT_LABELS[k]} met" for k in TARGET_KINDS), "esc", "PM on time", "AI open/late"]
    for dimension in DIMENSIONS:
        rows = []
        for g in report.dimension(dimension):
            rows.append([g.key, str(g.count),
                         *(f"{human_duration(s.median)}/{human_duration(s.p90)}"
                           for s in (g.mtta, g.mttm, g.mttr)),
                         *(percent_text(g.compliance[k].percent) for k in TARGET_KINDS),
                         str(g.escalations), f"{g.postmortems_on_time}/{g.postmortems_required}",
                         f"{g.actions_open}/{g.actions_overdue}"])
        lines += [DIMENSION_LABELS[dimension], *_table([dimension, *headers[1:]], rows), ""]
    lines.append("Top models by incident minutes")
    lines += _table(["model", "minutes", "n"], [[g.key, f"{g.incident_minutes:.0f}", str(g.count)]
                                                for g in report.top_models(5)])
    drift, manual = report.drift_vs_manual()
    lines += ["", f"Drift incidents vs manual: {drift.count if drift else 0} drift, "
                  f"{manual.count if manual else 0} manual", ""]
    lines.append(f"SLA breaches: {report.breaches_total}" + (
        f" (newest {len(report.breaches)} listed)" if report.breaches_total > len(report.breaches) else ""))
    for b in report.breaches[:50]:
        took = (f"timer fired {int(b.took or 0)}x" if b.kind in ("commander", "update")
                else human_duration(b.took) if b.took is not None else "not reached")
        lines.append(f"  {b.key:<10} {b.severity.upper():<3} {b.model:<24} {b.kind:<9} "
                     f"allowed {human_duration(b.target):<6} took {took}")
    if len(report.breaches) > 50:
        lines.append(f"  ... {len(report.breaches) - 50} more (--format json or csv for all)")
    return "\n".join(lines) + "\n"

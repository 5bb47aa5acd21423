"""Slack words for insights (issue 21): the ``/incident stats`` reply and the weekly digest."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.slack_ui.mrkdwn import escape
from domain.insights import (
    TARGET_KINDS,
    TARGET_LABELS,
    Followups,
    GroupFigures,
    Report,
    compliance_delta,
    human_duration,
    percent_text,
)
from domain.model import Severity

DIGEST_KIND = "insights.digest"
STATS_HELP = ("`/incident stats [30d]`: MTTA/MTTR, SLA compliance, escalations, postmortems and "
              "action items over the last 30 days (or 7d, 4w, 48h)")


def _window_label(window: timedelta) -> str:
    if window % timedelta(days=1) == timedelta(0):
        return f"{window.days}d"
    return f"{int(window.total_seconds() // 3600)}h"


def _spreads(g: GroupFigures) -> str:
    return " · ".join(f"{name} p50 {human_duration(s.median)} / p90 {human_duration(s.p90)}"
                      for name, s in (("MTTA", g.mtta), ("MTTM", g.mttm), ("MTTR", g.mttr)))


def _compliance_line(g: GroupFigures) -> str:
    parts = [f"{TARGET_LABELS[k].lower()} {percent_text(c.percent)} ({c.met}/{c.evaluated})"
             for k in TARGET_KINDS if (c := g.compliance[k]).evaluated]
    return " · ".join(parts) or "no targets applied"


def stats_text(report: Report, window: timedelta) -> str:
    """The ephemeral ``/incident stats`` reply: the headline figures of the window."""
    overall = report.overall
    head = (f"*Incidents in the last {_window_label(window)}* "
            f"({report.since:%Y-%m-%d %H:%M} to {report.until:%Y-%m-%d %H:%M} UTC, "
            f"policy {escape(report.policy_name)})")
    if overall is None:
        return f"{head}\nNo incidents were declared in this period."
    by_sev = " · ".join(f"{Severity(g.key).label} {g.count}" for g in report.dimension("severity"))
    lines = [head, f"*{overall.count}* {_incidents(overall.count)}: {by_sev}", _spreads(overall),
             f"*SLA met:* {_compliance_line(overall)}"]
    top = report.top_models(3)
    if top:
        lines.append("*Most incident time:* " + ", ".join(
            f"`{escape(g.key)}` {human_duration(g.incident_seconds)} ({g.count})" for g in top))
    drift, manual = report.drift_vs_manual()
    lines.append(f"*Drift vs manual:* {drift.count if drift else 0} drift, "
                 f"{manual.count if manual else 0} manual · *Escalations:* {overall.escalations}")
    lines.append(f"*Postmortems on time:* {overall.postmortems_on_time}/{overall.postmortems_required}"
                 f" ({overall.postmortems_overdue} overdue) · *Action items:* "
                 f"{overall.actions_open} open, {overall.actions_overdue} overdue")
    if report.breaches:
        shown = ", ".join(f"{b.key} {b.kind}" for b in report.breaches[:5])
        more = report.breaches_total - min(5, len(report.breaches))
        lines.append(f"*SLA breaches:* {report.breaches_total} (newest: {shown}"
                     + (f", +{more} more" if more > 0 else "") + ")")
    lines.append("_Full report: `incident-bot report --since "
                 f"{report.since:%Y-%m-%d} --format html`_")
    return "\n".join(lines)


def _incidents(count: int) -> str:
    return "incident" if count == 1 else "incidents"


def _trend(delta: float | None) -> str:
    if delta is None:
        return ""
    if delta > 0:
        return f" (▲ {delta:.1f} pts)"
    if delta < 0:
        return f" (▼ {-delta:.1f} pts)"
    return " (=)"


def digest_text(this_week: Report, last_week: Report, followups: Followups) -> str:
    """The weekly digest: the week's incidents, SLA compliance against the week before, and
    the overdue postmortems and action items with their owners mentioned."""
    now = this_week.until
    current, previous = this_week.overall, last_week.overall
    lines = [f":bar_chart: *Weekly incident digest* ({this_week.since:%Y-%m-%d} to {now:%Y-%m-%d})"]
    if current is None:
        lines.append(f"No incidents this week (the week before: {previous.count if previous else 0}).")
    else:
        by_sev = " · ".join(f"{Severity(g.key).label} {g.count}" for g in this_week.dimension("severity"))
        lines.append(f"*{current.count}* {_incidents(current.count)} this week (the week before: "
                     f"{previous.count if previous else 0}): {by_sev}")
        lines.append(_spreads(current))
        lines.append("*SLA compliance vs the week before*")
        for kind in TARGET_KINDS:
            c = current.compliance[kind]
            if not c.evaluated:
                continue
            p = previous.compliance[kind] if previous else None
            lines.append(f"• {TARGET_LABELS[kind]}: {percent_text(c.percent)} ({c.met}/{c.evaluated})"
                         + _trend(compliance_delta(c, p)))
        top = this_week.top_models(3)
        lines.append("*Most incident time:* " + ", ".join(
            f"`{escape(g.key)}` {human_duration(g.incident_seconds)}" for g in top))
    if followups.postmortems:
        lines.append("*Overdue postmortems*")
        lines += [f"• INC-{p.number} {escape(p.title)[:80]}: "
                  f"{_mention(p.owner) if p.owner else 'no commander assigned'}, "
                  f"due {p.due_at:%Y-%m-%d %H:%M} UTC" for p in followups.postmortems]
    if followups.actions:
        lines.append("*Overdue action items*")
        lines += [f"• INC-{a.incident_number} #{a.number} {escape(a.text)[:80]}: {_mention(a.owner)}, "
                  f"due {a.due:%Y-%m-%d} ({escape(a.ticket)})" for a in followups.actions]
    if not followups.postmortems and not followups.actions:
        lines.append("No overdue postmortems or action items. :tada:")
    return "\n".join(lines)[:3900]


def _mention(user: str) -> str:
    return f"<@{user}>" if user[:1] in ("U", "W") and user.isalnum() else escape(user)


def digest_chart_series(this_week: Report, last_week: Report) -> tuple[list[str], dict[str, list[float]]]:
    """Labels and bars of the digest's one chart: % met per target, this week and the one before."""
    current, previous = this_week.overall, last_week.overall
    kinds = [k for k in TARGET_KINDS if current and current.compliance[k].evaluated]
    values: dict[str, list[float]] = {"week before": [], "this week": []}
    for k in kinds:
        values["this week"].append((current.compliance[k].percent or 0.0) if current else 0.0)
        values["week before"].append((previous.compliance[k].percent or 0.0) if previous else 0.0)
    return [TARGET_LABELS[k] for k in kinds], values


NO_CHART = ("_No chart: matplotlib is not installed on this host (the `drift` extra: "
            "`pip install 'incident-bot[drift]'`)._")


def digest_payload(text: str, png: bytes | None, period_start: datetime, *,
                   chart_unavailable: bool = False) -> dict[str, Any]:
    """The outbox payload: the message text and, when matplotlib is there, the chart."""
    import base64

    if chart_unavailable:
        text = f"{text}\n{NO_CHART}"
    payload: dict[str, Any] = {"text": text, "period_start": period_start.isoformat()}
    if png is not None:
        payload["png"] = base64.b64encode(png).decode("ascii")
    return payload

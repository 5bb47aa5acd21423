"""``incident-bot drift check`` (an assessment on two files, no Slack) and ``drift run``."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from domain.drift import DriftAssessment, FeatureSpecs
    from domain.drift_stats import Kind


def register(subparsers: Any) -> None:
    drift = subparsers.add_parser("drift", help="model drift: check two windows, run the jobs")
    sub = drift.add_subparsers(dest="drift_command", metavar="ACTION", required=True)
    check = sub.add_parser(
        "check", help="compare a reference and a current file (CSV or Parquet; paths, s3:// or gs://)",
        description="Exit codes: 0 assessed (and the --fail-on gate passed), 1 the --fail-on gate "
                    "failed, 2 the data could not be assessed.")
    check.add_argument("--reference", required=True, help="reference (training) window file")
    check.add_argument("--current", required=True, help="current (production) window file")
    check.add_argument(
        "--features", help="comma-separated feature columns (default: every column but the prediction column)"
    )
    check.add_argument("--prediction-column", help="prediction column for the KS test")
    check.add_argument("--bins", type=int, default=10)
    check.add_argument("--ks-per-feature", action="store_true", help=argparse.SUPPRESS)  # now always
    check.add_argument("--categorical", help="comma-separated features to treat as categorical")
    check.add_argument("--numeric", help="comma-separated features to treat as numeric")
    check.add_argument("--test", action="append", default=[], metavar="FEATURE=TEST",
                       help="the test of a feature: ks | wasserstein (numeric), chisquare | jensenshannon "
                            "(categorical); repeatable")
    check.add_argument("--engine", choices=("auto", "memory", "streaming"), default="auto",
                       help="memory: read both files whole (exact KS on predictions); streaming: two passes "
                            "in --memory-mb; auto: memory when the files are small beside the budget")
    check.add_argument("--memory-mb", type=int, default=int(os.environ.get("DRIFT_MEMORY_MB") or 1024),
                       help="memory budget of the streaming engine (default DRIFT_MEMORY_MB or 1024)")
    check.add_argument("--fail-on", choices=("drift", "critical"),
                       help="exit 1 when drift is detected, or when the composite PSI is above the "
                            "critical threshold (a CI gate)")
    check.add_argument("--report", metavar="HTML", help="write a self-contained HTML report (charts inline)")
    check.add_argument("--chart", metavar="PNG", help="write the drift chart as a PNG")
    check.add_argument("--model", help="model name, for the report only")
    check.add_argument("--format", choices=("table", "json"), default="table")
    check.set_defaults(func=_check)
    run = sub.add_parser("run", help="run the drift jobs of MODELS_FILE once")
    run.add_argument("--model", help="only this model's job")
    run.set_defaults(func=_run)


def _names(value: str | None) -> list[str]:
    return [f.strip() for f in (value or "").split(",") if f.strip()]


def _specs(args: argparse.Namespace) -> FeatureSpecs:
    from domain.drift import DriftInputError, FeatureSpecs

    kinds: dict[str, Kind] = {name: "categorical" for name in _names(args.categorical)}
    kinds.update({name: "numeric" for name in _names(args.numeric)})
    tests = {}
    for item in args.test:
        name, _, test = item.partition("=")
        if not test:
            raise DriftInputError(f"--test {item!r}: expected FEATURE=TEST")
        tests[name.strip()] = test.strip()
    return FeatureSpecs(kinds=kinds, tests=tests)


def _in_memory(args: argparse.Namespace) -> bool:
    if args.engine != "auto":
        return bool(args.engine == "memory")
    from pathlib import Path

    paths = [Path(p) for p in (args.reference, args.current)]
    if any("://" in str(p) or not p.is_file() for p in paths):
        return False
    return sum(p.stat().st_size for p in paths) * 4 < args.memory_mb * 1024 * 1024


def _assess(args: argparse.Namespace, features: list[str], specs: FeatureSpecs,
            drift: Any) -> DriftAssessment:
    from domain.drift import assess, assess_counts
    from storage.drift_files import TerminalProgress, read_columns, stream_counts

    columns = [*features, *([args.prediction_column] if args.prediction_column else [])]
    if _in_memory(args):
        reference, current = read_columns(args.reference, columns), read_columns(args.current, columns)

        def progress(done: int, total: int) -> None:
            """A bar on stderr when it is a terminal (stdout stays clean for --format json)."""
            if sys.stderr.isatty():
                filled = int(30 * done / total)
                print(f"\rassessing [{'#' * filled}{'.' * (30 - filled)}] {done}/{total} features",
                      end="\n" if done == total else "", file=sys.stderr, flush=True)

        return assess(reference, current, features=features, prediction=args.prediction_column,
                      bins=args.bins, psi_warn=drift.psi_warn, ks_p_value=drift.ks_p_value,
                      progress=progress, specs=specs)
    streamed = stream_counts(args.reference, args.current, columns, bins=args.bins, kinds=specs.kinds,
                             memory_mb=args.memory_mb, progress=TerminalProgress())
    return assess_counts(streamed.counts, features=features, prediction=args.prediction_column,
                         psi_warn=drift.psi_warn, ks_p_value=drift.ks_p_value, specs=specs,
                         reference_rows=streamed.reference_rows, current_rows=streamed.current_rows)


def _check(args: argparse.Namespace) -> int:
    from domain.drift import DriftInputError, DriftUnavailable, require_drift_extra
    from domain.policy import default_policy
    from storage.drift_files import columns_of

    try:
        require_drift_extra()
    except DriftUnavailable as exc:
        print(f"drift check: {exc}", file=sys.stderr)
        return 2
    drift = default_policy().drift
    try:
        features = _names(args.features) or [
            c for c in columns_of(args.reference) if c != args.prediction_column]
        result = _assess(args, features, _specs(args), drift)
        _write_outputs(args, result, drift)
    except (DriftInputError, OSError) as exc:
        print(f"drift check: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps({"model": args.model, **result.as_dict()}, indent=2))
    else:
        _print_table(args, result, drift)
    if args.fail_on == "drift" and result.drift_detected:
        return 1
    if args.fail_on == "critical" and result.psi_composite > drift.psi_critical:
        return 1
    return 0


def _write_outputs(args: argparse.Namespace, result: DriftAssessment, drift: Any) -> None:
    from pathlib import Path

    from bot.reports.drift import chart_png, report_html

    if args.chart:
        Path(args.chart).write_bytes(chart_png(result, drift.psi_warn, drift.psi_critical))
    if args.report:
        Path(args.report).write_text(report_html(result, model=args.model, psi_warn=drift.psi_warn,
                                                 psi_critical=drift.psi_critical), encoding="utf-8")


def _print_table(args: argparse.Namespace, result: DriftAssessment, drift: Any) -> None:
    ks = f"{result.ks_p_value:.4g}" if result.ks_p_value is not None else "n/a (no --prediction-column)"
    print(f"model            {args.model or '-'}")
    print(f"rows             reference {result.reference_rows:,}, current {result.current_rows:,} "
          f"({result.source})")
    print(
        f"psi_composite    {result.psi_composite:.4f}  "
        f"(warn > {drift.psi_warn}, critical > {drift.psi_critical})"
    )
    print(f"ks_p_value       {ks}" + (f"  ({result.ks_note})" if result.ks_note else ""))
    print(f"drift_detected   {str(result.drift_detected).lower()}")
    print(f"\n{'feature':30} {'kind':11} {'psi':>8}  {'test':13} {'statistic':>9} {'p':>9}")
    for name, score in sorted(result.feature_scores.items(), key=lambda kv: -kv[1]):
        flag = " critical" if score > drift.psi_critical else " warn" if score > drift.psi_warn else ""
        f = result.features.get(name)
        kind, test = (f.kind, f.test) if f else ("", "")
        stat = f"{f.statistic:9.4g}" if f else " " * 9
        p = f"{f.p_value:9.3g}" if f and f.p_value is not None else " " * 9
        print(f"{name[:30]:30} {kind:11} {score:8.4f}  {test:13} {stat} {p}{flag}")


def _run(args: argparse.Namespace) -> int:
    from bot.app import build
    from bot.settings import Settings
    from domain.drift import DriftUnavailable, require_drift_extra

    try:
        require_drift_extra()
    except DriftUnavailable as exc:
        print(f"drift run: {exc}", file=sys.stderr)
        return 2

    async def run() -> int:
        settings = Settings()
        if not settings.models_file:
            print("drift run needs MODELS_FILE (models.yml with drift sections)", file=sys.stderr)
            return 2
        container = build(settings)
        # one-shot: its own messages are delivered in the foreground before it exits
        await container.start(serving=False)
        try:
            scheduler = container.features.drift_scheduler
            assert scheduler is not None, "the drift feature is installed by build()"
            jobs = [j for j in scheduler.jobs if not args.model or j.model == args.model]
            if not jobs:
                print(
                    f"no drift job{' for ' + args.model if args.model else ''} in {settings.models_file}",
                    file=sys.stderr,
                )
                return 2
            for job in jobs:
                outcome = await scheduler.run_job(job)
                if outcome is None:
                    print(f"{job.model}: failed (see the log)")
                    continue
                assessment, incident = outcome
                print(
                    f"{job.model}: psi_composite {assessment.psi_composite:.4f}, drift_detected "
                    f"{str(assessment.drift_detected).lower()}"
                    + (f", {incident.key} [{incident.severity.label}]" if incident else "")
                )
            await container.dispatcher.drain_once()
            return 0
        finally:
            await container.stop()

    return asyncio.run(run())

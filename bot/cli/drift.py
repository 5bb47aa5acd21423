"""``incident-bot drift check`` (an assessment on two files, no Slack) and ``drift run``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    drift = subparsers.add_parser("drift", help="model drift: check two windows, run the jobs")
    sub = drift.add_subparsers(dest="drift_command", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="compare a reference and a current file (CSV or Parquet)")
    check.add_argument("--reference", required=True, help="reference (training) window file")
    check.add_argument("--current", required=True, help="current (production) window file")
    check.add_argument(
        "--features", help="comma-separated feature columns (default: every column but the prediction column)"
    )
    check.add_argument("--prediction-column", help="prediction column for the KS test")
    check.add_argument("--bins", type=int, default=10)
    check.add_argument("--ks-per-feature", action="store_true", help="also a KS p-value per feature")
    check.add_argument("--model", help="model name, for the report only")
    check.add_argument("--format", choices=("table", "json"), default="table")
    check.set_defaults(func=_check)
    run = sub.add_parser("run", help="run the drift jobs of MODELS_FILE once")
    run.add_argument("--model", help="only this model's job")
    run.set_defaults(func=_run)


def _columns(path: str) -> list[str]:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if path.endswith((".parquet", ".pq")):
        return list(pq.read_schema(path).names)
    return list(pacsv.read_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 20)).column_names)


def _check(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.drift_jobs import read_file
    from domain.drift import DriftInputError, DriftUnavailable, assess, require_drift_extra
    from domain.policy import default_policy

    try:
        require_drift_extra()
    except DriftUnavailable as exc:
        print(f"drift check: {exc}", file=sys.stderr)
        return 2
    for path in (args.reference, args.current):
        if not Path(path).is_file():
            print(f"drift check: {path}: no such file", file=sys.stderr)
            return 2
    try:
        features = (
            [f.strip() for f in args.features.split(",") if f.strip()]
            if args.features
            else [c for c in _columns(args.reference) if c != args.prediction_column]
        )
        columns = [*features, *([args.prediction_column] if args.prediction_column else [])]
        print(f"reading {args.reference} and {args.current} ...", file=sys.stderr)
        reference, current = read_file(args.reference, columns), read_file(args.current, columns)
        rows = len(next(iter(reference.values()))) if reference else 0

        def progress(done: int, total: int) -> None:
            """A bar on stderr for large inputs (stdout stays clean for --format json)."""
            if rows >= 100_000 or sys.stderr.isatty():
                filled = int(30 * done / total)
                end = "\n" if done == total else ""
                print(
                    f"\rassessing [{'#' * filled}{'.' * (30 - filled)}] {done}/{total} features",
                    end=end,
                    file=sys.stderr,
                    flush=True,
                )

        drift = default_policy().drift
        result = assess(
            reference,
            current,
            features=features,
            prediction=args.prediction_column,
            bins=args.bins,
            psi_warn=drift.psi_warn,
            ks_p_value=drift.ks_p_value,
            ks_per_feature=args.ks_per_feature,
            progress=progress,
        )
    except (DriftInputError, OSError) as exc:
        print(f"drift check: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps({"model": args.model, **result.as_dict()}, indent=2))
        return 0
    ks = f"{result.ks_p_value:.4g}" if result.ks_p_value is not None else "n/a (no --prediction-column)"
    print(f"model            {args.model or '-'}")
    print(f"rows             reference {result.reference_rows:,}, current {result.current_rows:,}")
    print(
        f"psi_composite    {result.psi_composite:.4f}  "
        f"(warn > {drift.psi_warn}, critical > {drift.psi_critical})"
    )
    print(f"ks_p_value       {ks}")
    print(f"drift_detected   {str(result.drift_detected).lower()}")
    print("\nfeature                          psi" + ("     ks p" if result.feature_ks else ""))
    for name, score in sorted(result.feature_scores.items(), key=lambda kv: -kv[1]):
        flag = " critical" if score > drift.psi_critical else " warn" if score > drift.psi_warn else ""
        ks_col = f"  {result.feature_ks[name]:8.3g}" if name in result.feature_ks else ""
        print(f"{name[:30]:30} {score:8.4f}{ks_col}{flag}")
    return 0


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
            scheduler = container.features["drift_scheduler"]
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

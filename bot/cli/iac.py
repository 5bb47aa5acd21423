"""``incident-bot iac ingest FILE``: read a drift report (terraform show -json, CloudFormation drift
results, driftctl), store and triage it, and announce new or changed drift in Slack."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any


def register(subparsers: Any) -> None:
    iac = subparsers.add_parser("iac", help="infrastructure drift: ingest a drift report")
    sub = iac.add_subparsers(dest="iac_command", metavar="ACTION", required=True)
    ingest = sub.add_parser("ingest", help="ingest a drift report file (JSON)")
    ingest.add_argument("file")
    ingest.add_argument("--environment", help="the environment the report is about (default: from tags)")
    ingest.set_defaults(func=_ingest)


def _ingest(args: argparse.Namespace) -> int:
    from bot.app import build
    from bot.settings import Settings
    from domain.iac.ingest import decode_report
    from domain.iac.model import IacInputError

    try:
        with open(args.file, "rb") as handle:
            data = decode_report(handle.read())  # JSON, or JSON lines (`terraform plan -json`)
    except (OSError, ValueError, IacInputError) as exc:
        print(f"iac ingest: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2

    async def run() -> int:
        container = build(Settings())
        # one-shot: its own messages are delivered in the foreground before it exits
        await container.start(serving=False)
        try:
            iac = container.features.iac
            assert iac is not None  # bot/features/iac.py is in bot.app.FEATURES
            counts = await iac.ingest_data(data, args.file, args.environment)
            await container.dispatcher.drain_once()
        except IacInputError as exc:
            print(f"iac ingest: {exc}", file=sys.stderr)
            return 2
        finally:
            await container.stop()
        notices = counts.pop("notices", [])
        print(", ".join(f"{k} {v}" for k, v in counts.items()))
        for notice in notices:  # report-level facts: errored plans, one page of many, alerts
            print(f"notice: {notice}")
        return 0

    return asyncio.run(run())

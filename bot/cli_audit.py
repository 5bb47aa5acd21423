"""`incident-bot audit verify | export`: check the audit hash chain, produce the SIEM export (issue 6)."""
from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.governance.audit_chain import ChainBreak, verify
from storage.governance_tables import audit_chain

EXPORT_FIELDS = ("seq", "id", "occurred_at", "actor", "actor_name", "action", "resource_type",
                 "resource_id", "details", "log_type", "prev_hash", "row_hash")


def register(subparsers: Any) -> None:
    audit = subparsers.add_parser("audit", help="the tamper-evident audit trail")
    sub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    ver = sub.add_parser("verify", help="recompute the hash chain; exit 1 naming the first broken row")
    ver.set_defaults(func=_verify_cmd)
    exp = sub.add_parser("export", help="SIEM export of audit events")
    exp.add_argument("--since", type=_parse_since, default=None, help="ISO date or datetime (UTC)")
    exp.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    exp.set_defaults(func=_export_cmd)


def _parse_since(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--since wants an ISO date, e.g. 2026-11-01: {exc}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def rows(engine: AsyncEngine, since: datetime | None = None) -> list[dict[str, Any]]:
    query = sa.select(*(audit_chain.c[name] for name in EXPORT_FIELDS)).order_by(audit_chain.c.seq)
    if since is not None:
        query = query.where(audit_chain.c.occurred_at >= since)
    async with engine.connect() as conn:
        return [dict(r._mapping) for r in (await conn.execute(query)).all()]


async def verify_chain(engine: AsyncEngine) -> tuple[int, ChainBreak | None]:
    """(rows checked, first break or None)."""
    found = await rows(engine)
    return len(found), verify(found)


def write_export(found: list[dict[str, Any]], fmt: str, out: TextIO) -> None:
    def plain(row: dict[str, Any]) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else str(v) if k == "id" else v)
                for k, v in row.items()}

    if fmt == "jsonl":
        for row in found:
            out.write(json.dumps(plain(row), sort_keys=True) + "\n")
        return
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    for row in found:
        flat = plain(row)
        flat["details"] = json.dumps(flat["details"], sort_keys=True)
        writer.writerow(flat)


def _engine() -> AsyncEngine:
    from bot.settings import Settings
    from storage.db import create_engine

    return create_engine(Settings().database_url)


def _verify_cmd(_: argparse.Namespace) -> int:
    async def run() -> tuple[int, ChainBreak | None]:
        engine = _engine()
        try:
            return await verify_chain(engine)
        finally:
            await engine.dispose()

    count, broken = asyncio.run(run())
    if broken is None:
        print(f"audit chain intact: {count} rows verified")
        return 0
    print(f"audit chain BROKEN at row seq={broken.seq} ({broken.kind}): {broken.detail}", file=sys.stderr)
    return 1


def _export_cmd(args: argparse.Namespace) -> int:
    async def run() -> list[dict[str, Any]]:
        engine = _engine()
        try:
            return await rows(engine, args.since)
        finally:
            await engine.dispose()

    write_export(asyncio.run(run()), args.format, sys.stdout)
    return 0

"""`incident-bot audit verify | checkpoint | export`: check the audit hash chain, anchor its head,
produce the SIEM export (issues 6, 14).

Both ``verify`` and ``export`` stream the rows (a server-side cursor, a batch at a time): a
300,000-row trail is never held in memory. ``verify`` names the check that failed: ``edited``,
``deleted``, ``unkeyed``, ``truncated`` or ``tail-trimmed`` (the last two against the
checkpoints in the database, a checkpoint file kept elsewhere, or ``--expect-count`` /
``--expect-head`` copied from the SIEM's last audit log line).
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

from domain.governance.audit_chain import ChainBreak, ChainVerifier, Checkpoint, current_key
from storage.audit_trail import EXPORT_FIELDS, iter_batches, record_checkpoint, stored_checkpoints
from storage.db import Engine as AsyncEngine

__all__ = ["EXPORT_FIELDS", "iter_batches", "rows", "stored_checkpoints", "take_checkpoint",
           "verify_chain", "verify_trail", "write_export"]
_UNSET: Any = object()


def register(subparsers: Any) -> None:
    audit = subparsers.add_parser("audit", help="the tamper-evident audit trail")
    sub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    ver = sub.add_parser("verify", help="recompute the hash chain; exit 1 naming the first broken "
                                        "row and the check that failed")
    ver.add_argument("--expect-count", type=int, default=None,
                     help="the trail had at least this many rows (e.g. from the SIEM)")
    ver.add_argument("--expect-head", action="append", default=[], metavar="HASH",
                     help="a chain_hash from an audit log line: it must still be in the chain")
    ver.add_argument("--checkpoint-file", action="append", default=[], metavar="FILE",
                     help="JSON lines written by `audit checkpoint`, kept outside the database")
    ver.set_defaults(func=_verify_cmd)
    cp = sub.add_parser("checkpoint", help="record the chain's row count and head hash (in the "
                                           "database) and print it as JSON to keep elsewhere")
    cp.set_defaults(func=_checkpoint_cmd)
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


async def iter_rows(engine: AsyncEngine, since: datetime | None = None) -> AsyncIterator[dict[str, Any]]:
    """The trail in seq order, row by row (fetched a batch at a time)."""
    async for batch in iter_batches(engine, since):
        for row in batch:
            yield row


async def rows(engine: AsyncEngine, since: datetime | None = None) -> list[dict[str, Any]]:
    """The whole trail as a list: for tests and small trails; the commands stream."""
    return [row async for row in iter_rows(engine, since)]


def read_checkpoint_file(path: str) -> list[Checkpoint]:
    """Checkpoints printed by `audit checkpoint`, one JSON object a line."""
    found = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                data = json.loads(line)
                found.append(Checkpoint(int(data["row_count"]), str(data["head_hash"]), data.get("mac"),
                                        f"{path}:{number}"))
    return found


async def verify_trail(engine: AsyncEngine, key: bytes | None = _UNSET,
                       extra: Iterable[Checkpoint] = (), expect_heads: Iterable[str] = (),
                       stored: bool = True) -> ChainVerifier:
    """Stream the trail through a :class:`ChainVerifier`; its ``finish()`` is the verdict."""
    checkpoints = (await stored_checkpoints(engine) if stored else []) + list(extra)
    verifier = ChainVerifier(key=current_key() if key is _UNSET else key, checkpoints=checkpoints,
                             expected_heads=list(expect_heads))
    async for batch in iter_batches(engine):
        for row in batch:
            verifier.feed(row)
        if verifier.broken is not None:
            break
    return verifier


async def verify_chain(engine: AsyncEngine, key: bytes | None = _UNSET,
                       extra: Iterable[Checkpoint] = (),
                       expect_heads: Iterable[str] = ()) -> tuple[int, ChainBreak | None]:
    """(rows checked, first break or None)."""
    verifier = await verify_trail(engine, key, extra, expect_heads)
    return verifier.count, verifier.finish()


async def take_checkpoint(engine: AsyncEngine, now: datetime | None = None,
                          key: bytes | None = _UNSET) -> Checkpoint:
    """Record the chain's row count and head (one statement, one snapshot) as a checkpoint row."""
    key = current_key() if key is _UNSET else key
    return await record_checkpoint(engine, now or datetime.now(UTC),
                                   lambda count, head: Checkpoint.sign(count, head, key))


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else str(v) if k == "id" else v)
            for k, v in row.items()}


def write_export(found: Iterable[dict[str, Any]], fmt: str, out: TextIO) -> None:
    if fmt == "jsonl":
        for row in found:
            out.write(json.dumps(_plain(row), sort_keys=True) + "\n")
        return
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    for row in found:
        flat = _plain(row)
        flat["details"] = json.dumps(flat["details"], sort_keys=True)
        writer.writerow(flat)


async def stream_export(engine: AsyncEngine, since: datetime | None, fmt: str, out: TextIO) -> int:
    """Write the export as the rows arrive, a batch at a time; the number of rows written."""
    written = 0
    header = fmt == "csv"
    async for batch in iter_batches(engine, since):
        _write_batch(batch, fmt, out, header)
        written, header = written + len(batch), False
    if header:  # no rows: a CSV still gets its header
        _write_batch([], fmt, out, header)
    return written


def _write_batch(batch: list[dict[str, Any]], fmt: str, out: TextIO, header: bool) -> None:
    if fmt == "jsonl" or header:
        write_export(batch, fmt, out)
        return
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS)  # no second header
    for row in batch:
        flat = _plain(row)
        flat["details"] = json.dumps(flat["details"], sort_keys=True)
        writer.writerow(flat)


def _engine() -> AsyncEngine:
    from bot.settings import Settings
    from domain.governance.audit_chain import configure_key
    from storage.db import create_engine

    settings = Settings()
    configure_key(settings.audit_hmac_key)
    return create_engine(settings.database_url)


def _verify_cmd(args: argparse.Namespace) -> int:
    extra: list[Checkpoint] = []
    for path in args.checkpoint_file:
        extra += read_checkpoint_file(path)
    if args.expect_count is not None:
        extra.append(Checkpoint(args.expect_count, "", None, f"--expect-count {args.expect_count}"))

    async def run() -> ChainVerifier:
        engine = _engine()
        try:
            return await verify_trail(engine, extra=extra, expect_heads=args.expect_head)
        finally:
            await engine.dispose()

    verifier = asyncio.run(run())
    broken = verifier.finish()
    if broken is None:
        legacy = f", {verifier.legacy} of them unkeyed from before AUDIT_HMAC_KEY" if verifier.legacy else ""
        print(f"audit chain intact: {verifier.count} rows verified{legacy}; "
              f"{len(verifier.checkpoints)} checkpoints and {len(args.expect_head)} heads matched"
              + ("" if verifier.key else " (unkeyed: set AUDIT_HMAC_KEY)"))
        return 0
    print(f"audit chain BROKEN at row seq={broken.seq} ({broken.kind}): {broken.detail}", file=sys.stderr)
    return 1


def _checkpoint_cmd(_: argparse.Namespace) -> int:
    async def run() -> Checkpoint:
        engine = _engine()
        try:
            return await take_checkpoint(engine)
        finally:
            await engine.dispose()

    cp = asyncio.run(run())
    print(json.dumps({"row_count": cp.row_count, "head_hash": cp.head_hash, "mac": cp.mac,
                      "taken_at": datetime.now(UTC).isoformat()}, sort_keys=True))
    return 0


def _export_cmd(args: argparse.Namespace) -> int:
    async def run() -> int:
        engine = _engine()
        try:
            return await stream_export(engine, args.since, args.format, sys.stdout)
        finally:
            await engine.dispose()

    asyncio.run(run())
    return 0

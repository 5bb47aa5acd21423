"""The audit trail's end can't be cut off unnoticed (issue 14), on SQLite and PostgreSQL.

``audit verify`` names the check that failed: an edited, a deleted, a truncated and a
tail-trimmed trail; a keyed chain recomputed without the key; a forged checkpoint.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from bot.cli.audit import rows, stored_checkpoints, take_checkpoint, verify_chain
from domain.governance.audit_chain import GENESIS, Checkpoint, configure_key, row_hash
from domain.model import Severity
from domain.services import DeclareIncident
from storage.governance_tables import audit_checkpoints
from tests.conftest import ALICE

TRIGGERS = ("audit_events_append_only", "audit_events_no_truncate")


@pytest.fixture
def keyed() -> Iterator[bytes]:
    configure_key("k3y-outside-the-database")
    yield b"k3y-outside-the-database"
    configure_key(None)


async def _declare(service, n: int) -> None:  # type: ignore[no-untyped-def]
    for i in range(n):
        await service.declare(DeclareIncident(f"Null predictions {i}", Severity.P3, "credit-risk-v3"), ALICE)


async def _as_superuser(engine, *sql: str) -> None:  # type: ignore[no-untyped-def]
    """What someone with write access to the database can do: triggers off, then the SQL."""
    async with engine.begin() as conn:
        pg = conn.dialect.name == "postgresql"
        for trigger in TRIGGERS if pg else ():
            await conn.execute(sa.text(f"ALTER TABLE audit_events DISABLE TRIGGER {trigger}"))
        for statement in sql:
            await conn.execute(sa.text(statement))
        for trigger in TRIGGERS if pg else ():
            await conn.execute(sa.text(f"ALTER TABLE audit_events ENABLE TRIGGER {trigger}"))


async def _cli(database_url: str, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("AUDIT_HMAC_KEY", None)
    if key:
        env["AUDIT_HMAC_KEY"] = key
    return await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bot.cli", "audit", *args],
                                   env=env, capture_output=True, text=True, timeout=120)


async def test_truncation_is_refused_on_postgres_and_detected_everywhere(  # type: ignore[no-untyped-def]
        service, engine, database_url) -> None:
    await _declare(service, 3)
    await take_checkpoint(engine)
    if engine.dialect.name == "postgresql":
        for sql in ("TRUNCATE audit_events", "TRUNCATE audit_checkpoints", "DELETE FROM audit_checkpoints"):
            with pytest.raises(DBAPIError, match="append-only"):
                async with engine.begin() as conn:
                    await conn.execute(sa.text(sql))
        await _as_superuser(engine, "TRUNCATE audit_events")
    else:
        await _as_superuser(engine, "DELETE FROM audit_events")
    count, broken = await verify_chain(engine)
    assert count == 0 and broken is not None and broken.kind == "truncated"
    result = await _cli(database_url, "verify")
    assert result.returncode == 1 and "(truncated)" in result.stderr and "counted 5 rows" in result.stderr


async def test_a_trimmed_tail_is_caught_by_the_checkpoint_and_by_a_logged_head(  # type: ignore[no-untyped-def]
        service, engine, database_url, tmp_path: Path) -> None:
    await _declare(service, 4)
    found = await rows(engine)
    head = found[-1]["row_hash"]  # what the last audit log line carried as chain_hash
    checkpoint = await take_checkpoint(engine)
    assert checkpoint.row_count == len(found) and checkpoint.head_hash == head
    ok = await _cli(database_url, "verify", "--expect-head", head, "--expect-count", str(len(found)))
    assert ok.returncode == 0 and f"{len(found)} rows verified" in ok.stdout, ok.stderr
    keep = found[-3]["seq"]
    await _as_superuser(engine, f"DELETE FROM audit_events WHERE seq > {keep}")  # the newest two rows
    if engine.dialect.name == "sqlite":  # PostgreSQL refuses this even to its owner (trigger)
        await _as_superuser(engine, "DELETE FROM audit_checkpoints")
    # without any anchor the shortened chain is still a valid chain...
    count, broken = await verify_chain(engine, extra=[])
    if engine.dialect.name == "sqlite":
        assert broken is None and count == len(found) - 2
    # ...but not against the head a SIEM saw, a count, or a checkpoint kept elsewhere
    _, broken = await verify_chain(engine, expect_heads=[head])
    assert broken is not None and broken.kind == "tail-trimmed"
    _, broken = await verify_chain(engine, extra=[Checkpoint(len(found), "", source="SIEM")])
    assert broken is not None and broken.kind == "tail-trimmed" and f"seq {keep}" in broken.detail
    outside = tmp_path / "checkpoints.jsonl"
    outside.write_text(json.dumps({"row_count": checkpoint.row_count,
                                   "head_hash": checkpoint.head_hash}) + "\n")
    bad = await _cli(database_url, "verify", "--checkpoint-file", str(outside))
    assert bad.returncode == 1 and "(tail-trimmed)" in bad.stderr
    # rows appended after the cut do not hide it: row N no longer has the checkpoint's hash
    await _declare(service, 3)
    _, broken = await verify_chain(engine, extra=[checkpoint])
    assert broken is not None and broken.kind == "tail-trimmed" and "rewritten" in broken.detail


async def test_edited_and_deleted_rows_are_named(service, engine, database_url) -> None:  # type: ignore[no-untyped-def]
    await _declare(service, 4)
    seqs = [r["seq"] for r in await rows(engine)]
    await _as_superuser(engine, f"UPDATE audit_events SET details = '{{}}' WHERE seq = {seqs[2]}")
    edited = await _cli(database_url, "verify")
    assert edited.returncode == 1 and f"seq={seqs[2]} (edited)" in edited.stderr
    await _as_superuser(engine, f"DELETE FROM audit_events WHERE seq = {seqs[2]}")
    deleted = await _cli(database_url, "verify")
    assert deleted.returncode == 1 and f"seq={seqs[3]} (deleted)" in deleted.stderr


async def test_a_keyed_chain_cannot_be_recomputed_without_the_key(  # type: ignore[no-untyped-def]
        service, engine, database_url, keyed: bytes) -> None:
    await _declare(service, 3)  # registered models are plain rows from before the key: a prefix
    count, broken = await verify_chain(engine, key=keyed)
    assert broken is None and count == 5
    ok = await _cli(database_url, "verify", key=keyed.decode())
    assert ok.returncode == 0 and "2 of them unkeyed" in ok.stdout, ok.stdout + ok.stderr
    _, broken = await verify_chain(engine, key=b"another key")
    assert broken is not None and broken.kind == "edited"
    # someone with database access but without the key rewrites the last row and rehashes it
    last = (await rows(engine))[-1]
    forged = {**last, "actor_name": "someone else"}
    digest = row_hash(forged, last["prev_hash"], None)
    await _as_superuser(engine, f"UPDATE audit_events SET actor_name = 'someone else', row_hash = '{digest}' "
                                f"WHERE seq = {last['seq']}")
    _, broken = await verify_chain(engine, key=keyed)
    assert broken is not None and broken.kind == "unkeyed" and broken.seq == last["seq"]


async def test_a_forged_checkpoint_is_refused(service, engine, keyed: bytes) -> None:  # type: ignore[no-untyped-def]
    await _declare(service, 2)
    cp = await take_checkpoint(engine)
    assert cp.mac and [c.row_count for c in await stored_checkpoints(engine)] == [cp.row_count]
    async with engine.begin() as conn:  # inserting is allowed; a checkpoint without the key is not
        await conn.execute(audit_checkpoints.insert().values(
            taken_at=cp_time(), row_count=1, head_hash=GENESIS, mac="0" * 64))
    _, broken = await verify_chain(engine, key=keyed)
    assert broken is not None and broken.kind == "forged-checkpoint"


def cp_time():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime(2026, 11, 30, tzinfo=UTC)


async def test_export_streams_every_row(service, engine, database_url) -> None:  # type: ignore[no-untyped-def]
    await _declare(service, 3)
    result = await _cli(database_url, "export", "--format", "csv")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("seq,id,occurred_at") and len(lines) == 1 + len(await rows(engine))

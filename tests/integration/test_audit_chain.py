"""The audit hash chain on a real database: intact under concurrent writers, tampering detected."""
from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from bot.cli.audit import rows, verify_chain, write_export
from domain.model import Severity
from domain.services import DeclareIncident
from tests.conftest import ALICE


async def _declare_many(service, n: int) -> None:  # type: ignore[no-untyped-def]
    await asyncio.gather(*(service.declare(DeclareIncident(
        title=f"Null predictions {i}", severity=Severity.P2, model_name="credit-risk-v3"), ALICE)
        for i in range(n)))


async def test_chain_is_intact_under_concurrent_writers(service, engine) -> None:  # type: ignore[no-untyped-def]
    await _declare_many(service, 8)
    count, broken = await verify_chain(engine)
    assert broken is None and count >= 8


async def test_a_batch_of_events_is_chained_in_the_order_given(service, make_uow, engine) -> None:  # type: ignore[no-untyped-def]
    """The SLO tick audits dozens of actions in one add_many: one chain, in order, no gaps."""
    from datetime import UTC, datetime

    from domain.model import AuditEvent

    await _declare_many(service, 2)
    before, _ = await verify_chain(engine)
    batch = [AuditEvent(occurred_at=datetime(2026, 11, 26, 12, 0, tzinfo=UTC), actor="incident-bot-scheduler",
                        actor_name="SLO clock", action="incident.slo_breached", resource_type="incident",
                        resource_id=f"r{i}", details={"i": i}) for i in range(40)]
    async with make_uow() as uow:
        await uow.audit.add_many(batch)
        await uow.commit()
    count, broken = await verify_chain(engine)
    assert broken is None and count == before + 40
    stored = [r for r in await rows(engine) if r["action"] == "incident.slo_breached"]
    assert [r["resource_id"] for r in stored] == [f"r{i}" for i in range(40)]  # seq order = given order


async def _tamper(engine, sql: str) -> None:  # type: ignore[no-untyped-def]
    async with engine.begin() as conn:
        pg = conn.dialect.name == "postgresql"
        if pg:  # superuser bypass of the append-only trigger, as an attacker with DB access would
            await conn.execute(sa.text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        await conn.execute(sa.text(sql))
        if pg:
            await conn.execute(sa.text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))


async def test_verify_names_an_edited_then_a_deleted_row(service, engine) -> None:  # type: ignore[no-untyped-def]
    await _declare_many(service, 4)
    seqs = [r["seq"] for r in await rows(engine)]
    victim = seqs[2]
    await _tamper(engine, f"UPDATE audit_events SET actor_name = 'someone else' WHERE seq = {victim}")
    _, broken = await verify_chain(engine)
    assert (broken.seq, broken.kind) == (victim, "edited")
    await _tamper(engine, f"DELETE FROM audit_events WHERE seq = {victim}")
    _, broken = await verify_chain(engine)
    assert (broken.seq, broken.kind) == (seqs[3], "deleted")


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # the trigger is PostgreSQL's
async def test_postgres_trigger_rejects_update_and_delete(service, engine) -> None:  # type: ignore[no-untyped-def]
    assert engine.dialect.name == "postgresql"
    await _declare_many(service, 1)
    for sql in ("UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(sa.text(sql))
    assert (await verify_chain(engine))[1] is None


async def _cli_verify(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bot.cli", "audit", "verify"],
                                   env=env, capture_output=True, text=True, timeout=60)


async def test_export_jsonl_and_csv_and_cli_verify(service, engine, database_url) -> None:  # type: ignore[no-untyped-def]
    await _declare_many(service, 2)
    found = await rows(engine)
    out = io.StringIO()
    write_export(found, "jsonl", out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [x["seq"] for x in lines] == [r["seq"] for r in found] and lines[0]["row_hash"]
    out = io.StringIO()
    write_export(found, "csv", out)
    assert out.getvalue().splitlines()[0].startswith("seq,id,occurred_at")
    env = {**os.environ, "DATABASE_URL": database_url}
    ok = await _cli_verify(env)
    assert ok.returncode == 0, ok.stderr
    await _tamper(engine, f"DELETE FROM audit_events WHERE seq = {found[0]['seq']}")
    bad = await _cli_verify(env)
    assert bad.returncode == 1 and f"seq={found[1]['seq']} (deleted)" in bad.stderr

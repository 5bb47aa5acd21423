"""Housekeeping keeps pending and failed Slack messages and prunes only what retention lets go."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.housekeeping import prune
from storage.tables import audit_events, outbox, processed_events

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


async def test_only_delivered_messages_and_seen_events_past_retention_go(engine: AsyncEngine) -> None:
    old, recent = NOW - timedelta(days=120), NOW - timedelta(days=10)

    def row(status: str, at: datetime, text: str) -> dict[str, object]:
        return {"kind": "post", "payload": {"text": text}, "status": status, "attempts": 1,
                "created_at": at, "next_attempt_at": at,
                "delivered_at": at if status == "done" else None}

    async with engine.begin() as conn:
        await conn.execute(outbox.insert(), [
            row("done", old, "old delivered"), row("done", recent, "recent delivered"),
            row("pending", old, "old still pending"), row("failed", old, "old failed")])
        await conn.execute(processed_events.insert(), [
            {"source": "slack", "event_id": "Ev-old", "processed_at": old},
            {"source": "slack", "event_id": "Ev-new", "processed_at": recent}])
        audit_before = (await conn.execute(sa.select(sa.func.count()).select_from(audit_events))).scalar()

    assert await prune(engine, NOW - timedelta(days=90)) == {"outbox": 1, "processed_events": 1}

    async with engine.connect() as conn:
        texts = sorted(r.payload["text"] for r in await conn.execute(sa.select(outbox.c.payload)))
        events = [r.event_id for r in await conn.execute(sa.select(processed_events.c.event_id))]
        audit_after = (await conn.execute(sa.select(sa.func.count()).select_from(audit_events))).scalar()
    assert texts == ["old failed", "old still pending", "recent delivered"]
    assert events == ["Ev-new"]
    assert audit_after == audit_before
    assert await prune(engine, NOW - timedelta(days=90)) == {"outbox": 0, "processed_events": 0}


async def test_retention_below_the_policy_minimum_is_refused() -> None:
    import pytest
    from pydantic import ValidationError

    from bot.settings import Settings

    with pytest.raises(ValidationError, match="greater than or equal to 90"):
        Settings(_env_file=None, log_retention_days=30)


async def test_the_bot_runs_housekeeping_hourly_with_the_configured_retention(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.local.stack import LocalStack
    from tests.databases import sqlite_url
    from tests.fakes import FakeClock

    clock = FakeClock()
    async with LocalStack(sqlite_url(tmp_path), clock=clock,
                          settings_overrides={"log_retention_days": 100}) as stack:
        await stack.driver.slash_command("declare P3 credit-risk-v3 Slow scores")
        await stack.settle()
        job = stack.container.scheduler.get_job("housekeeping")
        assert job is not None and job.trigger.interval == timedelta(hours=1)
        housekeeping = stack.container.features.housekeeping
        first = await housekeeping()
        assert first["outbox"] == 0 and first["slack_inbox"] == 0  # all from just now
        for _ in range(50):  # the request's inbox row is settled shortly after its work
            if await stack.container.intake.store.pending_count() == 0:
                break
            await asyncio.sleep(0.1)
        clock.advance(days=101)
        pruned = await housekeeping()
        assert pruned["outbox"] >= 3  # announcement, channel, confirmation...
        assert pruned["slack_inbox"] == 1  # the declaration's request, settled a day ago
        assert pruned["applied_requests"] == 1  # and the record that its work committed
        assert await stack.container.outbox_store.pending_count() == 0

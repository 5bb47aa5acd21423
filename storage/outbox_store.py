"""Claiming and settling outbox rows.

Only the oldest pending row of each incident is claimable, so an incident's messages arrive in
order (the thread reply never races the announcement it replies to). On PostgreSQL rows are
claimed with ``FOR UPDATE SKIP LOCKED`` so replicas share the work without double delivery.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.tables import incidents, outbox

CLAIM_SECONDS = 120


@dataclass
class OutboxRow:
    id: int
    kind: str
    incident_id: uuid.UUID | None
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


class OutboxStore:
    def __init__(self, engine: AsyncEngine, write_lock: Any = None) -> None:
        self.engine = engine
        self.write_lock = write_lock

    async def claim(self, now: datetime, limit: int = 100) -> list[OutboxRow]:
        heads = (
            sa.select(sa.func.min(outbox.c.id))
            .where(outbox.c.status == "pending")
            .group_by(outbox.c.incident_id)
            .scalar_subquery()
        )
        query = (
            sa.select(outbox)
            .where(
                outbox.c.status == "pending",
                outbox.c.id.in_(heads),
                outbox.c.next_attempt_at <= now,
                sa.or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now),
            )
            .order_by(outbox.c.id)
            .limit(limit)
        )
        async with self._locked(), self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True, of=outbox)
            rows = (await conn.execute(query)).all()
            if not rows:
                return []
            ids = [r.id for r in rows]
            await conn.execute(outbox.update().where(outbox.c.id.in_(ids)).values(
                claimed_until=now + timedelta(seconds=CLAIM_SECONDS)))
        return [OutboxRow(r.id, r.kind, r.incident_id, r.payload or {}, r.attempts, r.created_at)
                for r in rows]

    async def done(self, row_id: int, now: datetime) -> None:
        await self._update(row_id, status="done", delivered_at=now, claimed_until=None)

    async def retry(self, row_id: int, attempts: int, at: datetime, error: str) -> None:
        await self._update(row_id, attempts=attempts, next_attempt_at=at, claimed_until=None,
                           last_error=error[:2000])

    async def fail(self, row_id: int, attempts: int, error: str) -> None:
        await self._update(row_id, status="failed", attempts=attempts, claimed_until=None,
                           last_error=error[:2000])

    async def rows(self, status: str, limit: int = 100) -> list[dict[str, Any]]:
        """Rows in ``status`` (oldest first) with their incident's number, for operators."""
        query = (sa.select(outbox.c.id, outbox.c.kind, incidents.c.number, outbox.c.attempts,
                           outbox.c.created_at, outbox.c.last_error)
                 .select_from(outbox.outerjoin(incidents, incidents.c.id == outbox.c.incident_id))
                 .where(outbox.c.status == status).order_by(outbox.c.id).limit(limit))
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]

    async def requeue(self, now: datetime, ids: list[int] | None = None) -> int:
        """Failed rows (``ids``, or all of them) go back to pending, to be delivered again in
        their original order; e.g. once the bot has been invited to the channel it could not
        post in. Returns how many."""
        query = outbox.update().where(outbox.c.status == "failed")
        if ids is not None:
            query = query.where(outbox.c.id.in_(ids))
        async with self._locked(), self.engine.begin() as conn:
            result = await conn.execute(query.values(status="pending", attempts=0,
                                                     next_attempt_at=now, claimed_until=None))
        return result.rowcount

    async def stats(self, now: datetime) -> tuple[int, float]:
        """Pending depth and the age in seconds of the oldest pending row (metrics)."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                sa.select(sa.func.count(), sa.func.min(outbox.c.created_at))
                .where(outbox.c.status == "pending"))).one()
        count, oldest = row
        if oldest is not None and oldest.tzinfo is None:
            from datetime import UTC
            oldest = oldest.replace(tzinfo=UTC)
        return int(count), (now - oldest).total_seconds() if oldest else 0.0

    async def pending_count(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(sa.select(sa.func.count()).where(
                outbox.c.status == "pending"))).scalar() or 0)

    async def _update(self, row_id: int, **values: Any) -> None:
        async with self._locked(), self.engine.begin() as conn:
            await conn.execute(outbox.update().where(outbox.c.id == row_id).values(**values))

    def _locked(self) -> Any:
        import contextlib
        return self.write_lock if self.write_lock is not None else contextlib.nullcontext()

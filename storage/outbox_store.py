"""Claiming and settling outbox rows.

Only the oldest pending row of each (incident, lane) is claimable, so an incident's messages
arrive in order per destination (the thread reply never races the announcement it replies to)
while a PagerDuty outage never holds up the incident's Slack messages. On PostgreSQL rows are
claimed with ``FOR UPDATE SKIP LOCKED`` so replicas share the work without double delivery.

A claim is a lease (``CLAIM_SECONDS``) that the claimer extends while the delivery runs and
releases when it stops; a claimer that died loses its rows when the lease runs out, and a
restarted one takes its own rows back at once (``release_owner``). Every claim is counted: a
row claimed more than once may have reached Slack already, so its delivery looks first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.tables import incidents, outbox

CLAIM_SECONDS = 10  # a lease, extended every few seconds while a delivery is in flight
_W3C = TraceContextTextMapPropagator()


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the span current where a row is queued (the request or tick
    that caused it), stored with the row so its delivery links to it; None with tracing off."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None  # the no-op tracer's spans: nothing to link to, nothing to format
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get("traceparent")


# Built once (the claim and the settling of every delivered row): building a statement and
# its cache key cost more of the event loop than running it (benchmarks/ack_cost.py)
_HEADS = (
    sa.select(sa.func.min(outbox.c.id))
    .where(outbox.c.status == "pending")
    .group_by(outbox.c.incident_id, outbox.c.lane)
    .scalar_subquery()
)
_CLAIMABLE = (
    sa.select(outbox)
    .where(
        outbox.c.status == "pending",
        outbox.c.id.in_(_HEADS),
        outbox.c.next_attempt_at <= sa.bindparam("b_now"),
        sa.or_(outbox.c.claimed_until.is_(None),
               outbox.c.claimed_until < sa.bindparam("b_lease_now")),
    )
    .order_by(outbox.c.id)
    .limit(sa.bindparam("b_limit"))
)
_CLAIMABLE_LOCKED = _CLAIMABLE.with_for_update(skip_locked=True, of=outbox)  # PostgreSQL
_CLAIM = outbox.update().where(outbox.c.id.in_(sa.bindparam("b_ids", expanding=True))).values(
    claimed_until=sa.bindparam("b_until"), claimed_by=sa.bindparam("b_owner"),
    claims=outbox.c.claims + 1)
_SET_BY_ID = outbox.update().where(outbox.c.id == sa.bindparam("b_id"))  # SET: the values given


@dataclass
class OutboxRow:
    id: int
    kind: str
    incident_id: uuid.UUID | None
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    claims: int = 1
    lane: str = "slack"
    traceparent: str | None = None  # of the span that queued it (see current_traceparent)

    @property
    def maybe_delivered(self) -> bool:
        """An earlier delivery of this row may have reached its destination: it failed after
        the call (attempts) or was cut off by a crash, a shutdown or an expired claim."""
        return self.attempts > 0 or self.claims > 1


class OutboxStore:
    def __init__(self, engine: AsyncEngine, write_lock: Any = None) -> None:
        self.engine = engine
        self.write_lock = write_lock

    async def claim(self, now: datetime, limit: int = 100, owner: str = "",
                    lease_now: datetime | None = None) -> list[OutboxRow]:
        """Claim up to ``limit`` due rows, each the head of its (incident, lane).

        ``now`` decides what is due (the bot's clock); ``lease_now`` times the claim itself
        (wall time, as leases are about how long a delivery may run; default ``now``)."""
        if limit <= 0:
            return []
        lease_now = lease_now or now
        async with self._locked(), self.engine.begin() as conn:
            query = _CLAIMABLE_LOCKED if conn.dialect.name == "postgresql" else _CLAIMABLE
            rows = (await conn.execute(query, {"b_now": now, "b_lease_now": lease_now,
                                               "b_limit": limit})).all()
            if not rows:
                return []
            await conn.execute(_CLAIM, {
                "b_ids": [r.id for r in rows], "b_owner": owner,
                "b_until": lease_now + timedelta(seconds=CLAIM_SECONDS)})
        return [OutboxRow(r.id, r.kind, r.incident_id, r.payload or {}, r.attempts, r.created_at,
                          claims=r.claims + 1, lane=r.lane, traceparent=r.traceparent)
                for r in rows]

    async def extend(self, ids: list[int], until: datetime, owner: str) -> None:
        """Keep the claims of deliveries still in flight."""
        if not ids:
            return
        async with self._locked(), self.engine.begin() as conn:
            await conn.execute(outbox.update().where(
                outbox.c.id.in_(ids), outbox.c.status == "pending",
                outbox.c.claimed_by == owner).values(claimed_until=until))

    async def release(self, ids: list[int], owner: str) -> None:
        """Give back claims of deliveries that were cut off, so they go out again at once (and,
        having been claimed before, look first whether they reached Slack)."""
        if not ids:
            return
        async with self._locked(), self.engine.begin() as conn:
            await conn.execute(outbox.update().where(
                outbox.c.id.in_(ids), outbox.c.status == "pending",
                outbox.c.claimed_by == owner).values(claimed_until=None))

    async def release_owner(self, owner: str) -> int:
        """At start: take back what this instance held when it died (its claims would otherwise
        stall those incidents until they expire)."""
        async with self._locked(), self.engine.begin() as conn:
            result = await conn.execute(outbox.update().where(
                outbox.c.status == "pending", outbox.c.claimed_by == owner,
                outbox.c.claimed_until.is_not(None)).values(claimed_until=None))
        return int(result.rowcount or 0)

    async def waits_behind(self, row: OutboxRow, lane: str) -> bool:
        """Whether ``lane`` of the row's incident still has rows queued before ``row``: e.g. a
        PagerDuty note that needs the Slack channel whose creation is still on its way."""
        async with self.engine.connect() as conn:
            found = (await conn.execute(sa.select(outbox.c.id).where(
                outbox.c.status == "pending", outbox.c.incident_id == row.incident_id,
                outbox.c.lane == lane, outbox.c.id < row.id).limit(1))).first()
        return found is not None

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
            await conn.execute(_SET_BY_ID, {**values, "b_id": row_id})

    def _locked(self) -> Any:
        import contextlib
        return self.write_lock if self.write_lock is not None else contextlib.nullcontext()

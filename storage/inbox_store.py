"""The Slack request inbox: what the bot acknowledged, kept until the work behind it is done.

A request whose listener handed work off after its ack is written here (in batches, one
transaction per burst) before the ack leaves. The use case that carries the work out records
the request's key in ``applied_requests`` in its own transaction (``SqlUnitOfWork.commit``
reads ``CURRENT_REQUEST``), so after a crash exactly the requests whose work never committed
are replayed. Rows are leased by the instance that took them, like outbox claims: extended
while the work runs, given back on shutdown, taken over once the lease runs out (a dead
replica) or at once by the same instance restarted. The unique ``request_key`` (the request's
Slack signature) recognises the same signed request sent again within its five minutes: it is
answered, not applied twice.

On SQLite the inbox is a file of its own (``inbox_url``): SQLite has one writer per file, and
an ack waiting for its inbox row behind a use case's transaction (itself slowed by the burst
being acked) cost the acks 2-3x a bare Bolt app. Atomicity with the use case does not need the
same file: the key goes into the main database with the use case, the inbox only says what to
replay. On PostgreSQL both tables are in the one database.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.repositories import _insert_skipping
from storage.tables import applied_requests, slack_inbox

LEASE_SECONDS = 10.0
MAX_REPLAYS = 3  # a request whose work crashed the bot this often is set aside, not replayed


@dataclass(eq=False)
class InboxClaim:
    """The inbox row of the Slack request being worked on (``CURRENT_REQUEST``)."""

    inbox_id: int | None = None
    recorded: bool = False  # a committed unit of work recorded its key as applied
    key: str = ""


CURRENT_REQUEST: contextvars.ContextVar[InboxClaim | None] = contextvars.ContextVar(
    "current_slack_request", default=None)


@dataclass
class InboxRow:
    id: int
    request_key: str
    body: str
    content_type: str
    replays: int


@functools.cache
def _insert_new(dialect: str, table: sa.Table, returning: bool = False) -> Any:
    """The dialect's INSERT of ``table`` skipping a ``request_key`` already there (optionally
    returning the new rows' id and key), built once: building it and its cache key on every
    ack and every commit cost more than running it (benchmarks/ack_cost.py)."""
    insert = _insert_skipping(dialect, table, "request_key")
    return insert.returning(table.c.id, table.c.request_key) if returning else insert


async def record_applied_in(conn: AsyncConnection, claim: InboxClaim | None, now: datetime) -> None:
    """Within a use case's transaction: its request counts as applied once this commits."""
    if claim is None or claim.inbox_id is None or claim.recorded or not claim.key:
        return
    await conn.execute(_insert_new(conn.dialect.name, applied_requests),
                       {"request_key": claim.key, "applied_at": now})


def inbox_url(database_url: str) -> str | None:
    """Where a SQLite database keeps its inbox: a file beside it (``x.db`` -> ``x.inbox.db``);
    None for PostgreSQL (the same database) or an in-memory SQLite."""
    if not database_url.startswith("sqlite"):
        return None
    head, _, path = database_url.partition(":///")
    if not path or path == ":memory:":
        return None
    stem, dot, suffix = path.rpartition(".")
    return f"{head}:///{stem}.inbox.{suffix}" if dot and "/" not in suffix else (
        f"{head}:///{path}.inbox")


class AppliedRequests:
    """The keys of acked requests whose work committed (the main database)."""

    def __init__(self, engine: AsyncEngine, write_lock: Any = None) -> None:
        self.engine = engine
        self.write_lock = write_lock

    async def applied(self, keys: list[str]) -> set[str]:
        if not keys:
            return set()
        async with self.engine.connect() as conn:
            found = await conn.execute(sa.select(applied_requests.c.request_key).where(
                applied_requests.c.request_key.in_(keys)))
            return {row[0] for row in found}

    async def prune(self, before: datetime) -> int:
        lock = self.write_lock if self.write_lock is not None else contextlib.nullcontext()
        async with lock, self.engine.begin() as conn:
            result = await conn.execute(applied_requests.delete().where(
                applied_requests.c.applied_at < before))
        return int(result.rowcount or 0)


class InboxStore:
    def __init__(self, engine: AsyncEngine, write_lock: Any = None,
                 applied: AppliedRequests | None = None) -> None:
        self.engine = engine
        self.write_lock = write_lock
        self.applied = applied or AppliedRequests(engine, write_lock)

    async def ensure_schema(self) -> None:
        """A separate inbox file has no migrations: the table is created when missing."""
        async with self.engine.begin() as conn:
            await conn.run_sync(lambda sync: slack_inbox.create(sync, checkfirst=True))

    def _locked(self) -> Any:
        return self.write_lock if self.write_lock is not None else contextlib.nullcontext()

    async def admit(self, items: list[tuple[str, str, str]], owner: str,
                    now: datetime, lease_now: datetime | None = None) -> list[int | None]:
        """Write ``(request_key, body, content_type)`` rows in one transaction, leased to
        ``owner``; returns each row's id, or None for a key already admitted (a replay)."""
        if not items:
            return []
        lease_until = (lease_now or now) + timedelta(seconds=LEASE_SECONDS)
        rows = [{"request_key": key, "body": body, "content_type": content_type,
                 "received_at": now, "status": "pending", "owner": owner,
                 "lease_until": lease_until}
                for key, body, content_type in items]
        # urgent: an ack is waiting for this, so it goes before the use cases queued to write
        urgent = self.write_lock.urgent() if self.write_lock is not None else (
            contextlib.nullcontext())
        async with urgent, self.engine.begin() as conn:
            # the rows as parameters (SQLAlchemy's "insertmanyvalues" batches them into one
            # multi-row INSERT), not as ``.values(rows)``: that statement differs with every
            # batch size, so SQLAlchemy compiled it afresh each time, 12-14 ms of the event
            # loop's time per burst of 50 on every ack's path (benchmarks/ack_cost.py)
            result = await conn.execute(
                _insert_new(conn.dialect.name, slack_inbox, returning=True), rows)
            ids = {key: row_id for row_id, key in result.all()}
        seen: set[str] = set()
        answer: list[int | None] = []
        for key, _body, _type in items:
            answer.append(ids.get(key) if key not in seen else None)  # twice in one batch
            seen.add(key)
        return answer

    async def finish(self, ids: list[int], now: datetime) -> None:
        """The work behind these requests ended (with or without writing anything)."""
        await self._update_pending(ids, None, status="done", finished_at=now, body="",
                                   lease_until=None)

    async def extend(self, ids: list[int], owner: str, until: datetime) -> None:
        await self._update_pending(ids, owner, lease_until=until)

    async def release(self, ids: list[int], owner: str) -> None:
        """Shutdown: work not finished goes back, to be replayed by the next start."""
        await self._update_pending(ids, owner, lease_until=None)

    async def _update_pending(self, ids: list[int], owner: str | None, **values: Any) -> None:
        """Update the rows ``ids`` still pending (and held by ``owner``, when given)."""
        if not ids:
            return
        where = [slack_inbox.c.id.in_(ids), slack_inbox.c.status == "pending"]
        if owner is not None:
            where.append(slack_inbox.c.owner == owner)
        async with self._locked(), self.engine.begin() as conn:
            await conn.execute(slack_inbox.update().where(*where).values(**values))

    async def take_over(self, owner: str, now: datetime, *, own_too: bool,
                        limit: int = 200) -> list[InboxRow]:
        """Pending rows nobody holds (released, or their lease ran out; with ``own_too`` also
        this instance's own from before a crash), now leased to ``owner``, oldest first."""
        free = sa.or_(slack_inbox.c.lease_until.is_(None), slack_inbox.c.lease_until < now)
        if own_too:
            free = sa.or_(free, slack_inbox.c.owner == owner)
        query = (sa.select(slack_inbox).where(slack_inbox.c.status == "pending", free)
                 .order_by(slack_inbox.c.id).limit(limit))
        async with self._locked(), self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = (await conn.execute(query)).all()
            if not rows:
                return []
            poisoned = [r.id for r in rows if r.replays >= MAX_REPLAYS]
            if poisoned:
                await conn.execute(slack_inbox.update().where(slack_inbox.c.id.in_(poisoned))
                                   .values(status="failed", finished_at=now, lease_until=None))
            taken = [r for r in rows if r.replays < MAX_REPLAYS]
            if taken:
                await conn.execute(slack_inbox.update().where(
                    slack_inbox.c.id.in_([r.id for r in taken])).values(
                    owner=owner, lease_until=now + timedelta(seconds=LEASE_SECONDS),
                    replays=slack_inbox.c.replays + 1))
        return [InboxRow(r.id, r.request_key, r.body, r.content_type, r.replays + 1)
                for r in taken]

    async def pending_count(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(sa.select(sa.func.count()).where(
                slack_inbox.c.status == "pending"))).scalar() or 0)

    async def prune(self, before: datetime) -> int:
        """Settled rows older than ``before`` (a replay window is five minutes)."""
        async with self._locked(), self.engine.begin() as conn:
            result = await conn.execute(slack_inbox.delete().where(
                slack_inbox.c.status != "pending", slack_inbox.c.received_at < before))
        return int(result.rowcount or 0)

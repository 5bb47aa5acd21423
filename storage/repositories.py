"""Repositories implementing the domain ports over one SQLAlchemy async connection."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.governance.audit_chain import GENESIS as AUDIT_GENESIS
from domain.governance.audit_chain import row_hash as audit_row_hash
from domain.model import AuditEvent, Incident, MLModel, Status, TimelineEvent
from domain.ports import ConcurrentUpdate, OutboxMessage, SlackLink
from storage import tables as t
from storage.governance_tables import audit_chain as _audit_chain
from storage.locks import Lock, xact_lock
from storage.note_changes_tables import not_deleted
from storage.outbox_store import current_traceparent


def _insert(conn: AsyncConnection, table: sa.Table) -> Any:
    """A dialect insert that supports ON CONFLICT DO NOTHING."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# The statements run on every request, built once: building one and computing its cache key
# (a walk over every column, to find the compiled form) cost more of the event loop than
# running it did; a statement object kept remembers its key (benchmarks/ack_cost.py).
_INCIDENT_BY_ID = sa.select(t.incidents).where(t.incidents.c.id == sa.bindparam("b_id"))
_INCIDENT_BY_NUMBER = sa.select(t.incidents).where(
    t.incidents.c.number == sa.bindparam("b_number"))
_INCIDENT_INSERT = t.incidents.insert()
# the SET clause is every column the parameters name (all of them)
_INCIDENT_SAVE = t.incidents.update().where(t.incidents.c.id == sa.bindparam("b_id"),
                                            t.incidents.c.version == sa.bindparam("b_version"))
_MAX_NUMBER = sa.select(sa.func.max(t.incidents.c.number))
_MODEL_BY_ID = sa.select(t.models).where(t.models.c.id == sa.bindparam("b_id"))
_LINK_BY_INCIDENT = sa.select(t.slack_links).where(
    t.slack_links.c.incident_id == sa.bindparam("b_id"))
_AUDIT_INSERT = t.audit_events.insert().returning(t.audit_events.c.seq,
                                                  sort_by_parameter_order=True)
_AUDIT_CHAIN_INSERT = _audit_chain.insert()
_AUDIT_CHAIN_UPDATE = _audit_chain.update().where(
    _audit_chain.c.seq == sa.bindparam("b_seq")).values(
    prev_hash=sa.bindparam("b_prev"), row_hash=sa.bindparam("b_hash"))
_LAST_HASH = (sa.select(_audit_chain.c.row_hash).where(_audit_chain.c.row_hash.is_not(None))
              .order_by(_audit_chain.c.seq.desc()).limit(1))
_LAST_HASH_BEFORE = (sa.select(_audit_chain.c.row_hash)
                     .where(_audit_chain.c.row_hash.is_not(None),
                            _audit_chain.c.seq < sa.bindparam("b_seq"))
                     .order_by(_audit_chain.c.seq.desc()).limit(1))


@functools.cache
def _insert_skipping(dialect: str, table: sa.Table, *keys: str) -> Any:
    """The dialect's INSERT of ``table`` that skips a row conflicting on ``keys`` (none: a
    plain INSERT), built once; run with the rows as parameters."""
    insert = (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table))
    return insert.on_conflict_do_nothing(index_elements=list(keys)) if keys else insert


@functools.cache
def _upsert(dialect: str, table: sa.Table, key: str, *columns: str) -> Any:
    """The dialect's INSERT of ``table`` that, on a conflict on ``key``, sets ``columns`` to
    the values given (and leaves the others); built once, run with the row as parameters."""
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return insert.on_conflict_do_update(index_elements=[key], set_={
        name: insert.excluded[name] for name in columns})


_FIELD_NAMES: dict[type, tuple[tuple[str, ...], frozenset[str]]] = {}


def _names(cls: type) -> tuple[tuple[str, ...], frozenset[str]]:
    """A dataclass's field names, in order and as a set (``fields()`` builds them anew at
    every call, and rows are read and written by the thousand)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        ordered = tuple(f.name for f in fields(cls))
        names = _FIELD_NAMES[cls] = (ordered, frozenset(ordered))
    return names


def _values(obj: Any) -> dict[str, Any]:
    """A dataclass instance's fields by name, for its row."""
    return {name: getattr(obj, name) for name in _names(type(obj))[0]}


def _row_to(cls: type, row: sa.Row) -> Any:
    names = _names(cls)[1]
    return cls(**{k: v for k, v in row._mapping.items() if k in names})


class SqlIncidentRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, incident: Incident) -> None:
        await self.conn.execute(_INCIDENT_INSERT, _incident_values(incident))

    async def get(self, incident_id: uuid.UUID) -> Incident | None:
        row = (await self.conn.execute(_INCIDENT_BY_ID, {"b_id": incident_id})).first()
        return _row_to(Incident, row) if row else None

    async def get_by_number(self, number: int) -> Incident | None:
        row = (await self.conn.execute(_INCIDENT_BY_NUMBER, {"b_number": number})).first()
        return _row_to(Incident, row) if row else None

    async def next_number(self) -> int:
        if self.conn.dialect.name == "postgresql":
            # Serialise number allocation across replicas for the rest of this transaction.
            await xact_lock(self.conn, Lock.INCIDENT_NUMBER)
        current = (await self.conn.execute(_MAX_NUMBER)).scalar()
        return (current or 0) + 1

    async def save(self, incident: Incident) -> None:
        """Optimistic concurrency: the row must still carry the version we read."""
        expected = incident.version
        values = _incident_values(incident)
        values["version"] = expected + 1
        result = await self.conn.execute(
            _INCIDENT_SAVE, {**values, "b_id": incident.id, "b_version": expected})
        if result.rowcount != 1:
            raise ConcurrentUpdate(f"{incident.key} changed meanwhile")
        incident.version = expected + 1

    async def list(self, statuses: Sequence[Status] | None = None, limit: int = 50) -> list[Incident]:
        query = sa.select(t.incidents).order_by(t.incidents.c.number.desc()).limit(limit)
        if statuses:
            query = query.where(t.incidents.c.status.in_(list(statuses)))
        return [_row_to(Incident, r) for r in (await self.conn.execute(query)).all()]

    async def find_open_for_model(self, model_id: uuid.UUID, trigger_source: str) -> Incident | None:
        query = (
            sa.select(t.incidents)
            .where(
                t.incidents.c.model_id == model_id,
                t.incidents.c.trigger_source == trigger_source,
                t.incidents.c.status.in_([s for s in Status if s.is_active]),
            )
            .order_by(t.incidents.c.number.desc())
            .limit(1)
        )
        row = (await self.conn.execute(query)).first()
        return _row_to(Incident, row) if row else None


def _incident_values(incident: Incident) -> dict[str, Any]:
    return _values(incident)


class SqlTimelineRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, event: TimelineEvent) -> bool:
        values = _values(event)
        keys = ("source_ref",) if event.source_ref else ()
        result = await self.conn.execute(
            _insert_skipping(self.conn.dialect.name, t.incident_timeline, *keys), values)
        return result.rowcount == 1

    async def add_many(self, events: Sequence[TimelineEvent]) -> None:
        """Bulk insert (one round trip per 500); repeated ``source_ref`` s are skipped."""
        rows = [{f.name: getattr(e, f.name) for f in fields(TimelineEvent)} for e in events]
        for start in range(0, len(rows), 500):
            await self.conn.execute(_insert(self.conn, t.incident_timeline).values(
                rows[start:start + 500]).on_conflict_do_nothing(index_elements=["source_ref"]))

    async def for_incident(self, incident_id: uuid.UUID) -> list[TimelineEvent]:
        query = (
            sa.select(t.incident_timeline)
            .where(t.incident_timeline.c.incident_id == incident_id,
                   not_deleted(t.incident_timeline))  # a deleted message's note is hidden
            .order_by(t.incident_timeline.c.occurred_at, t.incident_timeline.c.created_at)
        )
        return [_row_to(TimelineEvent, r) for r in (await self.conn.execute(query)).all()]


class SqlModelRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, model: MLModel) -> None:
        await self.conn.execute(
            t.models.insert().values(**{f.name: getattr(model, f.name) for f in fields(MLModel)}))

    async def save(self, model: MLModel) -> None:
        values = {f.name: getattr(model, f.name) for f in fields(MLModel)}
        await self.conn.execute(t.models.update().where(t.models.c.id == model.id).values(**values))

    async def get(self, model_id: uuid.UUID) -> MLModel | None:
        row = (await self.conn.execute(_MODEL_BY_ID, {"b_id": model_id})).first()
        return _row_to(MLModel, row) if row else None

    async def get_by_name(self, name: str) -> MLModel | None:
        row = (await self.conn.execute(
            sa.select(t.models).where(sa.func.lower(t.models.c.name) == name.lower()))).first()
        return _row_to(MLModel, row) if row else None

    async def list(self) -> list[MLModel]:
        rows = (await self.conn.execute(sa.select(t.models).order_by(t.models.c.name))).all()
        return [_row_to(MLModel, r) for r in rows]


class SqlAuditRepository:
    def __init__(self, conn: AsyncConnection, added: list[AuditEvent]) -> None:
        self.conn = conn
        self._added = added

    async def add(self, event: AuditEvent) -> None:
        await self.add_many([event])

    async def add_many(self, events: Sequence[AuditEvent]) -> None:
        """Append in order, each row hash-chained to the previous one (GOV-001 7.1, issue 6).

        PostgreSQL: an advisory xact lock serialises appenders, then the rows are inserted with
        their hashes (UPDATE is forbidden there). SQLite has one writer at a time: insert first
        (which takes the write lock), then chain the new rows to the last committed one.
        """
        if not events:
            return
        rows = [_values(e) for e in events]
        chain = _audit_chain
        if self.conn.dialect.name == "postgresql":
            await xact_lock(self.conn, Lock.AUDIT_CHAIN)
            prev = await self._last_hash(chain, None)
            for row in rows:
                row["prev_hash"] = prev
                row["row_hash"] = prev = audit_row_hash(row, prev)
            await self.conn.execute(_AUDIT_CHAIN_INSERT, rows)
        else:
            # three statements whatever the number of rows (the SLO tick audits dozens at once)
            inserted = await self.conn.execute(_AUDIT_INSERT, rows)
            seqs = [seq for (seq,) in inserted]
            prev = await self._last_hash(chain, seqs[0])
            hashes = []
            for row, seq in zip(rows, seqs, strict=True):
                digest = audit_row_hash(row, prev)
                hashes.append({"b_seq": seq, "b_prev": prev, "b_hash": digest})
                prev = digest
            await self.conn.execute(_AUDIT_CHAIN_UPDATE, hashes)
        self._added.extend(events)

    async def _last_hash(self, chain: Any, before_seq: int | None) -> str:
        assert chain is _audit_chain  # the statements are built for it
        found = (await self.conn.execute(_LAST_HASH) if before_seq is None else
                 await self.conn.execute(_LAST_HASH_BEFORE, {"b_seq": before_seq})).scalar()
        return found or AUDIT_GENESIS

    async def list(self, resource_id: str | None = None) -> list[AuditEvent]:
        query = sa.select(t.audit_events).order_by(t.audit_events.c.seq)
        if resource_id is not None:
            query = query.where(t.audit_events.c.resource_id == resource_id)
        return [_row_to(AuditEvent, r) for r in (await self.conn.execute(query)).all()]


class SqlOutboxRepository:
    """Rows ``add`` gives are inserted together, in order, when the unit of work commits
    (``flush``): a status change queues three, a declaration four, and each statement is
    several round trips to aiosqlite's thread. Nothing in a unit of work reads the outbox
    back; the rows commit with the change or not at all, as before."""

    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self.conn = conn
        self.now = now
        self.added = 0
        self._queued: list[dict[str, Any]] = []

    def _row(self, message: OutboxMessage, traceparent: str | None) -> dict[str, Any]:
        return {"kind": message.kind, "incident_id": message.incident_id,
                "payload": message.payload, "status": "pending", "attempts": 0,
                "created_at": self.now, "next_attempt_at": self.now,
                "dedup_key": message.dedup_key, "lane": message.destination_lane,
                "traceparent": traceparent}

    async def add(self, message: OutboxMessage) -> None:
        """Queue a row (a repeated ``dedup_key`` is skipped when the rows are inserted)."""
        self._queued.append(self._row(message, current_traceparent()))
        self.added += 1

    async def flush(self) -> None:
        """Insert the queued rows, in the order they were added, in one statement (the
        parameters as a list: one compiled statement whatever their number)."""
        if not self._queued:
            return
        rows, self._queued = self._queued, []
        await self.conn.execute(
            _insert_skipping(self.conn.dialect.name, t.outbox, "dedup_key"), rows)

    def discard(self) -> None:
        """Forget the queued rows: their transaction rolled back."""
        self._queued = []

    async def add_many(self, messages: Sequence[OutboxMessage]) -> None:
        """Bulk insert, in order (after any rows ``add`` queued); a repeated ``dedup_key`` is
        skipped."""
        await self.flush()
        traceparent = current_traceparent()
        rows = [self._row(m, traceparent) for m in messages]
        for start in range(0, len(rows), 500):
            await self.conn.execute(_insert(self.conn, t.outbox).values(
                rows[start:start + 500]).on_conflict_do_nothing(index_elements=["dedup_key"]))
        self.added += len(rows)


class SqlSlackLinkRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def get(self, incident_id: uuid.UUID) -> SlackLink | None:
        row = (await self.conn.execute(_LINK_BY_INCIDENT, {"b_id": incident_id})).first()
        return _row_to(SlackLink, row) if row else None

    async def for_incidents(self, incident_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, SlackLink]:
        found: dict[uuid.UUID, SlackLink] = {}
        ids = list(incident_ids)
        for start in range(0, len(ids), 500):
            rows = await self.conn.execute(sa.select(t.slack_links).where(
                t.slack_links.c.incident_id.in_(ids[start:start + 500])))
            found.update({row.incident_id: _row_to(SlackLink, row) for row in rows})
        return found

    async def by_channel(self, channel_id: str) -> SlackLink | None:
        row = (await self.conn.execute(
            sa.select(t.slack_links).where(t.slack_links.c.channel_id == channel_id))).first()
        return _row_to(SlackLink, row) if row else None

    async def by_announcement(self, channel_id: str, ts: str) -> SlackLink | None:
        row = (await self.conn.execute(sa.select(t.slack_links).where(
            t.slack_links.c.announcement_channel == channel_id,
            t.slack_links.c.announcement_ts == ts,
        ))).first()
        return _row_to(SlackLink, row) if row else None

    async def latest_announcement_channel(self) -> str | None:
        links, incidents = t.slack_links, t.incidents
        found = (await self.conn.execute(
            sa.select(links.c.announcement_channel)
            .join(incidents, incidents.c.id == links.c.incident_id)
            .where(links.c.announcement_channel.is_not(None))
            .order_by(incidents.c.created_at.desc()).limit(1))).scalar()
        return str(found) if found else None

    async def save(self, link: SlackLink) -> None:
        values = _values(link)
        await self.conn.execute(_upsert(self.conn.dialect.name, t.slack_links, "incident_id",
                                        *(k for k in values if k != "incident_id")), values)


class SqlProcessedEventRepository:
    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self.conn = conn
        self.now = now

    async def first_time(self, source: str, event_id: str) -> bool:
        stmt = _insert_skipping(self.conn.dialect.name, t.processed_events, "source", "event_id")
        return (await self.conn.execute(stmt, {"source": source, "event_id": event_id,
                                               "processed_at": self.now})).rowcount == 1


async def open_incident_counts(engine: AsyncEngine) -> dict[str, int]:
    """Severity -> how many incidents are not yet resolved or closed (for /metrics)."""
    active = [s.value for s in Status if s.is_active]
    async with engine.connect() as conn:
        rows = (await conn.execute(
            sa.select(t.incidents.c.severity, sa.func.count())
            .where(t.incidents.c.status.in_(active))
            .group_by(t.incidents.c.severity))).all()
    return {str(getattr(severity, "value", severity)): int(count) for severity, count in rows}

"""Repositories implementing the domain ports over one SQLAlchemy async connection."""

from __future__ import annotations

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


def _row_to(cls: type, row: sa.Row) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in row._mapping.items() if k in names})


class SqlIncidentRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, incident: Incident) -> None:
        await self.conn.execute(t.incidents.insert().values(**_incident_values(incident)))

    async def get(self, incident_id: uuid.UUID) -> Incident | None:
        row = (await self.conn.execute(
            sa.select(t.incidents).where(t.incidents.c.id == incident_id))).first()
        return _row_to(Incident, row) if row else None

    async def get_by_number(self, number: int) -> Incident | None:
        row = (await self.conn.execute(
            sa.select(t.incidents).where(t.incidents.c.number == number))).first()
        return _row_to(Incident, row) if row else None

    async def next_number(self) -> int:
        if self.conn.dialect.name == "postgresql":
            # Serialise number allocation across replicas for the rest of this transaction.
            await xact_lock(self.conn, Lock.INCIDENT_NUMBER)
        current = (await self.conn.execute(sa.select(sa.func.max(t.incidents.c.number)))).scalar()
        return (current or 0) + 1

    async def save(self, incident: Incident) -> None:
        """Optimistic concurrency: the row must still carry the version we read."""
        expected = incident.version
        values = _incident_values(incident)
        values["version"] = expected + 1
        result = await self.conn.execute(
            t.incidents.update()
            .where(t.incidents.c.id == incident.id, t.incidents.c.version == expected)
            .values(**values)
        )
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
    return {f.name: getattr(incident, f.name) for f in fields(Incident)}


class SqlTimelineRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, event: TimelineEvent) -> bool:
        values = {f.name: getattr(event, f.name) for f in fields(TimelineEvent)}
        stmt = _insert(self.conn, t.incident_timeline).values(**values)
        if event.source_ref:
            stmt = stmt.on_conflict_do_nothing(index_elements=["source_ref"])
        result = await self.conn.execute(stmt)
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
        row = (await self.conn.execute(sa.select(t.models).where(t.models.c.id == model_id))).first()
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
        rows = [{f.name: getattr(e, f.name) for f in fields(AuditEvent)} for e in events]
        chain = _audit_chain
        if self.conn.dialect.name == "postgresql":
            await xact_lock(self.conn, Lock.AUDIT_CHAIN)
            prev = await self._last_hash(chain, None)
            for row in rows:
                row["prev_hash"] = prev
                row["row_hash"] = prev = audit_row_hash(row, prev)
            await self.conn.execute(chain.insert(), rows)
        else:
            # three statements whatever the number of rows (the SLO tick audits dozens at once)
            inserted = await self.conn.execute(
                t.audit_events.insert().returning(t.audit_events.c.seq, sort_by_parameter_order=True),
                rows)
            seqs = [seq for (seq,) in inserted]
            prev = await self._last_hash(chain, seqs[0])
            hashes = []
            for row, seq in zip(rows, seqs, strict=True):
                digest = audit_row_hash(row, prev)
                hashes.append({"b_seq": seq, "b_prev": prev, "b_hash": digest})
                prev = digest
            await self.conn.execute(
                chain.update().where(chain.c.seq == sa.bindparam("b_seq"))
                .values(prev_hash=sa.bindparam("b_prev"), row_hash=sa.bindparam("b_hash")), hashes)
        self._added.extend(events)

    async def _last_hash(self, chain: Any, before_seq: int | None) -> str:
        query = sa.select(chain.c.row_hash).where(chain.c.row_hash.is_not(None))
        if before_seq is not None:
            query = query.where(chain.c.seq < before_seq)
        found = (await self.conn.execute(query.order_by(chain.c.seq.desc()).limit(1))).scalar()
        return found or AUDIT_GENESIS

    async def list(self, resource_id: str | None = None) -> list[AuditEvent]:
        query = sa.select(t.audit_events).order_by(t.audit_events.c.seq)
        if resource_id is not None:
            query = query.where(t.audit_events.c.resource_id == resource_id)
        return [_row_to(AuditEvent, r) for r in (await self.conn.execute(query)).all()]


class SqlOutboxRepository:
    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self.conn = conn
        self.now = now
        self.added = 0

    async def add(self, message: OutboxMessage) -> None:
        stmt = _insert(self.conn, t.outbox).values(
            kind=message.kind,
            incident_id=message.incident_id,
            payload=message.payload,
            status="pending",
            attempts=0,
            created_at=self.now,
            next_attempt_at=self.now,
            dedup_key=message.dedup_key,
            lane=message.destination_lane,
            traceparent=current_traceparent(),
        )
        if message.dedup_key:
            stmt = stmt.on_conflict_do_nothing(index_elements=["dedup_key"])
        await self.conn.execute(stmt)
        self.added += 1

    async def add_many(self, messages: Sequence[OutboxMessage]) -> None:
        """Bulk insert, in order; a repeated ``dedup_key`` is skipped."""
        traceparent = current_traceparent()
        rows = [{"kind": m.kind, "incident_id": m.incident_id, "payload": m.payload,
                 "status": "pending", "attempts": 0, "created_at": self.now,
                 "next_attempt_at": self.now, "dedup_key": m.dedup_key,
                 "lane": m.destination_lane, "traceparent": traceparent} for m in messages]
        for start in range(0, len(rows), 500):
            await self.conn.execute(_insert(self.conn, t.outbox).values(
                rows[start:start + 500]).on_conflict_do_nothing(index_elements=["dedup_key"]))
        self.added += len(rows)


class SqlSlackLinkRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def get(self, incident_id: uuid.UUID) -> SlackLink | None:
        row = (await self.conn.execute(
            sa.select(t.slack_links).where(t.slack_links.c.incident_id == incident_id))).first()
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
        values = {f.name: getattr(link, f.name) for f in fields(SlackLink)}
        stmt = _insert(self.conn, t.slack_links).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["incident_id"],
            set_={k: v for k, v in values.items() if k != "incident_id"},
        )
        await self.conn.execute(stmt)


class SqlProcessedEventRepository:
    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self.conn = conn
        self.now = now

    async def first_time(self, source: str, event_id: str) -> bool:
        stmt = (
            _insert(self.conn, t.processed_events)
            .values(source=source, event_id=event_id, processed_at=self.now)
            .on_conflict_do_nothing(index_elements=["source", "event_id"])
        )
        return (await self.conn.execute(stmt)).rowcount == 1


async def open_incident_counts(engine: AsyncEngine) -> dict[str, int]:
    """Severity -> how many incidents are not yet resolved or closed (for /metrics)."""
    active = [s.value for s in Status if s.is_active]
    async with engine.connect() as conn:
        rows = (await conn.execute(
            sa.select(t.incidents.c.severity, sa.func.count())
            .where(t.incidents.c.status.in_(active))
            .group_by(t.incidents.c.severity))).all()
    return {str(getattr(severity, "value", severity)): int(count) for severity, count in rows}

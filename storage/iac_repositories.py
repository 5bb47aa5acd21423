"""The IaC drift repository (storage/iac_tables.py) behind domain/iac/ports.py."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.iac.model import TriagedDrift
from domain.iac.ports import DueException, StoredDrift
from storage.iac_tables import drift_changes, drift_events
from storage.tables import audit_events

_STORED = [drift_events.c[f.name] for f in fields(StoredDrift)]


def _stored(row: Any) -> StoredDrift | None:
    return StoredDrift(**dict(row._mapping)) if row is not None else None


def _values(item: TriagedDrift, now: datetime) -> dict[str, Any]:
    event = item.event
    return {"change_signature": event.change_signature, "drift_type": event.drift_type.value,
            "tool": event.tool.value, "resource_address": event.resource_address,
            "resource_type": event.resource_type, "environment": event.environment,
            "declared_state": event.declared_state, "actual_state": event.actual_state,
            "severity": event.severity.value, "confidence": event.confidence,
            "triage": item.model_dump(mode="json"), "last_seen_at": now}


class SqlDriftEvents:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def get(self, event_id: uuid.UUID) -> StoredDrift | None:
        return _stored((await self.conn.execute(
            sa.select(*_STORED).where(drift_events.c.id == event_id))).first())

    async def by_fingerprint(self, fingerprint: str) -> StoredDrift | None:
        return _stored((await self.conn.execute(
            sa.select(*_STORED).where(drift_events.c.fingerprint == fingerprint))).first())

    async def seen(self, event_id: uuid.UUID, now: datetime) -> None:
        await self.conn.execute(drift_events.update().where(drift_events.c.id == event_id)
                                .values(last_seen_at=now))

    async def store(self, item: TriagedDrift, now: datetime,
                    existing: StoredDrift | None) -> uuid.UUID:
        values = _values(item, now)
        if existing is None:
            event_id = uuid.uuid4()
            await self.conn.execute(drift_events.insert().values(
                id=event_id, fingerprint=item.event.fingerprint, status="open", detected_at=now,
                **values))
        else:
            event_id = existing.id
            await self.conn.execute(drift_changes.delete().where(drift_changes.c.event_id == event_id))
            await self.conn.execute(drift_events.update().where(drift_events.c.id == event_id)
                                    .values(**values))
        if item.event.changes:
            await self.conn.execute(drift_changes.insert(), [
                {"event_id": event_id, "path": c.path, "declared_value": c.declared,
                 "actual_value": c.actual, "change_type": c.change_type.value,
                 "is_security_critical": c.is_security_critical} for c in item.event.changes])
        return event_id

    async def posted(self, event_id: uuid.UUID, channel: str, ts: str) -> None:
        await self.conn.execute(drift_events.update().where(drift_events.c.id == event_id)
                                .values(slack_channel=channel, slack_ts=ts))

    async def due_exceptions(self, now: datetime) -> Sequence[DueException]:
        rows = (await self.conn.execute(
            sa.select(drift_events.c.id, drift_events.c.exception_reason,
                      drift_events.c.exception_expires_at)
            .where(drift_events.c.status == "accepted",
                   drift_events.c.exception_expires_at <= now))).all()
        return [DueException(event_id, reason, expires_at) for event_id, reason, expires_at in rows]

    async def reopen(self, event_id: uuid.UUID) -> bool:
        done = await self.conn.execute(
            drift_events.update()
            .where(drift_events.c.id == event_id, drift_events.c.status == "accepted")
            .values(status="open", resolution_type=None, resolved_at=None))
        return bool(done.rowcount == 1)

    async def accept(self, event_id: uuid.UUID, reason: str, expires_at: datetime | None,
                     now: datetime) -> None:
        await self.conn.execute(
            drift_events.update().where(drift_events.c.id == event_id)
            .values(status="accepted", resolution_type="accepted_exception", resolved_at=now,
                    exception_reason=reason, exception_expires_at=expires_at))

    async def escalated(self, event_id: uuid.UUID, incident_id: uuid.UUID) -> bool:
        done = await self.conn.execute(
            drift_events.update()
            .where((drift_events.c.id == event_id) & drift_events.c.incident_id.is_(None))
            .values(incident_id=incident_id, status="escalated", resolution_type="escalated"))
        return bool(done.rowcount == 1)

    async def last_incomplete(self, source: str) -> list[str]:
        details = (await self.conn.execute(
            sa.select(audit_events.c.details)
            .where(audit_events.c.action == "iac.report_ingested",
                   audit_events.c.resource_id == source)
            .order_by(audit_events.c.seq.desc()).limit(1))).scalar()
        return list((details or {}).get("incomplete") or [])

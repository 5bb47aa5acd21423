"""Ports: what the domain needs from the outside world, as Protocols (cosmicpython style).

``storage/`` implements the repositories and the unit of work; ``bot/`` the clock.
Tests use the real SQLite adapter or the in-memory fakes in ``tests/fakes.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from domain.model import AuditEvent, Incident, MLModel, Status, TimelineEvent


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC now."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class OutboxMessage:
    """Something that must be said to Slack / PagerDuty, committed with the state change.

    ``kind`` names a delivery the dispatcher knows (``slack.announce``, ``slack.thread_reply``
    ...); ``payload`` holds only what cannot be re-read from the incident at delivery time.
    """

    kind: str
    incident_id: uuid.UUID | None
    payload: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    attempts: int = 0
    dedup_key: str | None = None
    # Messages of one incident go out in order within their lane (by default their
    # destination: ``slack`` or ``pagerduty``), and lanes never wait for one another.
    lane: str | None = None

    @property
    def destination_lane(self) -> str:
        if self.lane:
            return self.lane
        destination = "pagerduty" if self.kind.startswith("pagerduty") else "slack"
        if self.incident_id is None and self.payload.get("event_id"):
            # no incident (an IaC drift event): ordered per event, so one stuck message holds
            # up only its own event's thread
            return f"{destination}:event:{self.payload['event_id']}"[:160]
        return destination


@dataclass
class SlackLink:
    """Where an incident lives in Slack."""

    incident_id: uuid.UUID
    announcement_channel: str | None = None
    announcement_ts: str | None = None
    channel_id: str | None = None
    channel_name: str | None = None
    declarer_id: str | None = None


class IncidentRepository(Protocol):
    async def add(self, incident: Incident) -> None: ...
    async def get(self, incident_id: uuid.UUID) -> Incident | None: ...
    async def get_by_number(self, number: int) -> Incident | None: ...
    async def next_number(self) -> int: ...
    async def save(self, incident: Incident) -> None:
        """Persist changes; raises ``ConcurrentUpdate`` if someone else changed it meanwhile."""
        ...
    async def list(self, statuses: Sequence[Status] | None = None, limit: int = 50) -> list[Incident]: ...
    async def find_open_for_model(self, model_id: uuid.UUID, trigger_source: str) -> Incident | None:
        """The newest active incident of ``model_id`` raised by ``trigger_source``, if any."""
        ...


class TimelineRepository(Protocol):
    async def add(self, event: TimelineEvent) -> bool:
        """Add; return False (and add nothing) if an event with the same source_ref exists."""
        ...
    async def for_incident(self, incident_id: uuid.UUID) -> list[TimelineEvent]: ...
    async def add_many(self, events: Sequence[TimelineEvent]) -> None:
        """Bulk add (the SLO tick); events whose source_ref exists are skipped."""
        ...


class ModelRepository(Protocol):
    async def add(self, model: MLModel) -> None: ...
    async def get(self, model_id: uuid.UUID) -> MLModel | None: ...
    async def get_by_name(self, name: str) -> MLModel | None: ...
    async def list(self) -> list[MLModel]: ...
    async def save(self, model: MLModel) -> None: ...


class AuditRepository(Protocol):
    async def add(self, event: AuditEvent) -> None: ...
    async def add_many(self, events: Sequence[AuditEvent]) -> None: ...
    async def list(self, resource_id: str | None = None) -> list[AuditEvent]: ...


class OutboxRepository(Protocol):
    async def add(self, message: OutboxMessage) -> None: ...
    async def add_many(self, messages: Sequence[OutboxMessage]) -> None: ...


class SlackLinkRepository(Protocol):
    async def get(self, incident_id: uuid.UUID) -> SlackLink | None: ...
    async def for_incidents(self, incident_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, SlackLink]:
        """The links of several incidents in one query (those without one are absent)."""
        ...
    async def by_channel(self, channel_id: str) -> SlackLink | None: ...
    async def by_announcement(self, channel_id: str, ts: str) -> SlackLink | None: ...
    async def latest_announcement_channel(self) -> str | None:
        """The channel id the newest incident was announced in (the incidents channel's id)."""
        ...
    async def save(self, link: SlackLink) -> None: ...


class ProcessedEventRepository(Protocol):
    async def first_time(self, source: str, event_id: str) -> bool:
        """Record ``event_id`` as processed; False if it already was (a retry or redelivery)."""
        ...


class UnitOfWork(Protocol):
    incidents: IncidentRepository
    timeline: TimelineRepository
    models: ModelRepository
    audit: AuditRepository
    outbox: OutboxRepository
    slack_links: SlackLinkRepository
    processed: ProcessedEventRepository

    async def __aenter__(self) -> UnitOfWork: ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...


class ConcurrentUpdate(Exception):
    """Two writers raced on the same incident; the service layer retries the whole use case."""

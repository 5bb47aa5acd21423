"""What the IaC drift use cases need from storage: the drift events (one per drifted resource)
and what the previous report from a source said was missing, on the unit of work."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from domain.iac.model import TriagedDrift
from domain.ports import UnitOfWork


@dataclass(frozen=True)
class StoredDrift:
    """A drift event as stored: the triage (rule hits, cause, recommendations) as its JSON."""

    id: uuid.UUID
    fingerprint: str
    change_signature: str
    drift_type: str
    tool: str
    resource_address: str
    environment: str
    severity: str
    confidence: float
    triage: dict[str, Any]
    status: str  # open | accepted | escalated
    exception_reason: str | None = None
    exception_expires_at: datetime | None = None
    incident_id: uuid.UUID | None = None
    slack_channel: str | None = None
    slack_ts: str | None = None

    def recommendation(self, kind: str) -> dict[str, Any]:
        """The triage's recommendation of ``kind`` (``accept_exception``, ...), or ``{}``."""
        recs = self.triage["triage"]["recommendations"]
        return next((r for r in recs if r["type"] == kind), {})

    @property
    def needs_security_approver(self) -> bool:
        """A security rule fired: the Accept recommendation asks for a named security approver."""
        return "security_approver" in (self.recommendation("accept_exception").get("requires") or ())


@dataclass(frozen=True)
class DueException:
    event_id: uuid.UUID
    reason: str | None
    expires_at: datetime


class DriftEvents(Protocol):
    async def get(self, event_id: uuid.UUID) -> StoredDrift | None: ...
    async def by_fingerprint(self, fingerprint: str) -> StoredDrift | None: ...
    async def seen(self, event_id: uuid.UUID, now: datetime) -> None: ...

    async def store(self, item: TriagedDrift, now: datetime,
                    existing: StoredDrift | None) -> uuid.UUID:
        """Insert the drift (``existing`` None) or replace what changed; its changes too."""

    async def posted(self, event_id: uuid.UUID, channel: str, ts: str) -> None: ...
    async def due_exceptions(self, now: datetime) -> Sequence[DueException]: ...

    async def reopen(self, event_id: uuid.UUID) -> bool:
        """Accepted -> open; False when another replica got there first."""

    async def accept(self, event_id: uuid.UUID, reason: str, expires_at: datetime | None,
                     now: datetime) -> None: ...

    async def escalated(self, event_id: uuid.UUID, incident_id: uuid.UUID) -> bool:
        """Link the incident; False when the event was escalated meanwhile."""

    async def last_incomplete(self, source: str) -> list[str]:
        """What the previous report from ``source`` said was missing (its ingest audit row)."""


class IacUnitOfWork(UnitOfWork, Protocol):
    iac_drift: DriftEvents

    async def __aenter__(self) -> IacUnitOfWork: ...

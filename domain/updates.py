"""Stakeholder updates (issue 3): one use case, one transaction, and the clock marks that incident
changes leave for the SLO tick.

Posting an update writes the timeline, the audit, the thread message and resets the update
cadence (``last_update_at``), together. Any incident change asks the tick to re-plan the
incident; a reopen starts a new episode (its clocks count from the reopen). The clock rows are
behind :class:`ClockMarks` (``storage/clock_marks.py``), the words behind :class:`UpdateTexts`
(``bot/slack_ui/timers.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol
from uuid import UUID

from domain.events import IncidentEvent, StatusChanged
from domain.model import Actor, AuditEvent, DomainError, Incident, TimelineEvent, TimelineEventType
from domain.ports import OutboxMessage, UnitOfWork
from domain.services import THREAD, IncidentRef, IncidentService
from domain.text_boundary import clean


class ClockMarks(Protocol):
    """Port: the SLO clock rows, written in the caller's unit of work."""

    async def updated(self, incident_id: UUID, at: datetime) -> None: ...
    async def reopened(self, incident_id: UUID, at: datetime) -> None: ...
    async def changed(self, incident: Incident) -> None: ...


class UpdateTexts(Protocol):
    """Port: the update as posted in the announcement's thread."""

    def posted(self, incident: Incident, author: Actor, text: str) -> str: ...


class StakeholderUpdates:
    """Posting updates, and the clock reactions to every incident change."""

    def __init__(self, service: IncidentService, marks: Callable[[UnitOfWork], ClockMarks],
                 texts: UpdateTexts) -> None:
        self.service = service
        self.marks = marks
        self.texts = texts

    async def post(self, ref: IncidentRef, actor: Actor, text: str) -> Incident:
        """A stakeholder update: into the announcement's thread, on the timeline, resets the cadence."""
        text = clean(text, "update").strip()  # the one boundary for outside text (issue 14)
        if not text:
            raise DomainError("Write the update: `/incident update <text>`.")

        async def work(uow: UnitOfWork) -> Incident:
            incident = await self.service.resolve_ref(uow, ref)
            if not incident.status.is_active:
                raise DomainError(f"{incident.key} is {incident.status.value}; updates are for active "
                                  "incidents.")
            now = self.service.clock.now()
            await uow.timeline.add(TimelineEvent(
                incident_id=incident.id, event_type=TimelineEventType.NOTE,
                body=f"Stakeholder update: {text}", author=actor.id, author_name=actor.name,
                occurred_at=now, created_at=now))
            await uow.audit.add(AuditEvent(
                occurred_at=now, actor=actor.id, actor_name=actor.name, action="incident.update_posted",
                resource_type="incident", resource_id=str(incident.id),
                details={"number": incident.number, "length": len(text)}))
            # stakeholders read the announcement's thread; a private incident posts nothing
            # there, so its update goes to the incident channel instead (issue 19 item 8)
            await uow.outbox.add(OutboxMessage(THREAD, incident.id, {
                "text": self.texts.posted(incident, actor, text),
                "private_to_channel": True}))
            await self.marks(uow).updated(incident.id, now)
            return incident

        return await self.service.run(work)

    async def on_change(self, uow: UnitOfWork, event: IncidentEvent) -> None:
        """Reaction to any incident change: a reopen starts an episode; the tick re-plans."""
        marks = self.marks(uow)
        incident = event.incident
        if isinstance(event, StatusChanged) and event.is_reopen:
            await marks.reopened(incident.id, incident.updated_at)
        await marks.changed(incident)

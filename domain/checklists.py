"""Runbooks followed by incidents (issue 8): matched on declaration, chosen by hand, followed step
by step. Each use case is one transaction.

Each "Done" is one transaction: the step row (a second or concurrent click counts once), a
``runbook_step_completed`` timeline event, an audit event naming the actor and the outbox rows
that re-render the checklist message in place and the announcement's progress. Marking a step
done is RACI-restricted ("Execute runbook": the ML Platform SRE), asked first through the
service's role gate. The rows are behind :class:`ChecklistRecords` (``storage/runbooks.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from domain.events import IncidentDeclared
from domain.governance.roles import Activity
from domain.model import Actor, AuditEvent, DomainError, Incident, Status, TimelineEvent, TimelineEventType
from domain.ports import OutboxMessage, UnitOfWork
from domain.runbooks import Runbook, match
from domain.services import REFRESH, IncidentRef, IncidentService

CHECKLIST = "runbook_checklist"  # outbox kind: post or re-render the checklist message
MATCHER = Actor("incident-bot", "runbook matcher")


@dataclass(frozen=True)
class StepDone:
    by: str
    at: datetime


@dataclass(frozen=True)
class Followed:
    """The runbook an incident follows (name and version as chosen), its checklist message once
    posted, and the steps done so far."""

    runbook: str
    version: str
    message_channel: str | None = None
    message_ts: str | None = None
    done: dict[str, StepDone] = field(default_factory=dict)


class ChecklistRecords(Protocol):
    """Port: which runbook each incident follows and the steps done, in the caller's unit of work."""

    async def follow(self, incident_id: uuid.UUID, runbook: Runbook, by: str, at: datetime) -> None: ...
    async def followed(self, incident_id: uuid.UUID) -> Followed | None: ...
    async def mark_done(self, incident_id: uuid.UUID, followed: Followed, step_id: str, actor: Actor,
                        at: datetime) -> bool: ...
    async def message_posted(self, incident_id: uuid.UUID, channel: str, ts: str) -> None: ...


class RunbookShelf(Protocol):
    """What the loaded runbooks offer (``runbooks/library.py``)."""

    @property
    def runbooks(self) -> Sequence[Runbook]: ...
    @property
    def by_name(self) -> Mapping[str, Runbook]: ...

    def url(self, runbook: Runbook) -> str: ...


@dataclass(frozen=True)
class StepOutcome:
    """What a Done click did: recorded the step now, or found it done already (by whom, if known)."""

    step_id: str
    recorded: bool
    done: int  # steps done now
    of: int
    done_by: str | None = None  # who did it first, when it was already done


@dataclass(frozen=True)
class Checklist:
    """An incident's runbook as it stands: for the checklist message and ``/incident runbook``."""

    incident: Incident
    followed: Followed
    runbook: Runbook | None  # None when the runbook file is no longer installed
    url: str
    channel_id: str | None  # the incident's channel, once created


class Checklists:
    """The runbook use cases, on the incident service's units of work, clock and role gate."""

    def __init__(self, service: IncidentService, shelf: RunbookShelf,
                 records: Callable[[UnitOfWork], ChecklistRecords]) -> None:
        self.service = service
        self.shelf = shelf
        self.records = records

    def choose(self, incident: Incident, model_name: str, model_labels: list[str]) -> Runbook | None:
        return match(list(self.shelf.runbooks), incident.severity, incident.trigger_source.value,
                     [*incident.labels, *model_labels], model_name,
                     f"{incident.title}\n{incident.description or ''}")

    async def _attach(self, uow: UnitOfWork, incident: Incident, runbook: Runbook, actor: Actor) -> None:
        now = self.service.clock.now()
        await self.records(uow).follow(incident.id, runbook, actor.id, now)
        incident.runbook_url = self.shelf.url(runbook)
        incident.updated_at = now
        await uow.incidents.save(incident)
        await uow.outbox.add(OutboxMessage(CHECKLIST, incident.id))

    async def on_declared(self, uow: UnitOfWork, event: IncidentDeclared) -> None:
        """Reaction to a declaration: the matching runbook, if any, becomes the incident's."""
        incident = event.incident
        model = await uow.models.get(incident.model_id)
        runbook = self.choose(incident, model.name if model else "", model.labels if model else [])
        if runbook is not None:
            await self._attach(uow, incident, runbook, MATCHER)

    async def select(self, ref: IncidentRef, name: str, actor: Actor) -> tuple[Incident, Runbook]:
        """``/incident runbook <name>``: follow another runbook from now on."""
        runbook = self.shelf.by_name.get(name)
        if runbook is None:
            names = ", ".join(f"`{n}`" for n in sorted(self.shelf.by_name))
            raise DomainError(f"No runbook `{name}`. Runbooks: {names}.")

        async def work(uow: UnitOfWork) -> Incident:
            incident = await self.service.resolve_ref(uow, ref)
            await self._attach(uow, incident, runbook, actor)
            await uow.audit.add(_audit(actor, "incident.runbook_selected", incident,
                                       self.service.clock.now(),
                                       {"number": incident.number, "runbook": runbook.name,
                                        "version": runbook.version}))
            await uow.outbox.add(OutboxMessage(REFRESH, incident.id))
            return incident

        return await self.service.run(work), runbook

    async def complete_step(self, incident_id: uuid.UUID, runbook_name: str, version: str,
                            step_id: str, actor: Actor) -> StepOutcome:
        """Mark one step done; a second click (or a concurrent one) changes nothing."""

        async def work(uow: UnitOfWork) -> StepOutcome:
            await self.service.gates.roles.require(actor.id, Activity.EXECUTE_RUNBOOK, "incident",
                                                   str(incident_id))
            incident = await self.service.resolve_ref(uow, IncidentRef(incident_id=incident_id))
            if incident.status is Status.CLOSED:  # the record is final: nothing is executed any more
                raise DomainError(f"{incident.key} is closed; its runbook can no longer be changed.")
            followed = await self.records(uow).followed(incident.id)
            runbook = self.shelf.by_name.get(followed.runbook) if followed else None
            if followed is None or runbook is None or (followed.runbook, followed.version) != (
                    runbook_name, version):
                raise DomainError("That checklist is no longer the incident's runbook; "
                                  "see `/incident runbook`.")
            step = next((s for s in runbook.steps if s.id == step_id), None)
            if step is None:
                raise DomainError(f"Runbook {runbook.title} has no step {step_id}.")
            total = len(runbook.steps)
            if step_id in followed.done:
                return StepOutcome(step_id, False, len(followed.done), total, followed.done[step_id].by)
            now, count = self.service.clock.now(), len(followed.done) + 1
            if not await self.records(uow).mark_done(incident.id, followed, step_id, actor, now):
                return StepOutcome(step_id, False, len(followed.done), total)
            await uow.timeline.add(TimelineEvent(
                incident_id=incident.id, event_type=TimelineEventType.RUNBOOK_STEP_COMPLETED,
                body=f"{runbook.title} v{version} step {step_id}: {step.text}", author=actor.id,
                author_name=actor.name, occurred_at=now, created_at=now))
            await uow.audit.add(_audit(actor, "incident.runbook_step_completed", incident, now, {
                "number": incident.number, "runbook": runbook_name, "version": version,
                "step": step_id, "done": count, "of": total}))
            await uow.outbox.add(OutboxMessage(CHECKLIST, incident.id))
            await uow.outbox.add(OutboxMessage(REFRESH, incident.id))
            return StepOutcome(step_id, True, count, total)

        return await self.service.run(work)

    async def checklist(self, incident_id: uuid.UUID) -> Checklist | None:
        """The incident's runbook and progress, or None when it follows none."""
        async with self.service.read_uow_factory() as uow:
            incident = await uow.incidents.get(incident_id)
            followed = await self.records(uow).followed(incident_id)
            link = await uow.slack_links.get(incident_id)
        if incident is None or followed is None:
            return None
        runbook = self.shelf.by_name.get(followed.runbook)  # if the file changed since: its current text
        return Checklist(incident, followed, runbook, self.shelf.url(runbook) if runbook else "",
                         link.channel_id if link else None)

    async def message_posted(self, incident_id: uuid.UUID, channel: str, ts: str) -> None:
        """Remember the checklist message, so the next change edits it in place."""

        async def work(uow: UnitOfWork) -> None:
            await self.records(uow).message_posted(incident_id, channel, ts)

        await self.service.run(work)


def _audit(actor: Actor, action: str, incident: Incident, at: datetime,
           details: dict[str, Any]) -> AuditEvent:
    return AuditEvent(occurred_at=at, actor=actor.id, actor_name=actor.name, action=action,
                      resource_type="incident", resource_id=str(incident.id), details=details)

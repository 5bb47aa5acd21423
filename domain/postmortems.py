"""Postmortems (GOV-001 section 8; issues 6, 15): the clock, the close gate, the draft, the
contributing factors and the action items. Each use case is one transaction.

When a severity whose policy says ``postmortem: required`` is resolved, the postmortem clock
opens (``postmortem_within``: 48 h for SEV-1, 7 days for SEV-2) and the commander is told in the
incident channel. ``close`` is refused (:meth:`Postmortems.check_close`, called by
``IncidentService.change_status`` before it writes) until the draft has been posted with its
contributing factors (a draft of placeholders is not a postmortem) and at least one action item
recorded, each with owner, due date, severity and ticket.

Storage is behind :class:`PostmortemRepository` (``storage/postmortems.py``), the words sent to
Slack behind :class:`PostmortemTexts` (``bot/slack_ui/postmortems.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from domain.action_items import ActionItem
from domain.events import StatusChanged
from domain.governance.postmortem import (
    ActionItemRow,
    IncidentFacts,
    TimelineEntry,
    is_real_content,
)
from domain.governance.scrubber import scrub
from domain.model import Actor, AuditEvent, DomainError, Incident, Status
from domain.ports import OutboxMessage, UnitOfWork
from domain.services import CHANNEL, IncidentRef, IncidentService, IncidentView

SCHEDULER_ACTOR = Actor("incident-bot-scheduler", "SLO clock")


@dataclass(frozen=True)
class PostmortemState:
    """What the close gate reads: the clock row, the analysis, and how many action items exist."""

    draft_posted_at: datetime | None
    factors_recorded_at: datetime | None
    action_items: int
    waived: bool = False  # resolved as a duplicate: the surviving incident's postmortem covers it


@dataclass(frozen=True)
class Overdue:
    """A required postmortem whose clock ran out while it is not done, not yet reminded."""

    incident_id: uuid.UUID
    due_at: datetime
    has_draft: bool


class PostmortemRepository(Protocol):
    """Port: the postmortem tables, read and written in the caller's unit of work."""

    async def open_clock(self, incident_id: uuid.UUID, due_at: datetime | None) -> None: ...
    async def waive(self, incident_id: uuid.UUID, covered_by: uuid.UUID) -> None: ...
    async def state(self, incident_id: uuid.UUID) -> PostmortemState: ...
    async def record_draft(self, incident_id: uuid.UUID, required: bool, by: str,
                           at: datetime) -> None: ...
    async def record_factors(self, incident_id: uuid.UUID, factors: str, by: str,
                             at: datetime) -> None: ...
    async def overdue(self, now: datetime) -> list[Overdue]: ...
    async def mark_reminded(self, incident_id: uuid.UUID, at: datetime) -> None: ...
    async def add_action_item(self, incident_id: uuid.UUID, item: ActionItem, by: str,
                              at: datetime) -> int: ...
    async def action_items(self, incident_id: uuid.UUID) -> list[ActionItemRow]: ...
    async def complete_action_item(self, incident_id: uuid.UUID, number: int) -> bool: ...
    async def factors(self, incident_id: uuid.UUID) -> str | None: ...


@dataclass(frozen=True)
class Draft:
    """A postmortem draft ready to post: where, what, and whether it carries the analysis."""

    view: IncidentView
    markdown: str
    has_factors: bool

    @property
    def channel_id(self) -> str | None:
        return self.view.link.channel_id if self.view.link else None


# The repository over one open unit of work (the SQL one takes the uow's connection).
Repositories = Callable[[UnitOfWork], PostmortemRepository]

# Renders the draft document: the built-in Markdown or an organisation's template, both in
# bot/slack_ui/postmortem_template.py (the draft mentions the action items' owners).
DraftRenderer = Callable[[IncidentFacts, Sequence[TimelineEntry], Sequence[ActionItemRow], str | None,
                          uuid.UUID], Awaitable[str]]


# The timeline event ids of the incident's notes marked key (domain/note_changes.py).
KeyNoteIds = Callable[[uuid.UUID], Awaitable[frozenset[uuid.UUID]]]


async def _no_key_notes(incident_id: uuid.UUID) -> frozenset[uuid.UUID]:
    return frozenset()


class PostmortemTexts(Protocol):
    """Port: what the bot says in the incident channel about a postmortem."""

    def required(self, incident: Incident, due_at: datetime | None) -> str: ...
    def overdue(self, incident: Incident, due_at: datetime, has_draft: bool) -> str: ...
    def waived(self, incident: Incident, survivor: Incident) -> str: ...


def close_refusal(incident: Incident, state: PostmortemState) -> str | None:
    """Why a required postmortem blocks closing, or None when it is done."""
    missing = []
    if state.factors_recorded_at is None:  # an uploaded draft of placeholders is not one (issue 15)
        missing.append("the contributing factors (`/incident postmortem factors ...`)")
    if state.draft_posted_at is None:
        missing.append("the postmortem draft (`/incident postmortem`)")
    elif state.factors_recorded_at is not None and state.draft_posted_at < state.factors_recorded_at:
        missing.append("a postmortem draft posted after the contributing factors "
                       "(`/incident postmortem` again)")
    if state.action_items == 0:
        missing.append("at least one action item (`/incident action add ...`)")
    if not missing:
        return None
    return (f"{incident.key} cannot be closed yet: GOV-001 requires "
            f"{' and '.join(missing)} for {incident.severity.label}.")


class Postmortems:
    """The postmortem use cases, on the incident service's units of work and clock."""

    def __init__(self, service: IncidentService, repositories: Repositories,
                 texts: PostmortemTexts, render: DraftRenderer,
                 key_notes: KeyNoteIds | None = None) -> None:
        self.service = service
        self.repositories = repositories
        self.texts = texts
        self.render = render  # the draft's document; a template may replace the built-in one
        self.key_notes = key_notes or _no_key_notes  # notes marked key open the draft (issue 19)

    def _required(self, incident: Incident) -> bool:
        return self.service.policy.rule(incident.severity).postmortem == "required"

    async def check_close(self, uow: UnitOfWork, incident: Incident) -> None:
        """The close gate: raise :class:`DomainError` while a required postmortem is not done."""
        if not self._required(incident):
            return
        state = await self.repositories(uow).state(incident.id)
        if state.waived:
            return
        refusal = close_refusal(incident, state)
        if refusal:
            raise DomainError(refusal)

    async def on_status_changed(self, uow: UnitOfWork, event: StatusChanged) -> None:
        """Reaction to a resolve: open the postmortem clock and tell the commander."""
        if event.status is not Status.RESOLVED:
            return
        incident = event.incident
        rule = self.service.policy.rule(incident.severity)
        if rule.postmortem != "required":
            return
        if event.duplicate_of is not None:
            # one postmortem per incident that happened: the survivor's covers its duplicates
            await self.repositories(uow).waive(incident.id, event.duplicate_of.id)
            await uow.outbox.add(OutboxMessage(CHANNEL, incident.id, {
                "text": self.texts.waived(incident, event.duplicate_of)}))
            return
        due = incident.updated_at + rule.postmortem_within if rule.postmortem_within else None
        await self.repositories(uow).open_clock(incident.id, due)
        await uow.outbox.add(OutboxMessage(CHANNEL, incident.id,
                                           {"text": self.texts.required(incident, due)}))

    async def remind_overdue(self) -> int:
        """Tell the commander once when a required postmortem's clock has run out while it is
        not done: no draft, or a draft without its contributing factors (issue 15)."""

        async def work(uow: UnitOfWork) -> int:
            now = self.service.clock.now()
            repo = self.repositories(uow)
            overdue = await repo.overdue(now)
            for row in overdue:
                incident = await uow.incidents.get(row.incident_id)
                if incident is None:
                    continue
                await uow.outbox.add(OutboxMessage(CHANNEL, incident.id, {
                    "text": self.texts.overdue(incident, row.due_at, row.has_draft)}))
                await repo.mark_reminded(incident.id, now)
                await uow.audit.add(_audit(SCHEDULER_ACTOR, "incident.postmortem_overdue", incident,
                                           now, {"number": incident.number}))
            return len(overdue)

        return await self.service.run(work)

    async def record_draft(self, incident: Incident, actor: Actor) -> None:
        """The draft is in the incident's channel: the close gate and the reminders see it."""

        async def work(uow: UnitOfWork) -> None:
            now = self.service.clock.now()
            await self.repositories(uow).record_draft(incident.id, self._required(incident),
                                                      actor.id, now)
            await uow.audit.add(_audit(actor, "incident.postmortem_drafted", incident, now,
                                       {"number": incident.number}))

        await self.service.run(work)

    async def draft(self, ref: IncidentRef) -> Draft:
        """The blameless draft from the incident, its timeline (scrubbed), the contributing
        factors and the action items recorded so far."""
        view = await self.service.view(ref, with_timeline=True)
        inc = view.incident
        facts = IncidentFacts(inc.number, inc.title, inc.severity.label,
                              view.model.name if view.model else None, inc.description,
                              inc.created_at, inc.acknowledged_at, inc.mitigated_at, inc.resolved_at)
        items, factors = await self.contents(inc.id)
        key = await self.key_notes(inc.id)
        timeline = [TimelineEntry(e.occurred_at, e.event_type.value, scrub(e.body) or "",
                                  e.id in key) for e in view.timeline]
        return Draft(view, await self.render(facts, timeline, items, factors, inc.id), bool(factors))

    async def record_factors(self, ref: IncidentRef, actor: Actor, text: str) -> Incident:
        """The analysis part of the postmortem: what a draft needs before it counts as done.
        Stored scrubbed (PII_CATEGORIES)."""
        factors = scrub(text) or ""
        if not is_real_content(factors):
            raise DomainError("Say what made the incident possible: `/incident postmortem factors "
                              "<systems, processes, tooling that contributed>` (blameless).")

        async def work(uow: UnitOfWork) -> Incident:
            incident = await self.service.resolve_ref(uow, ref)
            now = self.service.clock.now()
            await self.repositories(uow).record_factors(incident.id, factors, actor.id, now)
            await uow.audit.add(_audit(actor, "incident.postmortem_factors_recorded", incident, now,
                                       {"number": incident.number}))
            return incident

        return await self.service.run(work)

    async def add_action_item(self, ref: IncidentRef, actor: Actor,
                              item: ActionItem) -> tuple[Incident, int]:
        """Record an action item; returns the incident and the item's number on it."""

        async def work(uow: UnitOfWork) -> tuple[Incident, int]:
            incident = await self.service.resolve_ref(uow, ref)
            now = self.service.clock.now()
            number = await self.repositories(uow).add_action_item(incident.id, item, actor.id, now)
            await uow.audit.add(_audit(actor, "incident.action_item_added", incident, now, {
                "number": incident.number, "item": number, "owner": item.owner,
                "due": item.due.isoformat(), "severity": item.severity.value, "ticket": item.ticket}))
            return incident, number

        return await self.service.run(work)

    async def complete_action_item(self, ref: IncidentRef, actor: Actor,
                                   number: int) -> tuple[Incident, bool]:
        """Mark an open action item done; False when there is no such open item."""

        async def work(uow: UnitOfWork) -> tuple[Incident, bool]:
            incident = await self.service.resolve_ref(uow, ref)
            if not await self.repositories(uow).complete_action_item(incident.id, number):
                return incident, False
            await uow.audit.add(_audit(actor, "incident.action_item_done", incident,
                                       self.service.clock.now(),
                                       {"number": incident.number, "item": number}))
            return incident, True

        return await self.service.run(work)

    async def action_items(self, ref: IncidentRef) -> tuple[Incident, list[ActionItemRow]]:
        async with self.service.read_uow_factory() as uow:
            incident = await self.service.resolve_ref(uow, ref)
            return incident, await self.repositories(uow).action_items(incident.id)

    async def contents(self, incident_id: uuid.UUID) -> tuple[list[ActionItemRow], str | None]:
        """The action items recorded so far and the contributing factors, for the draft."""
        async with self.service.read_uow_factory() as uow:
            repo = self.repositories(uow)
            return await repo.action_items(incident_id), await repo.factors(incident_id)


def _audit(actor: Actor, action: str, incident: Incident, at: datetime,
           details: dict[str, Any]) -> AuditEvent:
    return AuditEvent(occurred_at=at, actor=actor.id, actor_name=actor.name, action=action,
                      resource_type="incident", resource_id=str(incident.id), details=details)

"""Catch-up on join (issue 19, item 5): the read-in someone gets on joining an incident channel.

Built from what is stored (the incident, its timeline, action items, roles, related incidents),
no model: :func:`build_catchup` is a pure function of plain data; :class:`CatchUps` reads that
data in one read transaction, and queues the read-in of a join (one per Slack event: a
redelivered ``member_joined_channel`` carries the same ``event_id`` and is recorded as processed
in the same transaction as the outbox row, so it posts once). The words are in
``bot/slack_ui/catchup.py``; the read-in is rendered when delivered, so it is current.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from domain.governance.postmortem import ActionItemRow
from domain.model import Incident, TimelineEvent, TimelineEventType
from domain.policy import Policy
from domain.ports import OutboxMessage, UnitOfWork
from domain.related import RelatedIncident
from domain.services import IncidentRef, IncidentService
from domain.timers import Deadline, IncidentClocks, deadlines, next_update_due_at

UPDATE_PREFIX = "Stakeholder update: "  # how domain/updates.py writes an update on the timeline
KEY_NOTES = 5
CATCHUP_KIND = "catchup_ephemeral"  # outbox kind: post the read-in to the joiner


@dataclass(frozen=True)
class LastUpdate:
    text: str
    author: str
    at: datetime


@dataclass(frozen=True)
class CatchUp:
    """Everything the read-in says, as data."""

    incident: Incident
    model_name: str | None
    commander: str | None
    roles: list[tuple[str, str]]  # (role, Slack user id)
    clocks: list[Deadline]
    next_update_due: datetime | None
    last_update: LastUpdate | None
    key_notes: list[TimelineEvent]
    key_notes_marked: bool  # True: the notes marked key; False: the latest notes instead
    open_actions: list[ActionItemRow]
    related: list[RelatedIncident]
    channel_id: str | None = None


@dataclass(frozen=True)
class CatchUpFacts:
    """The plain data :func:`build_catchup` reads."""

    incident: Incident
    model_name: str | None
    timeline: Sequence[TimelineEvent]
    policy: Policy
    now: datetime
    roles: Sequence[tuple[str, str]] = ()
    key_note_ids: frozenset[uuid.UUID] = frozenset()
    action_items: Sequence[ActionItemRow] = ()
    related: Sequence[RelatedIncident] = ()
    channel_id: str | None = None
    # The stored clock view (episode start after a reopen, last update, a snoozed reminder);
    # None: the incident's own timestamps and the last update read from the timeline
    clocks: IncidentClocks | None = None


def is_human_note(event: TimelineEvent) -> bool:
    """A note a person wrote (not a stakeholder update, not one of the bot's own records)."""
    return (event.event_type is TimelineEventType.NOTE and event.author[:1] in ("U", "W")
            and not event.body.startswith(UPDATE_PREFIX))


def last_update(timeline: Sequence[TimelineEvent]) -> LastUpdate | None:
    updates = [e for e in timeline if e.event_type is TimelineEventType.NOTE
               and e.body.startswith(UPDATE_PREFIX)]
    if not updates:
        return None
    latest = max(updates, key=lambda e: e.occurred_at)
    return LastUpdate(latest.body.removeprefix(UPDATE_PREFIX), latest.author, latest.occurred_at)


def build_catchup(facts: CatchUpFacts) -> CatchUp:
    """The read-in of ``facts``: the notes marked key (else the latest human notes), the open
    action items, the SLO clocks of the current episode and when the next update is due."""
    notes = sorted((e for e in facts.timeline if is_human_note(e)), key=lambda e: e.occurred_at)
    marked = [e for e in notes if e.id in facts.key_note_ids]
    key_notes = (marked or notes)[-KEY_NOTES:]
    update = last_update(facts.timeline)
    incident = facts.incident
    clocks = facts.clocks or IncidentClocks.of(incident,
                                               last_update_at=update.at if update else None)
    due = next_update_due_at(clocks, facts.policy, facts.now) if incident.status.is_active else None
    return CatchUp(
        incident=incident, model_name=facts.model_name, commander=incident.assigned_to,
        roles=list(facts.roles),
        clocks=list(deadlines(clocks, facts.policy, facts.now).values()),
        next_update_due=due, last_update=update, key_notes=key_notes,
        key_notes_marked=bool(marked),
        open_actions=[a for a in facts.action_items if not a.done],
        related=list(facts.related), channel_id=facts.channel_id)


# -- ports the read-in reads through, provided by the features that own the data ---------------

class CatchUpSources(Protocol):
    """Port: what other features contribute, each read in the caller's unit of work."""

    async def roles(self, uow: UnitOfWork, incident: Incident) -> list[tuple[str, str]]: ...
    async def key_notes(self, uow: UnitOfWork, incident: Incident) -> frozenset[uuid.UUID]: ...
    async def action_items(self, uow: UnitOfWork, incident: Incident) -> list[ActionItemRow]: ...
    async def related(self, uow: UnitOfWork, incident: Incident) -> list[RelatedIncident]: ...
    async def clocks(self, uow: UnitOfWork, incident: Incident) -> IncidentClocks | None: ...


@dataclass
class NoSources:
    """The sources when no feature contributes: the timeline alone."""

    async def roles(self, uow: UnitOfWork, incident: Incident) -> list[tuple[str, str]]:
        return []

    async def key_notes(self, uow: UnitOfWork, incident: Incident) -> frozenset[uuid.UUID]:
        return frozenset()

    async def action_items(self, uow: UnitOfWork, incident: Incident) -> list[ActionItemRow]:
        return []

    async def related(self, uow: UnitOfWork, incident: Incident) -> list[RelatedIncident]:
        return []

    async def clocks(self, uow: UnitOfWork, incident: Incident) -> IncidentClocks | None:
        return None


@dataclass
class CatchUps:
    """The read-in, on demand (``/incident catchup``) and on join."""

    service: IncidentService
    sources: CatchUpSources = field(default_factory=NoSources)

    @property
    def policy(self) -> Policy:
        return self.service.policy

    async def read_in(self, ref: IncidentRef) -> CatchUp:
        async with self.service.read_uow_factory() as uow:
            incident = await self.service.resolve_ref(uow, ref)
            model = await uow.models.get(incident.model_id)
            link = await uow.slack_links.get(incident.id)
            facts = CatchUpFacts(
                incident=incident, model_name=model.name if model else None,
                timeline=await uow.timeline.for_incident(incident.id), policy=self.policy,
                now=self.service.clock.now(),
                roles=await self.sources.roles(uow, incident),
                key_note_ids=await self.sources.key_notes(uow, incident),
                action_items=await self.sources.action_items(uow, incident),
                related=await self.sources.related(uow, incident),
                channel_id=link.channel_id if link else None,
                clocks=await self.sources.clocks(uow, incident))
            return build_catchup(facts)

    async def joined(self, channel_id: str, user_id: str, event_id: str,
                     added_by_bot: bool = False) -> bool:
        """Someone joined ``channel_id``: queue their read-in if it is an incident channel and
        this event was not seen before. True when queued. The declarer added by the bot as it
        creates the channel is not read in: they declared it a moment ago."""

        async def work(uow: UnitOfWork) -> bool:
            link = await uow.slack_links.by_channel(channel_id)
            if link is None:
                return False
            if added_by_bot:
                incident = await uow.incidents.get(link.incident_id)
                if incident is not None and incident.created_by == user_id:
                    return False
            if not await uow.processed.first_time("slack:member_joined_channel", event_id):
                return False
            await uow.outbox.add(OutboxMessage(CATCHUP_KIND, link.incident_id, {
                "channel": channel_id, "user": user_id}, lane="slack:catchup"))
            return True

        return await self.service.run(work)

"""Related and duplicate incidents (issue 19, item 9): the rules and the use cases.

Two incidents are *related* (``/incident link 42``) by one stored pair, read from both sides. An
incident is a *duplicate* (``/incident duplicate-of 42``, or the *This is the same* button on a
new incident's announcement) when the pair also names it as the one that gave way.

How a duplicate closes: the state machine has no "duplicate" status and ``closed`` is reached
only from ``resolved`` through the close gates (a required postmortem), so the duplicate is
**resolved** with the resolution "duplicate of INC-42" through
:meth:`IncidentService.change_status_in` (state machine, gates, audit, announcement refresh and
posts, as any resolve). An incident already resolved stays resolved and is marked. Its
responders (declarer, commander, note authors, role holders) are invited to the surviving
incident's channel, both timelines say what happened, and both channels are told.

Pointing at a duplicate follows the chain to the incident that survived it (42 is a duplicate
of 40: the duplicate goes to 40, and says so); a chain back to the incident itself, a closed
survivor, or the incident itself is refused with what to do instead. Storage is behind
:class:`RelationRepository` (``storage/related.py``), the words behind :class:`RelatedTexts`
(``bot/slack_ui/related.py``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.model import (
    Actor,
    AuditEvent,
    DomainError,
    Incident,
    Status,
    TimelineEvent,
    TimelineEventType,
)
from domain.ports import OutboxMessage, UnitOfWork
from domain.services import CHANNEL, INVITE, REFRESH, IncidentRef, IncidentService

MAX_CHAIN = 20  # a duplicate chain longer than this is refused rather than followed
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,}")


@dataclass(frozen=True)
class Relation:
    """One stored pair, seen from ``incident_id``: ``other_id`` is the other incident;
    ``duplicate_id`` is the one of the two that was resolved as a duplicate, if any."""

    incident_id: uuid.UUID
    other_id: uuid.UUID
    duplicate_id: uuid.UUID | None
    created_by: str
    created_at: datetime

    @property
    def kind(self) -> str:
        """``related``; ``duplicate_of`` (this one gave way); ``duplicated_by`` (the other did)."""
        if self.duplicate_id is None:
            return "related"
        return "duplicate_of" if self.duplicate_id == self.incident_id else "duplicated_by"


@dataclass(frozen=True)
class RelatedIncident:
    """What a reader is shown of a relation: the other incident's key, title, status, channel."""

    kind: str
    number: int
    title: str
    status: Status
    channel_id: str | None = None

    @property
    def key(self) -> str:
        return f"INC-{self.number}"


class RelationRepository(Protocol):
    """Port: the relation pairs, read and written in the caller's unit of work."""

    async def get(self, a: uuid.UUID, b: uuid.UUID) -> Relation | None:
        """The pair of ``a`` and ``b`` in either order, seen from ``a``."""
        ...

    async def save(self, a: uuid.UUID, b: uuid.UUID, duplicate_id: uuid.UUID | None, by: str,
                   at: datetime) -> bool:
        """Store the pair once (or mark it a duplicate); False when it existed unchanged."""
        ...

    async def of(self, incident_id: uuid.UUID) -> list[Relation]:
        """Every pair ``incident_id`` is in, seen from it, oldest first."""
        ...

    async def survivor_of(self, incident_id: uuid.UUID) -> uuid.UUID | None:
        """The incident ``incident_id`` was resolved as a duplicate of, if any."""
        ...

    async def active_on_model(self, model_id: uuid.UUID, before: int) -> list[Incident]:
        """Active incidents of ``model_id`` numbered below ``before``, oldest first."""
        ...


class RelatedTexts(Protocol):
    """Port: what the channels are told (Slack words live in ``bot/slack_ui/related.py``)."""

    def linked(self, incident: Incident, other: Incident, actor: Actor) -> str: ...
    def duplicate(self, duplicate: Incident, survivor: Incident, actor: Actor,
                  via: Incident | None) -> str: ...
    def duplicated_here(self, duplicate: Incident, survivor: Incident, actor: Actor,
                        invited: list[str]) -> str: ...


@dataclass(frozen=True)
class DuplicateOutcome:
    duplicate: Incident
    survivor: Incident
    invited: list[str]
    via: Incident | None  # the duplicate that was pointed at, when the chain was followed


# -- pure rules ---------------------------------------------------------------------------------

def check_link(incident: Incident, other: Incident, existing: Relation | None) -> None:
    """Refuse linking an incident to itself or a pair already stored."""
    if incident.id == other.id:
        raise DomainError(f"{incident.key} cannot be linked to itself; give another incident's "
                          "number, e.g. `/incident link 42`.")
    if existing is not None:
        how = {"related": "already linked to",
               "duplicate_of": "already a duplicate of",
               "duplicated_by": "already the surviving incident of"}[existing.kind]
        raise DomainError(f"{incident.key} is {how} {other.key}; nothing changed. "
                          "`/incident status` lists its related incidents.")


def check_duplicate(duplicate: Incident, survivor: Incident, pointed: Incident,
                    already_survivor_of: Incident | None) -> None:
    """Refuse what cannot be a duplicate: itself (also through a chain), a closed incident on
    either side, an incident already a duplicate of another."""
    if duplicate.id == pointed.id:
        raise DomainError(f"{duplicate.key} cannot be a duplicate of itself; give the number of "
                          "the incident that carries on, e.g. `/incident duplicate-of 42`.")
    if duplicate.id == survivor.id:
        raise DomainError(f"{pointed.key} is already a duplicate of {duplicate.key} (directly or "
                          "through a chain): marking it the other way round would leave no "
                          "incident carrying on. Nothing changed.")
    if already_survivor_of is not None:
        raise DomainError(f"{duplicate.key} is already a duplicate of {already_survivor_of.key}; "
                          "nothing changed.")
    if duplicate.status is Status.CLOSED:
        raise DomainError(f"{duplicate.key} is closed; a closed incident cannot be marked a "
                          f"duplicate. Use `/incident link {survivor.number}` to relate them.")
    if survivor.status is Status.CLOSED:
        via = f" ({pointed.key} is a duplicate of it)" if pointed.id != survivor.id else ""
        raise DomainError(f"{survivor.key}{via} is closed, so it cannot take over {duplicate.key}. "
                          f"Use `/incident link {survivor.number}` to relate them, or keep "
                          f"working in {duplicate.key}.")


def follow_chain(start: uuid.UUID, survivor_of: dict[uuid.UUID, uuid.UUID]) -> uuid.UUID:
    """Where a duplicate chain from ``start`` ends (``survivor_of`` maps duplicate -> survivor).
    A cycle or an overlong chain is refused (neither can be built through these use cases)."""
    seen = [start]
    current = start
    while current in survivor_of:
        current = survivor_of[current]
        if current in seen or len(seen) > MAX_CHAIN:
            raise DomainError("Those incidents' duplicate chain loops; link them instead with "
                              "`/incident link`.")
        seen.append(current)
    return current


def responders(incident: Incident, timeline: Iterable[TimelineEvent],
               role_holders: Iterable[str] = ()) -> list[str]:
    """The Slack users who worked on ``incident``: declarer, commander, role holders, note
    authors, in that order, once each (service accounts left out: they cannot be invited)."""
    found: list[str] = []
    candidates = [incident.created_by, incident.assigned_to or "", *role_holders]
    candidates += [e.author for e in timeline if e.event_type is TimelineEventType.NOTE]
    for user in candidates:
        if user and _SLACK_USER.fullmatch(user) and user not in found:
            found.append(user)
    return found


def offer_for(incident: Incident, others: list[Incident],
              relations: list[Relation]) -> Incident | None:
    """The older active incident on the same model that ``incident``'s announcement offers as
    *This is the same*: none once ``incident`` is no longer active or is related to it already."""
    if not incident.status.is_active:
        return None
    related = {r.other_id for r in relations}
    if any(r.kind == "duplicate_of" for r in relations):
        return None
    for other in others:
        if other.id != incident.id and other.status.is_active and other.id not in related:
            return other
    return None


# -- use cases ----------------------------------------------------------------------------------

RoleHolders = Callable[[UnitOfWork, Incident], Awaitable[list[str]]]


async def _no_roles(uow: UnitOfWork, incident: Incident) -> list[str]:
    return []


class RelatedIncidents:
    """Linking and duplicates, each one transaction on the incident service's units of work."""

    def __init__(self, service: IncidentService,
                 relations: Callable[[UnitOfWork], RelationRepository], texts: RelatedTexts,
                 role_holders: RoleHolders = _no_roles) -> None:
        self.service = service
        self.relations = relations
        self.texts = texts
        self.role_holders = role_holders  # the roles feature's holders, when installed

    async def link(self, ref: IncidentRef, other_number: int, actor: Actor) -> tuple[Incident, Incident]:
        async def work(uow: UnitOfWork) -> tuple[Incident, Incident]:
            incident = await self.service.resolve_ref(uow, ref)
            other = await self.service.resolve_ref(uow, IncidentRef(number=other_number))
            repo = self.relations(uow)
            check_link(incident, other, await repo.get(incident.id, other.id))
            now = self.service.clock.now()
            if not await repo.save(incident.id, other.id, None, actor.id, now):
                check_link(incident, other, await repo.get(incident.id, other.id))  # a race lost
            for one, two in ((incident, other), (other, incident)):
                # keys, never titles: either incident may be private (issue 19 item 8)
                await self._note(uow, one, actor, f"Linked to {two.key}", now)
                await uow.outbox.add(OutboxMessage(REFRESH, one.id))  # its "Related" line
                await uow.outbox.add(OutboxMessage(CHANNEL, one.id, {
                    "text": self.texts.linked(one, two, actor)}))
            await uow.audit.add(_audit(actor, "incident.linked", incident, now, {
                "number": incident.number, "related": other.number,
                "related_id": str(other.id)}))
            return incident, other

        return await self.service.run(work)

    async def duplicate_of(self, ref: IncidentRef, target: IncidentRef,
                           actor: Actor) -> DuplicateOutcome:
        """Resolve ``ref`` as a duplicate of ``target`` (or of what ``target`` is a duplicate of)."""
        return await self.service.run(lambda uow: self._duplicate_in(uow, ref, target, actor))

    async def _duplicate_in(self, uow: UnitOfWork, ref: IncidentRef, target: IncidentRef,
                            actor: Actor) -> DuplicateOutcome:
        repo = self.relations(uow)
        duplicate = await self.service.resolve_ref(uow, ref)
        pointed = await self.service.resolve_ref(uow, target)
        survivor = await self._survivor(uow, repo, pointed)
        earlier = await repo.survivor_of(duplicate.id)
        check_duplicate(duplicate, survivor, pointed,
                        await uow.incidents.get(earlier) if earlier else None)
        now = self.service.clock.now()
        via = pointed if pointed.id != survivor.id else None
        reason = f"duplicate of {survivor.key}" + (f" (via {pointed.key})" if via else "")
        outcome = await self.service.change_status_in(uow, IncidentRef(incident_id=duplicate.id),
                                                      Status.RESOLVED, actor, reason=reason,
                                                      duplicate_of=survivor)
        duplicate = outcome.incident
        await repo.save(duplicate.id, survivor.id, duplicate.id, actor.id, now)
        timeline = await uow.timeline.for_incident(duplicate.id)
        invited = responders(duplicate, timeline, await self.role_holders(uow, duplicate))
        if invited:
            await uow.outbox.add(OutboxMessage(INVITE, survivor.id, {"users": invited}))
        await self._note(uow, duplicate, actor, f"Resolved as a {reason}", now)
        await self._note(uow, survivor, actor,
                         f"{duplicate.key} was marked a duplicate of {survivor.key}", now)
        await uow.outbox.add(OutboxMessage(CHANNEL, duplicate.id, {
            "text": self.texts.duplicate(duplicate, survivor, actor, via)}))
        await uow.outbox.add(OutboxMessage(REFRESH, survivor.id))
        await uow.outbox.add(OutboxMessage(CHANNEL, survivor.id, {
            "text": self.texts.duplicated_here(duplicate, survivor, actor, invited)}))
        await uow.audit.add(_audit(actor, "incident.marked_duplicate", duplicate, now, {
            "number": duplicate.number, "duplicate_of": survivor.number,
            "duplicate_of_id": str(survivor.id), "pointed_at": pointed.number,
            "status_changed": outcome.changed, "invited": invited}))
        return DuplicateOutcome(duplicate, survivor, invited, via)

    async def _survivor(self, uow: UnitOfWork, repo: RelationRepository,
                        pointed: Incident) -> Incident:
        chain: dict[uuid.UUID, uuid.UUID] = {}
        current = pointed.id
        while current not in chain and len(chain) <= MAX_CHAIN:
            found = await repo.survivor_of(current)
            if found is None:
                break
            chain[current] = found
            current = found
        end = follow_chain(pointed.id, chain)
        if end == pointed.id:
            return pointed
        survivor = await uow.incidents.get(end)
        if survivor is None:  # a foreign key keeps this from happening
            raise DomainError(f"{pointed.key}'s surviving incident no longer exists.")
        return survivor

    async def related(self, incident_id: uuid.UUID) -> list[RelatedIncident]:
        async with self.service.read_uow_factory() as uow:
            return await self.related_in(uow, incident_id)

    async def related_in(self, uow: UnitOfWork, incident_id: uuid.UUID) -> list[RelatedIncident]:
        """The incidents related to ``incident_id``, for the status, announcement and catch-up."""
        relations = await self.relations(uow).of(incident_id)
        links = await uow.slack_links.for_incidents([r.other_id for r in relations])
        out = []
        for relation in relations:
            other = await uow.incidents.get(relation.other_id)
            if other is not None:
                link = links.get(other.id)
                out.append(RelatedIncident(relation.kind, other.number, other.title, other.status,
                                           link.channel_id if link else None))
        return out

    async def offer(self, incident: Incident) -> Incident | None:
        """The incident the announcement offers as *This is the same*, if any."""
        async with self.service.read_uow_factory() as uow:
            repo = self.relations(uow)
            others = await repo.active_on_model(incident.model_id, incident.number)
            return offer_for(incident, others, await repo.of(incident.id)) if others else None

    async def _note(self, uow: UnitOfWork, incident: Incident, actor: Actor, body: str,
                    now: datetime) -> None:
        await uow.timeline.add(TimelineEvent(
            incident_id=incident.id, event_type=TimelineEventType.NOTE, body=body,
            author=actor.id, author_name=actor.name, occurred_at=now, created_at=now))


def _audit(actor: Actor, action: str, incident: Incident, at: datetime,
           details: dict[str, object]) -> AuditEvent:
    return AuditEvent(occurred_at=at, actor=actor.id, actor_name=actor.name, action=action,
                      resource_type="incident", resource_id=str(incident.id), details=details)

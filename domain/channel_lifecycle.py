"""Channel lifecycle (issue 19 item 8): private incidents, who may see them, and archiving an
incident's channel some days after close.

*Private.* An incident is private when it carries the private label (``STATUS_PAGE_PRIVATE_LABEL``,
``private`` by default): ``/incident declare --private`` and the form's *Private* box add it, and
the status page already hid those titles. A private incident gets a private channel and an
announcement that names only its key and severity; its title, model and description are shown
only to members of its channel (:func:`may_see`): whoever declared it, its commander, the
people the bot invited (recorded when Slack confirms the invite: :meth:`ChannelRepository.add_members`),
and anyone Slack lists in the channel (conversations.members, asked only when the records say
no, and recorded).
Everyone else sees it redacted (:func:`redact`), in ``/incident status`` and ``list``, the Home
tab and the REST API.

*Archive.* :meth:`ChannelLifecycle.archive_due` (a scheduled job, one transaction) finds incidents
closed more than ``ARCHIVE_AFTER_DAYS`` ago whose channel is not archived, marks each as queued
and queues one ``archive_channel`` outbox row (a last message linking the postmortem, then
``conversations.archive``), so a channel is archived once however often the job runs. When
somebody archives (or unarchives) the channel by hand, Slack's ``channel_archive`` event is
recorded (:meth:`ChannelLifecycle.record_archived`) and the bot stops posting there.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from domain.insights import Followups
from domain.model import Actor, AuditEvent, Incident, MLModel
from domain.ports import OutboxMessage, SlackLink, UnitOfWork
from domain.services import IncidentService, IncidentView

ARCHIVE_CHANNEL = "archive_channel"  # outbox kind: last message, then conversations.archive
ARCHIVER = Actor("incident-bot-archiver", "Channel archiver")
HIDDEN_TITLE = "Private incident"
HIDDEN_MODEL = "hidden"
HIDDEN_ITEM = "(an action item of a private incident)"


@dataclass(frozen=True)
class ArchiveDue:
    """An incident whose channel is due for archiving."""

    incident_id: uuid.UUID
    number: int
    channel_id: str
    closed_at: datetime


@dataclass(frozen=True)
class ChannelState:
    """What is recorded of an incident channel's archiving."""

    archived_at: datetime | None = None
    archived_by: str | None = None
    queued_at: datetime | None = None


class ChannelRepository(Protocol):
    """Port: channel members and archive state, in the caller's unit of work."""

    async def add_members(self, incident_id: uuid.UUID, users: Iterable[str],
                          at: datetime) -> None: ...
    async def members(self, incident_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, set[str]]: ...
    async def state(self, incident_id: uuid.UUID) -> ChannelState: ...
    async def set_archived(self, incident_id: uuid.UUID, at: datetime | None,
                           by: str | None) -> None: ...
    async def mark_queued(self, incident_id: uuid.UUID, at: datetime) -> None: ...
    async def due(self, closed_before: datetime, limit: int) -> list[ArchiveDue]: ...


Repositories = Callable[[UnitOfWork], ChannelRepository]
# Who is in a channel, as Slack says (conversations.members): for members added by hand
MemberLookup = Callable[[str], Awaitable[set[str]]]
MAX_LOOKUPS = 10  # channels asked about per look, at most


def is_private(incident: Incident, label: str) -> bool:
    return label.lower() in (x.lower() for x in incident.labels)


def with_private_label(labels: list[str], private: bool, label: str) -> list[str]:
    """The labels of a declaration, with the private label when it is private."""
    if private and label.lower() not in (x.lower() for x in labels):
        return [*labels, label]
    return labels


def may_see(incident: Incident, link: SlackLink | None, members: set[str], user_id: str) -> bool:
    """A member of the incident channel: the declarer, the commander, or someone invited."""
    declarer = (link.declarer_id if link else None) or incident.created_by
    return bool(user_id) and user_id in {declarer, incident.assigned_to, *members}


def redact(view: IncidentView) -> IncidentView:
    """The view a non-member gets: key, severity, status and times; no title, model,
    description, labels or timeline."""
    incident = replace(view.incident, title=HIDDEN_TITLE, description=None, labels=[],
                       runbook_url=None)
    model: MLModel | None = replace(view.model, name=HIDDEN_MODEL) if view.model else None
    return IncidentView(incident, model, view.link, [])


class ChannelLifecycle:
    """The use cases of item 8; the texts it queues come from ``last_words``."""

    def __init__(self, service: IncidentService, repositories: Repositories, private_label: str,
                 archive_after_days: int, last_words: Callable[[Incident, int], str]) -> None:
        self.service = service
        self.repositories = repositories
        self.private_label = private_label
        self.archive_after_days = archive_after_days
        self.last_words = last_words
        self.member_lookup: MemberLookup | None = None  # set by the feature: Slack's answer

    def is_private(self, incident: Incident) -> bool:
        return is_private(incident, self.private_label)

    async def shown_to(self, views: list[IncidentView], user_id: str) -> list[IncidentView]:
        """``views`` as ``user_id`` may see them: private incidents redacted for non-members."""
        private = [v for v in views if self.is_private(v.incident)]
        if not private:
            return views
        async with self.service.read_uow_factory() as uow:
            members = await self.repositories(uow).members([v.incident.id for v in private])
        unknown = [v for v in private
                   if not may_see(v.incident, v.link, members.get(v.incident.id, set()), user_id)]
        hidden = {v.incident.id for v in unknown} - await self._joined_by_hand(unknown, user_id)
        return [redact(v) if v.incident.id in hidden else v for v in views]

    async def _joined_by_hand(self, views: list[IncidentView], user_id: str) -> set[uuid.UUID]:
        """The incidents whose channel Slack says ``user_id`` is in although the bot did not
        invite them (a member added them): asked for a few channels at most, recorded so the
        next look needs no call. Slack unreachable: not shown (fails closed)."""
        found: set[uuid.UUID] = set()
        if self.member_lookup is None or not user_id:
            return found
        for view in views[:MAX_LOOKUPS]:
            if not (view.link and view.link.channel_id):
                continue
            try:
                in_channel = user_id in await self.member_lookup(view.link.channel_id)
            except Exception:  # noqa: BLE001 - any failure of the lookup hides, never shows
                continue
            if in_channel:
                found.add(view.incident.id)
        if found:
            async def record(uow: UnitOfWork) -> None:
                for incident_id in found:
                    await self.repositories(uow).add_members(
                        incident_id, [user_id], self.service.clock.now())

            await self.service.run(record)
        return found

    async def hidden_from_all(self, views: list[IncidentView]) -> list[IncidentView]:
        """For callers who are nobody's channel member (API clients, the status page)."""
        return [redact(v) if self.is_private(v.incident) else v for v in views]

    async def hide_private_followups(self, followups: Followups) -> Followups:
        """The weekly digest's overdue postmortems and action items with private incidents'
        titles and item texts hidden: the digest is posted in the incidents channel."""
        numbers = ({p.number for p in followups.postmortems}
                   | {a.incident_number for a in followups.actions})
        private: set[int] = set()
        async with self.service.read_uow_factory() as uow:
            for number in numbers:
                incident = await uow.incidents.get_by_number(number)
                if incident is not None and self.is_private(incident):
                    private.add(number)
        if not private:
            return followups
        return Followups(
            [replace(p, title=HIDDEN_TITLE) if p.number in private else p
             for p in followups.postmortems],
            [replace(a, text=HIDDEN_ITEM) if a.incident_number in private else a
             for a in followups.actions])

    async def archive_due(self, limit: int = 100) -> int:
        """Queue the archiving of every channel whose incident closed ARCHIVE_AFTER_DAYS ago."""
        if self.archive_after_days <= 0:
            return 0

        async def work(uow: UnitOfWork) -> int:
            now = self.service.clock.now()
            repo = self.repositories(uow)
            due = await repo.due(now - timedelta(days=self.archive_after_days), limit)
            for item in due:
                incident = await uow.incidents.get(item.incident_id)
                if incident is None:
                    continue
                await repo.mark_queued(item.incident_id, now)
                await uow.outbox.add(OutboxMessage(
                    ARCHIVE_CHANNEL, item.incident_id,
                    {"text": self.last_words(incident, self.archive_after_days)},
                    dedup_key=f"{item.incident_id}:archive"))
                await uow.audit.add(_audit(ARCHIVER, "incident.channel_archive_queued", incident,
                                           now, {"channel": item.channel_id,
                                                 "days": self.archive_after_days}))
            return len(due)

        return await self.service.run(work)

    async def record_archived(self, channel_id: str, actor: Actor, archived: bool = True) -> bool:
        """Slack says the incident channel was archived (or unarchived): record it, audited.
        False when the channel is no incident's or nothing changes (a redelivered event)."""

        async def work(uow: UnitOfWork) -> bool:
            link = await uow.slack_links.by_channel(channel_id)
            incident = await uow.incidents.get(link.incident_id) if link else None
            if incident is None:
                return False
            repo = self.repositories(uow)
            if ((await repo.state(incident.id)).archived_at is not None) == archived:
                return False
            now = self.service.clock.now()
            await repo.set_archived(incident.id, now if archived else None,
                                    actor.id if archived else None)
            action = "incident.channel_archived" if archived else "incident.channel_unarchived"
            await uow.audit.add(_audit(actor, action, incident, now, {"channel": channel_id}))
            return True

        return await self.service.run(work)


def _audit(actor: Actor, action: str, incident: Incident, at: datetime,
           details: dict[str, object]) -> AuditEvent:
    return AuditEvent(occurred_at=at, actor=actor.id, actor_name=actor.name, action=action,
                      resource_type="incident", resource_id=str(incident.id),
                      details={"number": incident.number, **details})

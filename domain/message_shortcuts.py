"""Notes from Slack messages (issue 19 item 2): the *Add to timeline* message shortcut, and the
trigger note of an incident declared from a message (*Declare incident*).

The rules, each a step of a use case here:

- A message is noted once, whichever incident holds it: its ``source_ref`` is the one
  ``handlers/slack_events.py`` gives the messages it captures in incident channels
  (``slack:{channel}:{ts}``), so a message already captured there, or added before, is
  "already on INC-n's timeline" and nothing is written.
- A message without words (a file, an image) is refused: the timeline keeps text.
- Where the note goes: the incident whose channel (or announcement thread) the message is in;
  otherwise the user picks among the active incidents, and with none active there is nothing
  to add it to.
- The note is dated when the message was sent (its ``ts``), names its author and links it
  (permalink); the person who added it is the note's actor, audited as for every note.
- A message added from outside the incident's channel is echoed there, so responders see it.

Slack's words for the channel posts are behind :class:`MessageNoteTexts`
(``bot/slack_ui/shortcuts.py``); which incident already holds a note behind :class:`NoteSources`
(``storage/message_shortcuts.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from domain.model import Actor, DomainError, Incident
from domain.ports import OutboxMessage, UnitOfWork
from domain.services import CHANNEL, DeclareIncident, IncidentRef, IncidentService, Outcome


class NoText(DomainError):
    def __init__(self) -> None:
        super().__init__("That message has no text to add (a file or an image alone is not "
                         "copied). Add what it shows with `/incident note <text>` in the "
                         "incident channel instead.")


class AlreadyOnTimeline(DomainError):
    def __init__(self, key: str) -> None:
        super().__init__(f"That message is already on {key}'s timeline; nothing was added.")
        self.key = key


class NoActiveIncident(DomainError):
    """No active incident to add a message to; the text is the texts port's (it names the
    chat's own ways to declare one)."""


def message_ref(channel: str, ts: str) -> str:
    """The timeline ``source_ref`` of a Slack message: the same for a message captured in an
    incident channel and for one added by the shortcut, so either way it is noted once."""
    return f"slack:{channel}:{ts}"


def sent_at(ts: str) -> datetime | None:
    """When a message was sent, from its Slack ``ts`` (``1700000000.000100``); None if not one."""
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


@dataclass(frozen=True)
class SlackMessage:
    """The message a shortcut was used on, as Slack sent it in the payload."""

    channel: str
    ts: str
    author: str  # a user id (U...), or for an integration's message its bot id or name
    text: str
    thread_ts: str | None = None
    permalink: str | None = None

    @property
    def source_ref(self) -> str:
        return message_ref(self.channel, self.ts)

    @property
    def has_text(self) -> bool:
        return bool(self.text.strip())


class NoteSources(Protocol):
    """Port: which incident's timeline already holds a note with a given ``source_ref``."""

    async def incident_noting(self, source_ref: str) -> uuid.UUID | None: ...


class MessageNoteTexts(Protocol):
    """Port: what the bot posts in the incident channel about a message, and what the timeline
    keeps of it (``note``: who wrote it and where, the words, the link back), and why there is
    nowhere to add it (``no_active_incident``)."""

    def added(self, incident: Incident, message: SlackMessage, actor: Actor) -> str: ...
    def declared_from(self, incident: Incident, message: SlackMessage) -> str: ...
    def note(self, message: SlackMessage) -> str: ...
    def no_active_incident(self) -> str: ...


@dataclass(frozen=True)
class Placement:
    """Where a message's note goes: ``incident`` when the message is in its channel or its
    announcement's thread; otherwise ``choices``, the active incidents to pick from."""

    incident: Incident | None = None
    choices: list[Incident] = field(default_factory=list)


Sources = Callable[[UnitOfWork], NoteSources]


class MessageNotes:
    """The message shortcut use cases, on the incident service's units of work."""

    def __init__(self, service: IncidentService, sources: Sources, texts: MessageNoteTexts) -> None:
        self.service = service
        self.sources = sources
        self.texts = texts

    async def place(self, message: SlackMessage) -> Placement:
        """Where *Add to timeline* puts ``message``; refuses a message without text, one
        already noted, and (when the user would have to pick) having no active incident."""
        if not message.has_text:
            raise NoText()
        async with self.service.read_uow_factory() as uow:
            await self._refuse_noted(uow, message)
            link = await uow.slack_links.by_channel(message.channel)
            if link is None:
                link = await uow.slack_links.by_announcement(
                    message.channel, message.thread_ts or message.ts)
            incident = await uow.incidents.get(link.incident_id) if link else None
        if incident is not None:
            return Placement(incident=incident)
        choices = [v.incident for v in await self.service.list_incidents(limit=100)]
        if not choices:
            raise NoActiveIncident(self.texts.no_active_incident())
        return Placement(choices=choices)

    async def add(self, ref: IncidentRef, message: SlackMessage, actor: Actor) -> Outcome:
        """Note ``message`` on the incident, in one transaction: the note (dated when the message
        was sent), its audit with ``actor``, and the echo in the incident channel when the
        message is from elsewhere. A message already noted writes nothing."""
        if not message.has_text:
            raise NoText()

        async def work(uow: UnitOfWork) -> Outcome:
            await self._refuse_noted(uow, message)
            outcome = await self.service.add_note_in(
                uow, ref, actor, self.texts.note(message), occurred_at=sent_at(message.ts),
                source_ref=message.source_ref)
            if not outcome.changed:  # noted meanwhile by a concurrent request
                await self._refuse_noted(uow, message)
                raise AlreadyOnTimeline("another incident")
            link = await uow.slack_links.get(outcome.incident.id)
            if link is None or link.channel_id != message.channel:
                await uow.outbox.add(OutboxMessage(CHANNEL, outcome.incident.id, {
                    "text": self.texts.added(outcome.incident, message, actor)}))
            return Outcome(outcome.incident, f"Added to {outcome.incident.key}'s timeline.")

        return await self.service.run(work)

    async def declare_from(self, cmd: DeclareIncident, message: SlackMessage,
                           actor: Actor) -> Incident:
        """:func:`declare_from` on this use case's service and texts."""
        return await declare_from(self.service, self.texts, cmd, message, actor)

    async def _refuse_noted(self, uow: UnitOfWork, message: SlackMessage) -> None:
        incident_id = await self.sources(uow).incident_noting(message.source_ref)
        if incident_id is None:
            return
        incident = await uow.incidents.get(incident_id)
        raise AlreadyOnTimeline(incident.key if incident else "another incident")


async def declare_from(service: IncidentService, texts: MessageNoteTexts, cmd: DeclareIncident,
                       message: SlackMessage, actor: Actor) -> Incident:
    """Declare an incident from ``message``, in one transaction: the incident, the message as
    its trigger note, dated when it was sent (so it comes first) and holding its link, and a
    post in the new incident channel linking it. A message already on another incident's
    timeline is linked all the same."""

    async def work(uow: UnitOfWork) -> Incident:
        incident = await service.declare_in(uow, cmd, actor)
        ref = IncidentRef(incident_id=incident.id)
        body = "Declared from the message of " + texts.note(message)
        when = sent_at(message.ts)
        outcome = await service.add_note_in(uow, ref, actor, body, occurred_at=when,
                                            source_ref=message.source_ref)
        if not outcome.changed:
            await service.add_note_in(uow, ref, actor, body, occurred_at=when)
        await uow.outbox.add(OutboxMessage(CHANNEL, incident.id, {
            "text": texts.declared_from(incident, message)}))
        return incident

    return await service.run(work)

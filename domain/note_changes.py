"""Notes captured from chat messages follow their message (issue 19, items 3 and 4).

* **Key notes.** A configured reaction or a pin on a message marks its note *key*; the note is
  key while at least one mark remains (each person's reaction is a mark of its own, the pin
  another), so one person removing their reaction does not unmark what a colleague marked.
  A mark on a message not captured yet (posted before the channel was linked, or by a bot)
  captures it first. Key notes open the postmortem draft and the catch-up.
* **Edits and deletions.** An edited message updates its note (the text passes the same
  boundary as a new note); a deleted one hides its note from the timeline, the postmortem
  draft and the API without erasing it. Each change is audited with the old and the new text:
  the audit trail is the edit history.

Chat events arrive more than once and out of order (retries, redeliveries), so each change
carries the chat's own stamp of when it happened (``version``): a change never undoes a newer
one, and the same event applied twice changes nothing (its event id is also recorded in the
change's transaction). Storage is behind :class:`NoteChanges` (``storage/note_changes.py``),
attached to the unit of work as ``note_changes``: ``uow.note_changes.key_notes(incident_id)``
and ``key_note_ids(incident_id)`` are what other features read.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

from domain import text_boundary
from domain.model import Actor, AuditEvent, Incident
from domain.ports import UnitOfWork
from domain.services import IncidentRef, IncidentService

KEY_MARKED = "incident.note_key_marked"
KEY_UNMARKED = "incident.note_key_unmarked"
EDITED = "incident.note_edited"
DELETED = "incident.note_deleted"
EVENT_SOURCE = "chat:note_change"  # processed_events.source of the events applied here
PIN = "pin"


def reaction_mark(user_id: str) -> str:
    """The mark one person's reaction makes (each reactor counts on their own)."""
    return f"reaction:{user_id}"


def version_key(version: str | None) -> tuple[int, int]:
    """Order the chat's stamps (``1700000000.000100``) exactly; an unreadable one is oldest."""
    sec, _, frac = str(version or "").partition(".")
    try:
        return int(sec), int((frac + "000000")[:6] or 0)
    except ValueError:
        return -1, 0


@dataclass(frozen=True)
class KeyMark:
    active: bool
    version: str
    by: str


@dataclass
class CapturedNote:
    """A note that came from a chat message, with what happened to it since."""

    event_id: uuid.UUID
    incident_id: uuid.UUID
    source_ref: str
    text: str
    author: str
    occurred_at: datetime
    edited_version: str | None = None
    deleted_at: datetime | None = None
    marks: dict[str, KeyMark] = field(default_factory=dict)

    @property
    def is_key(self) -> bool:
        return any(mark.active for mark in self.marks.values())

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


@dataclass(frozen=True)
class KeyNote:
    """A key note as the catch-up and the postmortem show it (deleted notes never are)."""

    event_id: uuid.UUID
    incident_id: uuid.UUID
    occurred_at: datetime
    text: str
    author: str
    author_name: str | None
    source_ref: str | None
    marked_at: datetime


@dataclass(frozen=True)
class SeenMessage:
    """A message as the chat shows it, for capturing it when it is marked before it was noted."""

    text: str
    author: Actor
    posted_at: datetime
    thread_root: str | None = None  # the thread's first message, when a reply


class NoteChanges(Protocol):
    """Port: the captured notes' marks, edits and deletions, in the caller's unit of work."""

    async def find(self, source_ref: str) -> CapturedNote | None:
        """The note captured from this message (deleted or not), with its marks."""
        ...

    async def save_mark(self, note: CapturedNote, mark: str, state: KeyMark,
                        at: datetime) -> None: ...

    async def save_text(self, note: CapturedNote, text: str, version: str,
                        at: datetime) -> None: ...

    async def mark_deleted(self, note: CapturedNote, at: datetime, by: str) -> None: ...

    async def key_notes(self, incident_id: uuid.UUID) -> list[KeyNote]:
        """The incident's notes with an active mark, not deleted, oldest first."""
        ...

    async def key_note_ids(self, incident_id: uuid.UUID) -> frozenset[uuid.UUID]:
        """The timeline event ids of :meth:`key_notes`."""
        ...


class NoteChangesUnitOfWork(UnitOfWork, Protocol):
    note_changes: NoteChanges


def note_changes_of(uow: UnitOfWork) -> NoteChanges:
    """The unit of work's note changes (``storage.uow.SqlUnitOfWork.note_changes``)."""
    return cast(NoteChangesUnitOfWork, uow).note_changes


# -- rules (pure) -----------------------------------------------------------------------------

def decide_mark(note: CapturedNote, mark: str, on: bool, version: str,
                by: str) -> KeyMark | None:
    """The mark's new state, or None when the event is a replay or older than the mark's last
    change. A removal before its addition (reordered delivery) is kept as an inactive mark, so
    the late addition stays undone."""
    current = note.marks.get(mark)
    if current is not None and version_key(version) <= version_key(current.version):
        return None
    return KeyMark(on, version, by)


def decide_edit(note: CapturedNote, text: str, version: str) -> str | None:
    """The note's new text, or None: deleted, an older or replayed edit, nothing changed."""
    if note.deleted or not text.strip() or text == note.text:
        return None
    if note.edited_version is not None and version_key(version) <= version_key(note.edited_version):
        return None
    return text


def normalise_reaction(name: str) -> str:
    """``:pushpin:`` / ``+1::skin-tone-2`` -> the emoji's base name, as settings compare it."""
    return name.strip().strip(":").split("::", 1)[0].lower()


# -- use cases --------------------------------------------------------------------------------

class MarkOutcome(enum.Enum):
    CHANGED = "changed"  # the mark changed (audited)
    UNCHANGED = "unchanged"  # a replay, an older event, or nothing to change
    IGNORED = "ignored"  # not a note of an incident, and not to be captured
    NEEDS_MESSAGE = "needs_message"  # not captured yet: call again with the message


@dataclass(frozen=True)
class MarkRequest:
    """Someone added or removed a key mark on the message ``source_ref`` in ``channel``."""

    source_ref: str
    channel: str
    mark: str
    on: bool
    version: str
    actor: Actor
    event_id: str | None = None


class CapturedNotes:
    """The use cases; each one transaction on the incident service's units of work."""

    def __init__(self, service: IncidentService) -> None:
        self.service = service

    async def mark(self, request: MarkRequest, message: SeenMessage | None = None) -> MarkOutcome:
        """Apply a key mark; capture the message first when it was not noted yet and is in an
        incident channel or an announcement's thread (NEEDS_MESSAGE asks the caller for it)."""
        return await self.service.run(lambda uow: self._mark(uow, request, message))

    async def _mark(self, uow: UnitOfWork, request: MarkRequest,
                    message: SeenMessage | None) -> MarkOutcome:
        notes = note_changes_of(uow)
        note = await notes.find(request.source_ref)
        if note is None:
            if not request.on:
                return MarkOutcome.IGNORED
            if message is None:
                return (MarkOutcome.NEEDS_MESSAGE if await self._may_hold_notes(uow, request.channel)
                        else MarkOutcome.IGNORED)
            note = await self._capture(uow, request, message)
            if note is None:
                return MarkOutcome.IGNORED
        if note.deleted:
            return MarkOutcome.IGNORED
        if not await _first_time(uow, request.event_id):
            return MarkOutcome.UNCHANGED
        state = decide_mark(note, request.mark, request.on, request.version, request.actor.id)
        if state is None:
            return MarkOutcome.UNCHANGED
        was = note.marks.get(request.mark)
        was_key = note.is_key
        await notes.save_mark(note, request.mark, state, self.service.clock.now())
        note.marks[request.mark] = state
        if (was.active if was else False) == state.active:
            return MarkOutcome.UNCHANGED  # e.g. a removal that arrived before its addition
        incident = await uow.incidents.get(note.incident_id)
        action = KEY_MARKED if state.active else KEY_UNMARKED
        await uow.audit.add(self._audit(request.actor, action, note, incident, {
            "mark": request.mark.split(":", 1)[0], "key": note.is_key, "was_key": was_key}))
        return MarkOutcome.CHANGED

    async def _may_hold_notes(self, uow: UnitOfWork, channel: str) -> bool:
        """Worth fetching the message: an incident channel, or where incidents are announced."""
        if await uow.slack_links.by_channel(channel) is not None:
            return True
        return await uow.slack_links.latest_announcement_channel() == channel

    async def _capture(self, uow: UnitOfWork, request: MarkRequest,
                       message: SeenMessage) -> CapturedNote | None:
        link = await uow.slack_links.by_channel(request.channel)
        if link is None and message.thread_root:
            link = await uow.slack_links.by_announcement(request.channel, message.thread_root)
        if link is None or not text_boundary.clean(message.text, "note").strip():
            return None
        await self.service.add_note_in(uow, IncidentRef(incident_id=link.incident_id),
                                       message.author, message.text.strip(),
                                       occurred_at=message.posted_at,
                                       source_ref=request.source_ref)
        return await note_changes_of(uow).find(request.source_ref)

    async def edit(self, source_ref: str, text: str, version: str, actor: Actor,
                   event_id: str | None = None) -> bool:
        """The message was edited: its note takes the new text (scrubbed as a new note is),
        the old and the new text audited. False when nothing changed (not captured, deleted,
        a replay or an older edit)."""
        cleaned = text_boundary.clean(text, "note").strip()

        async def work(uow: UnitOfWork) -> bool:
            notes = note_changes_of(uow)
            note = await notes.find(source_ref)
            if note is None or decide_edit(note, cleaned, version) is None:
                return False
            if not await _first_time(uow, event_id):
                return False
            await notes.save_text(note, cleaned, version, self.service.clock.now())
            incident = await uow.incidents.get(note.incident_id)
            await uow.audit.add(self._audit(actor, EDITED, note, incident, {
                "old": note.text, "new": cleaned, "version": version}))
            return True

        return await self.service.run(work)

    async def delete(self, source_ref: str, actor: Actor, event_id: str | None = None) -> bool:
        """The message was deleted: its note is hidden (kept), the text it had audited."""

        async def work(uow: UnitOfWork) -> bool:
            notes = note_changes_of(uow)
            note = await notes.find(source_ref)
            if note is None or note.deleted or not await _first_time(uow, event_id):
                return False
            await notes.mark_deleted(note, self.service.clock.now(), actor.id)
            incident = await uow.incidents.get(note.incident_id)
            await uow.audit.add(self._audit(actor, DELETED, note, incident, {"old": note.text}))
            return True

        return await self.service.run(work)

    async def key_notes(self, incident_id: uuid.UUID) -> list[KeyNote]:
        """The incident's key notes, oldest first (the postmortem's "Key moments")."""
        async with self.service.read_uow_factory() as uow:
            return await note_changes_of(uow).key_notes(incident_id)

    async def key_note_ids(self, incident_id: uuid.UUID) -> frozenset[uuid.UUID]:
        async with self.service.read_uow_factory() as uow:
            return await note_changes_of(uow).key_note_ids(incident_id)

    def _audit(self, actor: Actor, action: str, note: CapturedNote, incident: Incident | None,
               details: dict[str, Any]) -> AuditEvent:
        return AuditEvent(
            occurred_at=self.service.clock.now(), actor=actor.id, actor_name=actor.name,
            action=action, resource_type="incident", resource_id=str(note.incident_id),
            details={"number": incident.number if incident else None,
                     "source_ref": note.source_ref, "timeline_event_id": str(note.event_id),
                     **details})


async def _first_time(uow: UnitOfWork, event_id: str | None) -> bool:
    """Record the chat event as applied (in this transaction); False for a redelivery."""
    return event_id is None or await uow.processed.first_time(EVENT_SOURCE, event_id)

"""The note-change tables behind ``domain.note_changes.NoteChanges``: key marks,
edits and deletions of notes captured from chat messages, in the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.note_changes import CapturedNote, KeyMark, KeyNote
from storage import tables as t
from storage.note_changes_tables import not_deleted, note_changes, note_key_marks
from storage.repositories import _insert


class SqlNoteChanges:
    """One unit of work's view of the message-note tables."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def find(self, source_ref: str) -> CapturedNote | None:
        tl = t.incident_timeline
        row = (await self.conn.execute(
            sa.select(tl.c.id, tl.c.incident_id, tl.c.body, tl.c.author, tl.c.occurred_at,
                      note_changes.c.edited_version, note_changes.c.deleted_at)
            .outerjoin(note_changes, note_changes.c.timeline_event_id == tl.c.id)
            .where(tl.c.source_ref == source_ref))).first()
        if row is None:
            return None
        marks = (await self.conn.execute(
            sa.select(note_key_marks.c.mark, note_key_marks.c.active, note_key_marks.c.version,
                      note_key_marks.c.changed_by)
            .where(note_key_marks.c.timeline_event_id == row.id))).all()
        return CapturedNote(
            event_id=row.id, incident_id=row.incident_id, source_ref=source_ref, text=row.body,
            author=row.author, occurred_at=row.occurred_at, edited_version=row.edited_version,
            deleted_at=row.deleted_at,
            marks={m.mark: KeyMark(bool(m.active), m.version, m.changed_by) for m in marks})

    async def save_mark(self, note: CapturedNote, mark: str, state: KeyMark,
                        at: datetime) -> None:
        values = {"active": state.active, "version": state.version, "changed_by": state.by,
                  "changed_at": at}
        await self.conn.execute(_insert(self.conn, note_key_marks).values(
            timeline_event_id=note.event_id, mark=mark, incident_id=note.incident_id, **values)
            .on_conflict_do_update(index_elements=["timeline_event_id", "mark"], set_=values))

    async def _upsert_state(self, note: CapturedNote, values: dict[str, object]) -> None:
        await self.conn.execute(_insert(self.conn, note_changes).values(
            timeline_event_id=note.event_id, incident_id=note.incident_id, **values)
            .on_conflict_do_update(index_elements=["timeline_event_id"], set_=values))

    async def save_text(self, note: CapturedNote, text: str, version: str,
                        at: datetime) -> None:
        await self.conn.execute(t.incident_timeline.update().where(
            t.incident_timeline.c.id == note.event_id).values(body=text))
        await self._upsert_state(note, {"edited_version": version, "edited_at": at})

    async def mark_deleted(self, note: CapturedNote, at: datetime, by: str) -> None:
        await self._upsert_state(note, {"deleted_at": at, "deleted_by": by})

    async def key_notes(self, incident_id: uuid.UUID) -> list[KeyNote]:
        tl, marks = t.incident_timeline, note_key_marks
        rows = (await self.conn.execute(
            sa.select(tl.c.id, tl.c.incident_id, tl.c.occurred_at, tl.c.body, tl.c.author,
                      tl.c.author_name, tl.c.source_ref,
                      sa.func.min(marks.c.changed_at).label("marked_at"))
            .join(marks, marks.c.timeline_event_id == tl.c.id)
            .where(tl.c.incident_id == incident_id, marks.c.active.is_(True), not_deleted(tl))
            .group_by(tl.c.id, tl.c.incident_id, tl.c.occurred_at, tl.c.body, tl.c.author,
                      tl.c.author_name, tl.c.source_ref)
            .order_by(tl.c.occurred_at, tl.c.id))).all()
        return [KeyNote(r.id, r.incident_id, r.occurred_at, r.body, r.author, r.author_name,
                        r.source_ref, r.marked_at) for r in rows]

    async def key_note_ids(self, incident_id: uuid.UUID) -> frozenset[uuid.UUID]:
        return frozenset(note.event_id for note in await self.key_notes(incident_id))

"""Notes captured from Slack messages: key marks, edits and deletions (issue 19, items 3 and 4).

The note itself stays a row of ``incident_timeline`` (its ``source_ref`` names the message);
these tables hold what happened to it afterwards, so the timeline table keeps the data
dictionary's columns.
"""

from __future__ import annotations

import sqlalchemy as sa

from storage.tables import UTCDateTime, metadata

# One row per captured note that was edited or deleted: the Slack edit stamp of the text shown
# (an older or replayed edit never overwrites a newer one) and when the message was deleted
# (the note is hidden everywhere, never erased).
note_changes = sa.Table(
    "note_changes", metadata,
    sa.Column("timeline_event_id", sa.Uuid(), sa.ForeignKey("incident_timeline.id"),
              primary_key=True),
    sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), nullable=False),
    sa.Column("edited_version", sa.String(32)),
    sa.Column("edited_at", UTCDateTime()),
    sa.Column("deleted_at", UTCDateTime()),
    sa.Column("deleted_by", sa.String(255)),
    sa.Index("ix_note_changes_incident", "incident_id"),
)

# What makes a note key: one row per marker (``reaction:<user>`` for each person who reacted
# with KEY_NOTE_REACTION, ``pin`` for a pin). A note is key while one of its marks is active;
# ``version`` is the Slack event stamp of the last change applied, so a redelivered or late
# event never undoes a newer one.
note_key_marks = sa.Table(
    "note_key_marks", metadata,
    sa.Column("timeline_event_id", sa.Uuid(), sa.ForeignKey("incident_timeline.id"),
              primary_key=True),
    sa.Column("mark", sa.String(80), primary_key=True),
    sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("changed_by", sa.String(255), nullable=False),
    sa.Column("changed_at", UTCDateTime(), nullable=False),
    sa.Index("ix_note_key_marks_incident", "incident_id", "active"),
)


def not_deleted(timeline: sa.Table) -> sa.ColumnElement[bool]:
    """A WHERE clause keeping the timeline rows whose message was not deleted (every reader of
    the timeline: the deleted note is hidden, not erased)."""
    return ~sa.exists().where(note_changes.c.timeline_event_id == timeline.c.id,
                              note_changes.c.deleted_at.is_not(None))

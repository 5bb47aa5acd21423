"""Notes from Slack messages: key marks, edits and deletions (issue 19, items 3 and 4).

``note_changes`` holds the edit stamp and the deletion of a captured note (the note stays in
``incident_timeline``, hidden once deleted); ``note_key_marks`` the reactions and pins that
make a note key (storage/note_changes_tables.py).

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "note_changes",
        sa.Column("timeline_event_id", sa.Uuid(), sa.ForeignKey(
            "incident_timeline.id", name="fk_note_changes_timeline_event_id_incident_timeline"),
            nullable=False),
        sa.Column("incident_id", sa.Uuid(), sa.ForeignKey(
            "incidents.id", name="fk_note_changes_incident_id_incidents"), nullable=False),
        sa.Column("edited_version", sa.String(32)),
        sa.Column("edited_at", UTCDateTime()),
        sa.Column("deleted_at", UTCDateTime()),
        sa.Column("deleted_by", sa.String(255)),
        sa.PrimaryKeyConstraint("timeline_event_id", name="pk_note_changes"),
    )
    op.create_index("ix_note_changes_incident", "note_changes", ["incident_id"])
    op.create_table(
        "note_key_marks",
        sa.Column("timeline_event_id", sa.Uuid(), sa.ForeignKey(
            "incident_timeline.id", name="fk_note_key_marks_timeline_event_id_incident_timeline"),
            nullable=False),
        sa.Column("mark", sa.String(80), nullable=False),
        sa.Column("incident_id", sa.Uuid(), sa.ForeignKey(
            "incidents.id", name="fk_note_key_marks_incident_id_incidents"), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("changed_by", sa.String(255), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("timeline_event_id", "mark", name="pk_note_key_marks"),
    )
    op.create_index("ix_note_key_marks_incident", "note_key_marks", ["incident_id", "active"])


def downgrade() -> None:
    op.drop_index("ix_note_key_marks_incident", table_name="note_key_marks")
    op.drop_table("note_key_marks")
    op.drop_index("ix_note_changes_incident", table_name="note_changes")
    op.drop_table("note_changes")

"""Incident roles beyond the commander and update-reminder snoozes (issue 19, items 1 and 6):
``incident_roles`` (who holds which role of the policy's ``roles:``; the commander stays
``incidents.assigned_to``) and ``incident_update_snoozes`` (when an incident's update reminder
is snoozed until, read by the SLO tick).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident_roles",
        sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("role", sa.String(24), primary_key=True),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("assigned_at", UTCDateTime(), nullable=False),
        sa.Column("assigned_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "incident_update_snoozes",
        sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("snoozed_until", UTCDateTime(), nullable=False),
        sa.Column("snoozed_by", sa.String(128), nullable=False),
        sa.Column("snoozed_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("incident_update_snoozes")
    op.drop_table("incident_roles")

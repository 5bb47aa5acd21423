"""Runbook checklists (issue 8).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident_runbooks",
        sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("runbook", sa.String(200), nullable=False),
        sa.Column("version", sa.String(50), nullable=False),
        sa.Column("selected_at", UTCDateTime(), nullable=False),
        sa.Column("selected_by", sa.String(255), nullable=False),
        sa.Column("message_channel", sa.String(64)),
        sa.Column("message_ts", sa.String(32)),
    )
    op.create_table(
        "runbook_steps_done",
        sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("runbook", sa.String(200), primary_key=True),
        sa.Column("version", sa.String(50), primary_key=True),
        sa.Column("step_id", sa.String(20), primary_key=True),
        sa.Column("done_by", sa.String(255), nullable=False),
        sa.Column("done_by_name", sa.String(255)),
        sa.Column("done_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("runbook_steps_done")
    op.drop_table("incident_runbooks")

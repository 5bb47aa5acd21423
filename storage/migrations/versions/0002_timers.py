"""SLO clocks: fired timers and per-incident wake-up times (issue 3).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident_timers_fired",
        sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("fired_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "incident_clocks",
        sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("episode_started_at", UTCDateTime()),
        sa.Column("last_update_at", UTCDateTime()),
        sa.Column("planned_version", sa.Integer()),
        sa.Column("wake_at", UTCDateTime()),
    )
    op.create_index("ix_incident_clocks_wake_at", "incident_clocks", ["wake_at"])
    op.create_index("ix_incident_clocks_planned_version", "incident_clocks", ["planned_version"])


def downgrade() -> None:
    op.drop_index("ix_incident_clocks_planned_version", table_name="incident_clocks")
    op.drop_index("ix_incident_clocks_wake_at", table_name="incident_clocks")
    op.drop_table("incident_clocks")
    op.drop_table("incident_timers_fired")

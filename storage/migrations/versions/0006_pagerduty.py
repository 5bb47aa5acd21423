"""PagerDuty and Alertmanager links (issue 5).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pagerduty_links",
        sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("pd_incident_id", sa.String(64), unique=True),
        sa.Column("pd_url", sa.Text()),
        sa.Column("last_event_at", UTCDateTime()),
        sa.Column("page_dedup_key", sa.String(255), unique=True),
        sa.Column("page_routing_key", sa.String(255)),
    )
    op.create_table(
        "alertmanager_groups",
        sa.Column("group_key", sa.String(1000), primary_key=True),
        sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alertmanager_groups")
    op.drop_table("pagerduty_links")

"""On-call and paging from Slack (issue 19, item 7): pagerduty_pages (each `/incident page`, and
the PagerDuty incident an Events API page opened) and pagerduty_ack_invites (an acknowledging
responder invited to the channel once).

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pagerduty_pages",
        sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("number", sa.Integer(), primary_key=True),
        sa.Column("target_kind", sa.String(8), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("dedup_key", sa.String(255)),
        sa.Column("routing_key", sa.String(255)),
        sa.Column("pd_incident_id", sa.String(64)),
        sa.Column("pd_target_id", sa.String(64)),
    )
    op.create_index("ix_pagerduty_pages_dedup_key", "pagerduty_pages", ["dedup_key"])
    op.create_index("ix_pagerduty_pages_pd_incident_id", "pagerduty_pages", ["pd_incident_id"])
    op.create_table(
        "pagerduty_ack_invites",
        sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("pd_user_id", sa.String(64), primary_key=True),
        sa.Column("invited_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pagerduty_ack_invites")
    op.drop_index("ix_pagerduty_pages_pd_incident_id", table_name="pagerduty_pages")
    op.drop_index("ix_pagerduty_pages_dedup_key", table_name="pagerduty_pages")
    op.drop_table("pagerduty_pages")

"""Insights (issue 21): tracker tickets on action items, digests sent.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "action_item_tickets",
        sa.Column("action_item_id", sa.Uuid(), sa.ForeignKey("action_items.id"), primary_key=True),
        sa.Column("tracker", sa.String(16), nullable=False),
        sa.Column("ticket_key", sa.String(128), nullable=False),
        sa.Column("ticket_url", sa.Text(), nullable=False),
        sa.Column("exported_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime()),
        sa.UniqueConstraint("tracker", "ticket_key", name="uq_action_item_tickets_tracker"),
    )
    op.create_table(
        "digests_sent",
        sa.Column("period_start", UTCDateTime(), primary_key=True),
        sa.Column("period_end", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.Column("incidents", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("digests_sent")
    op.drop_table("action_item_tickets")

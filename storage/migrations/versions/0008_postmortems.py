"""Postmortems and action items (issue 6).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "postmortems",
        sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("due_at", UTCDateTime()),
        sa.Column("draft_posted_at", UTCDateTime()),
        sa.Column("draft_posted_by", sa.String(255)),
        sa.Column("reminded_at", UTCDateTime()),
    )
    op.create_table(
        "action_items",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), nullable=False, index=True),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("ticket", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("incident_id", "number"),
    )


def downgrade() -> None:
    op.drop_table("action_items")
    op.drop_table("postmortems")

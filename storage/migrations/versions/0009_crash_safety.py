"""Crash safety: the Slack request inbox, outbox lanes and claim counts (issue 12).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import BigIntPK, UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("lane", sa.String(160), nullable=False,
                                   server_default="slack"))
        batch.add_column(sa.Column("claims", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("claimed_by", sa.String(160)))
    op.execute("UPDATE outbox SET lane = 'pagerduty' WHERE kind LIKE 'pagerduty%'")
    op.create_index("ix_outbox_lane", "outbox", ["status", "incident_id", "lane", "id"])
    op.create_table(
        "slack_inbox",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("request_key", sa.String(160), nullable=False, unique=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(120), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(160)),
        sa.Column("lease_until", UTCDateTime()),
        sa.Column("replays", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("finished_at", UTCDateTime()),
    )
    op.create_index("ix_slack_inbox_pending", "slack_inbox", ["status", "lease_until"])
    op.create_table(
        "applied_requests",
        sa.Column("request_key", sa.String(160), primary_key=True),
        sa.Column("applied_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("applied_requests")
    op.drop_index("ix_slack_inbox_pending", table_name="slack_inbox")
    op.drop_table("slack_inbox")
    op.drop_index("ix_outbox_lane", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claimed_by")
        batch.drop_column("claims")
        batch.drop_column("lane")

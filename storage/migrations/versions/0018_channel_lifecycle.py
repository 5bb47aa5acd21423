"""Channel lifecycle: private incidents, channel names, archiving after close (issue 19, item 8).

``channel_members``: the users the bot invited to an incident channel (with the declarer and the
commander, the people who may see a private incident). ``channel_archives``: when the archive
job queued a channel and when it was archived (by the bot or by hand: Slack's channel_archive).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_members",
        sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("added_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "channel_archives",
        sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("queued_at", UTCDateTime()),
        sa.Column("archived_at", UTCDateTime()),
        sa.Column("archived_by", sa.String(255)),
    )


def downgrade() -> None:
    op.drop_table("channel_archives")
    op.drop_table("channel_members")

"""Incident channel lifecycle (issue 19 item 8): who the bot invited to a channel (the members
who may see a private incident) and when the channel was archived."""

from __future__ import annotations

import sqlalchemy as sa

from storage.tables import UTCDateTime, metadata

channel_members = sa.Table(
    "channel_members", metadata,
    sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("user_id", sa.String(64), primary_key=True),
    sa.Column("added_at", UTCDateTime(), nullable=False),
)

channel_archives = sa.Table(
    "channel_archives", metadata,
    sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("queued_at", UTCDateTime()),  # the archive job queued it (once)
    sa.Column("archived_at", UTCDateTime()),  # Slack archived it (the bot, or a person)
    sa.Column("archived_by", sa.String(255)),
)

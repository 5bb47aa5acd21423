"""Insights storage (issue 21): tracker tickets of action items, and the weekly digests sent.

``action_item_tickets`` sits beside ``action_items`` (one row per exported item) rather than
adding columns to it: the ticket is the tracker's, its state is refreshed from there, and an
item that was never exported simply has no row.
"""

from __future__ import annotations

import sqlalchemy as sa

from storage.tables import UTCDateTime, metadata

action_item_tickets = sa.Table(
    "action_item_tickets", metadata,
    sa.Column("action_item_id", sa.Uuid(), sa.ForeignKey("action_items.id"), primary_key=True),
    sa.Column("tracker", sa.String(16), nullable=False),  # jira | github | linear
    sa.Column("ticket_key", sa.String(128), nullable=False),  # OPS-12, org/repo#7, ENG-3
    sa.Column("ticket_url", sa.Text(), nullable=False),
    sa.Column("exported_at", UTCDateTime(), nullable=False),
    sa.Column("closed_at", UTCDateTime()),  # when the tracker said the ticket is done
    sa.UniqueConstraint("tracker", "ticket_key"),
)

# One row per digest period: written with the digest's outbox rows, so a restart or a second
# replica never posts the same week twice.
digests_sent = sa.Table(
    "digests_sent", metadata,
    sa.Column("period_start", UTCDateTime(), primary_key=True),
    sa.Column("period_end", UTCDateTime(), nullable=False),
    sa.Column("sent_at", UTCDateTime(), nullable=False),
    sa.Column("incidents", sa.Integer(), nullable=False),
)

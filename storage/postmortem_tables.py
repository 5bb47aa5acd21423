"""Postmortems and their action items (GOV-001 section 8; issue 6)."""

from __future__ import annotations

import sqlalchemy as sa

from storage.tables import UTCDateTime, metadata

postmortems = sa.Table(
    "postmortems", metadata,
    sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("required", sa.Boolean(), nullable=False),
    sa.Column("due_at", UTCDateTime()),  # the postmortem clock, opened at resolve
    sa.Column("draft_posted_at", UTCDateTime()),
    sa.Column("draft_posted_by", sa.String(255)),
    sa.Column("reminded_at", UTCDateTime()),  # the overdue reminder, sent once
    # a duplicate's: the incident whose postmortem covers it (issue 19; migration 0019)
    sa.Column("waived_for", sa.Uuid()),
)

action_items = sa.Table(
    "action_items", metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), nullable=False, index=True),
    sa.Column("number", sa.Integer(), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("due_date", sa.Date(), nullable=False),
    sa.Column("severity", sa.String(8), nullable=False),
    sa.Column("ticket", sa.String(500), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open | done
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("incident_id", "number"),
)

"""Which runbook each incident follows, its checklist message, and the steps done (issue 8)."""

from __future__ import annotations

import sqlalchemy as sa

from storage.tables import UTCDateTime, metadata

incident_runbooks = sa.Table(
    "incident_runbooks", metadata,
    sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("runbook", sa.String(200), nullable=False),
    sa.Column("version", sa.String(50), nullable=False),
    sa.Column("selected_at", UTCDateTime(), nullable=False),
    sa.Column("selected_by", sa.String(255), nullable=False),
    sa.Column("message_channel", sa.String(64)),  # the checklist message, once posted
    sa.Column("message_ts", sa.String(32)),
)

runbook_steps_done = sa.Table(
    "runbook_steps_done", metadata,
    sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("runbook", sa.String(200), primary_key=True),
    sa.Column("version", sa.String(50), primary_key=True),
    sa.Column("step_id", sa.String(20), primary_key=True),
    sa.Column("done_by", sa.String(255), nullable=False),
    sa.Column("done_by_name", sa.String(255)),
    sa.Column("done_at", UTCDateTime(), nullable=False),
)

"""Pages sent from Slack and the responders invited on acknowledge (issue 19, item 7)."""

from __future__ import annotations

import sqlalchemy as sa

from storage.tables import UTCDateTime, metadata

# One row per `/incident page`: whom, how (responders on the linked PagerDuty incident, or an
# Events API v2 event), and the PagerDuty incident an event opened once its webhook says so.
pagerduty_pages = sa.Table(
    "pagerduty_pages", metadata,
    sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("number", sa.Integer(), primary_key=True),
    sa.Column("target_kind", sa.String(8), nullable=False),  # team | user
    sa.Column("target", sa.String(255), nullable=False),  # the team, or the Slack user id
    sa.Column("method", sa.String(16), nullable=False),  # responders | event
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("dedup_key", sa.String(255), index=True),  # an event's: the incident and the team
    sa.Column("routing_key", sa.String(255)),
    sa.Column("pd_incident_id", sa.String(64), index=True),
    sa.Column("pd_target_id", sa.String(64)),
)

# A PagerDuty user invited to an incident's channel when they acknowledged: once per incident.
pagerduty_ack_invites = sa.Table(
    "pagerduty_ack_invites", metadata,
    sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("pd_user_id", sa.String(64), primary_key=True),
    sa.Column("invited_at", UTCDateTime(), nullable=False),
)

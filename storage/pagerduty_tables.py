"""PagerDuty and Alertmanager linkage (issue 5): which outside incident or alert group is ours."""

from __future__ import annotations

import sqlalchemy as sa

from storage.tables import UTCDateTime, metadata

pagerduty_links = sa.Table(
    "pagerduty_links", metadata,
    sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("pd_incident_id", sa.String(64), unique=True),  # set when PagerDuty paged us
    sa.Column("pd_url", sa.Text()),
    sa.Column("last_event_at", UTCDateTime()),  # newest webhook applied: older ones are stale
    sa.Column("page_dedup_key", sa.String(255), unique=True),  # set when we paged PagerDuty
    sa.Column("page_routing_key", sa.String(255)),
)

alertmanager_groups = sa.Table(
    "alertmanager_groups", metadata,
    sa.Column("group_key", sa.String(1000), primary_key=True),
    sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

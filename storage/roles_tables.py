"""Tables of incident roles and update-reminder snoozes (issue 19, items 1 and 6).

The Incident Commander is not here: it stays ``incidents.assigned_to``. A snooze is stored (not
kept in memory) so the SLO tick honours it after a restart.
"""

from __future__ import annotations

import sqlalchemy as sa

from storage.tables import UTCDateTime, metadata

incident_roles = sa.Table(
    "incident_roles", metadata,
    sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("role", sa.String(24), primary_key=True),
    sa.Column("user_id", sa.String(32), nullable=False),
    sa.Column("assigned_at", UTCDateTime(), nullable=False),
    sa.Column("assigned_by", sa.String(128), nullable=False),
)

incident_update_snoozes = sa.Table(
    "incident_update_snoozes", metadata,
    sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("snoozed_until", UTCDateTime(), nullable=False),
    sa.Column("snoozed_by", sa.String(128), nullable=False),
    sa.Column("snoozed_at", UTCDateTime(), nullable=False),
)

"""Tables of the SLO clocks (issue 3): what already fired, and when each incident next needs a plan.

The planner (domain/timers.py) recomputes every deadline from the incident's own timestamps;
these tables hold only what it cannot derive: the keys of reminders and escalations already
sent (so a restart, a clock jump or a second replica never repeats one), the last stakeholder
update and the start of the current episode (the last reopen), and the tick's index.
"""

from __future__ import annotations

import sqlalchemy as sa

from storage.tables import UTCDateTime, metadata

incident_timers_fired = sa.Table(
    "incident_timers_fired", metadata,
    sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("due_at", UTCDateTime(), nullable=False),
    sa.Column("fired_at", UTCDateTime(), nullable=False),
)

incident_clocks = sa.Table(
    "incident_clocks", metadata,
    sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("episode_started_at", UTCDateTime()),  # the last reopen; NULL: the declaration
    sa.Column("last_update_at", UTCDateTime()),  # the last stakeholder update
    sa.Column("planned_version", sa.Integer()),  # incidents.version the plan was made for
    sa.Column("wake_at", UTCDateTime()),  # when the incident next needs a plan; NULL: never
    sa.Index("ix_incident_clocks_wake_at", "wake_at"),
    sa.Index("ix_incident_clocks_planned_version", "planned_version"),
)

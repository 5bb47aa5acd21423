"""Postmortem analyses (issue 15): the contributing factors a postmortem must state before the
incident may close; an uploaded draft alone is not a postmortem."""

from __future__ import annotations

import sqlalchemy as sa

from storage.tables import UTCDateTime, metadata

postmortem_analyses = sa.Table(
    "postmortem_analyses", metadata,
    sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("contributing_factors", sa.Text(), nullable=False),  # scrubbed on the way in
    sa.Column("recorded_by", sa.String(255), nullable=False),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
)

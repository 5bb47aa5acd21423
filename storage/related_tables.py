"""Related and duplicate incidents (issue 19, item 9): one row per pair of incidents.

A pair is stored once, in a canonical order (``first_id`` < ``second_id``), so "7 is linked to
42" and "42 is linked to 7" are the same row and a second link is refused by the primary key.
``duplicate_id`` names the one of the two resolved as a duplicate of the other (NULL: related).
"""

from __future__ import annotations

import sqlalchemy as sa

from storage.tables import UTCDateTime, metadata

incident_relations = sa.Table(
    "incident_relations", metadata,
    sa.Column("first_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("second_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("duplicate_id", sa.Uuid()),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_incident_relations_second", "second_id"),
)

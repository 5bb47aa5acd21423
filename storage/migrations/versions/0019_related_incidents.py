"""Related and duplicate incidents (issue 19, item 9): ``incident_relations``, one row per pair
of incidents (canonical order), ``duplicate_id`` naming the one resolved as a duplicate; and
``postmortems.waived_for``: the incident whose postmortem covers a duplicate's.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident_relations",
        sa.Column("first_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("second_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("duplicate_id", sa.Uuid()),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_incident_relations_second", "incident_relations", ["second_id"])
    op.add_column("postmortems", sa.Column("waived_for", sa.Uuid()))


def downgrade() -> None:
    with op.batch_alter_table("postmortems") as batch:
        batch.drop_column("waived_for")
    op.drop_index("ix_incident_relations_second", table_name="incident_relations")
    op.drop_table("incident_relations")

"""Hostile input: audit trail anchoring (issue 14).

A checkpoint table (row count + head hash of the audit chain, outside the audit table) and, on
PostgreSQL, statement-level triggers refusing TRUNCATE of the audit trail and its checkpoints
(the row-level append-only trigger of 0004 never sees a TRUNCATE).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from storage.governance_tables import CHECKPOINT_TRIGGERS, FORBID_TRUNCATE_TRIGGER
from storage.tables import BigIntPK, UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("taken_at", UTCDateTime(), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("head_seq", sa.BigInteger()),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("mac", sa.String(64)),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FORBID_TRUNCATE_TRIGGER)
        for trigger in CHECKPOINT_TRIGGERS:
            op.execute(trigger)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER IF EXISTS audit_checkpoints_no_truncate ON audit_checkpoints")
        op.execute("DROP TRIGGER IF EXISTS audit_checkpoints_append_only ON audit_checkpoints")
    op.drop_table("audit_checkpoints")

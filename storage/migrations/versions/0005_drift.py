"""Drift assessments (issue 4).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import JSONDoc, UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drift_assessments",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("model_id", sa.Uuid(), sa.ForeignKey("models.id"), nullable=False),
        sa.Column("assessed_at", UTCDateTime(), nullable=False),
        sa.Column("psi_composite", sa.Float(), nullable=False),
        sa.Column("ks_p_value", sa.Float()),
        sa.Column("drift_detected", sa.Boolean(), nullable=False),
        sa.Column("feature_scores", JSONDoc, nullable=False),
        sa.Column("reference_window_start", UTCDateTime()),
        sa.Column("reference_window_end", UTCDateTime()),
        sa.Column("evaluation_window_start", UTCDateTime()),
        sa.Column("evaluation_window_end", UTCDateTime()),
        sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id")),
    )
    op.create_index("ix_drift_assessments_model_time", "drift_assessments", ["model_id", "assessed_at"])


def downgrade() -> None:
    op.drop_index("ix_drift_assessments_model_time", table_name="drift_assessments")
    op.drop_table("drift_assessments")

"""Model actions (issue 18): registry versions and alias history, rollbacks, drift acceptance, snoozes.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import JSONDoc, UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TABLES = ("pipeline_runs", "drift_snoozes", "drift_acceptances", "rollback_requests",
          "alias_history", "registry_aliases", "registry_versions", "registry_models")


def upgrade() -> None:
    op.create_table(
        "registry_models",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("tags", JSONDoc, nullable=False),
        sa.Column("synced_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "registry_versions",
        sa.Column("model_name", sa.String(255), primary_key=True),
        sa.Column("version", sa.String(50), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.Text()),
        sa.Column("run_id", sa.String(64)),
        sa.Column("status", sa.String(32)),
    )
    op.create_table(
        "registry_aliases",
        sa.Column("model_name", sa.String(255), primary_key=True),
        sa.Column("alias", sa.String(255), primary_key=True),
        sa.Column("version", sa.String(50), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "alias_history",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("model_name", sa.String(255), nullable=False),
        sa.Column("alias", sa.String(255), nullable=False),
        sa.Column("version", sa.String(50)),
        sa.Column("previous_version", sa.String(50)),
        sa.Column("moved_at", UTCDateTime(), nullable=False),
        sa.Column("moved_by", sa.String(255), nullable=False),
    )
    op.create_index("ix_alias_history_model_time", "alias_history", ["model_name", "moved_at"])
    op.create_table(
        "rollback_requests",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("model_name", sa.String(255), nullable=False),
        sa.Column("alias", sa.String(255), nullable=False),
        sa.Column("from_version", sa.String(50)),
        sa.Column("to_version", sa.String(50), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(255), nullable=False),
        sa.Column("requested_by_name", sa.String(255), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(255)),
        sa.Column("decided_by_name", sa.String(255)),
        sa.Column("decided_at", UTCDateTime()),
        sa.Column("break_glass", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.Text()),
        sa.Column("slack_channel", sa.String(64)),
        sa.Column("slack_ts", sa.String(64)),
    )
    op.create_index("ix_rollback_requests_incident", "rollback_requests", ["incident_id"])
    op.create_table(
        "drift_acceptances",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("model_name", sa.String(255), nullable=False),
        sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id")),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("accepted_by", sa.String(255), nullable=False),
        sa.Column("accepted_by_name", sa.String(255), nullable=False),
        sa.Column("accepted_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("reference_start", UTCDateTime()),
        sa.Column("reference_end", UTCDateTime()),
        sa.Column("reference_path", sa.Text()),
        sa.Column("psi_at_acceptance", sa.Float()),
    )
    op.create_index("ix_drift_acceptances_model", "drift_acceptances", ["model_name", "expires_at"])
    op.create_table(
        "drift_snoozes",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("model_name", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("snoozed_by", sa.String(255), nullable=False),
        sa.Column("snoozed_by_name", sa.String(255), nullable=False),
        sa.Column("snoozed_at", UTCDateTime(), nullable=False),
        sa.Column("until", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_drift_snoozes_model", "drift_snoozes", ["model_name", "until"])
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id")),
        sa.Column("model_name", sa.String(255), nullable=False),
        sa.Column("requested_by", sa.String(255), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(255)),
        sa.Column("run_url", sa.Text()),
        sa.Column("detail", JSONDoc),
        sa.Column("finished_at", UTCDateTime()),
    )


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)

"""Foundation: models, incidents, timeline, audit trail, Slack links, outbox, processed events.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from domain.model import ModelStage, Severity, Status, TimelineEventType, TriggerSource
from storage.tables import BigIntPK, JSONDoc, StringList, UTCDateTime, pg_enum

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ENUM_TYPES = ("model_stage", "incident_severity", "incident_status", "trigger_source",
              "timeline_event_type")


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("version", sa.String(50), nullable=False),
        sa.Column("stage", pg_enum(ModelStage, "model_stage"), nullable=False),
        sa.Column("team", sa.String(255), nullable=False),
        sa.Column("feature_store_ref", sa.Text()),
        sa.Column("model_card_url", sa.Text()),
        sa.Column("registered_at", UTCDateTime(), nullable=False),
        sa.Column("promoted_at", UTCDateTime()),
        sa.Column("labels", StringList, nullable=False),
        sa.UniqueConstraint("name", name="uq_models_name"),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("severity", pg_enum(Severity, "incident_severity"), nullable=False),
        sa.Column("status", pg_enum(Status, "incident_status"), nullable=False),
        sa.Column("model_id", sa.Uuid(), sa.ForeignKey("models.id",
                  name="fk_incidents_model_id_models"), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("trigger_source", pg_enum(TriggerSource, "trigger_source"), nullable=False),
        sa.Column("labels", StringList, nullable=False),
        sa.Column("assigned_to", sa.String(255)),
        sa.Column("runbook_url", sa.Text()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime()),
        sa.Column("mitigated_at", UTCDateTime()),
        sa.Column("resolved_at", UTCDateTime()),
        sa.Column("closed_at", UTCDateTime()),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.UniqueConstraint("number", name="uq_incidents_number"),
    )
    op.create_index("ix_incidents_status", "incidents", ["status"])
    op.create_table(
        "incident_timeline",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id",
                  name="fk_incident_timeline_incident_id_incidents"), nullable=False),
        sa.Column("event_type", pg_enum(TimelineEventType, "timeline_event_type"), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("author_name", sa.String(255)),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("source_ref", sa.String(255)),
        sa.UniqueConstraint("source_ref", name="uq_incident_timeline_source_ref"),
    )
    op.create_index("ix_incident_timeline_incident", "incident_timeline",
                    ["incident_id", "occurred_at"])
    op.create_table(
        "audit_events",
        sa.Column("seq", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("actor_name", sa.String(255), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("resource_type", sa.String(50), nullable=False),
        sa.Column("resource_id", sa.String(255), nullable=False),
        sa.Column("details", JSONDoc, nullable=False),
        sa.Column("log_type", sa.String(16), nullable=False),
        sa.UniqueConstraint("id", name="uq_audit_events_id"),
    )
    op.create_index("ix_audit_events_resource", "audit_events", ["resource_id"])
    op.create_index("ix_audit_events_occurred_at", "audit_events", ["occurred_at"])
    op.create_table(
        "slack_links",
        sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id",
                  name="fk_slack_links_incident_id_incidents"), primary_key=True),
        sa.Column("announcement_channel", sa.String(64)),
        sa.Column("announcement_ts", sa.String(32)),
        sa.Column("channel_id", sa.String(64)),
        sa.Column("channel_name", sa.String(80)),
        sa.Column("declarer_id", sa.String(64)),
        sa.UniqueConstraint("channel_id", name="uq_slack_links_channel_id"),
    )
    op.create_index("ix_slack_links_announcement", "slack_links",
                    ["announcement_channel", "announcement_ts"])
    op.create_table(
        "outbox",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("incident_id", sa.Uuid()),
        sa.Column("payload", JSONDoc, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_until", UTCDateTime()),
        sa.Column("delivered_at", UTCDateTime()),
        sa.Column("last_error", sa.Text()),
        sa.Column("dedup_key", sa.String(255)),
        sa.UniqueConstraint("dedup_key", name="uq_outbox_dedup_key"),
    )
    op.create_index("ix_outbox_pending", "outbox", ["status", "next_attempt_at"])
    op.create_table(
        "processed_events",
        sa.Column("source", sa.String(32), primary_key=True),
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("processed_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in ("processed_events", "outbox", "slack_links", "audit_events",
                  "incident_timeline", "incidents", "models"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        for name in ENUM_TYPES:
            op.execute(f"DROP TYPE IF EXISTS {name}")

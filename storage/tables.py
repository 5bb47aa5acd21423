"""SQLAlchemy Core tables: the data dictionary's names, columns and lowercase enums.

Incidents, timeline and models follow seed 000; Slack linkage, the outbox, processed
events and the audit trail are the bot's own (ARCHITECTURE.md, external contract).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from domain.model import ModelStage, Severity, Status, TimelineEventType, TriggerSource

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """TIMESTAMPTZ on PostgreSQL; on SQLite, stored as UTC and read back timezone-aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: pass timezone-aware UTC times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def pg_enum(enum: type[StrEnum], name: str) -> sa.Enum:
    """A native ENUM on PostgreSQL (as the data dictionary says), a CHECKed string elsewhere."""
    return sa.Enum(
        enum,
        name=name,
        values_callable=lambda e: [member.value for member in e],
        validate_strings=True,
    )


StringList = sa.JSON().with_variant(postgresql.ARRAY(sa.Text()), "postgresql")
JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

models = sa.Table(
    "models", metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("version", sa.String(50), nullable=False),
    sa.Column("stage", pg_enum(ModelStage, "model_stage"), nullable=False),
    sa.Column("team", sa.String(255), nullable=False),
    sa.Column("feature_store_ref", sa.Text()),
    sa.Column("model_card_url", sa.Text()),
    sa.Column("registered_at", UTCDateTime(), nullable=False),
    sa.Column("promoted_at", UTCDateTime()),
    sa.Column("labels", StringList, nullable=False, default=list),
)

incidents = sa.Table(
    "incidents", metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("number", sa.Integer(), nullable=False, unique=True),
    sa.Column("title", sa.String(500), nullable=False),
    sa.Column("severity", pg_enum(Severity, "incident_severity"), nullable=False),
    sa.Column("status", pg_enum(Status, "incident_status"), nullable=False),
    sa.Column("model_id", sa.Uuid(), sa.ForeignKey("models.id"), nullable=False),
    sa.Column("description", sa.Text()),
    sa.Column("trigger_source", pg_enum(TriggerSource, "trigger_source"), nullable=False),
    sa.Column("labels", StringList, nullable=False, default=list),
    sa.Column("assigned_to", sa.String(255)),
    sa.Column("runbook_url", sa.Text()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("acknowledged_at", UTCDateTime()),
    sa.Column("mitigated_at", UTCDateTime()),
    sa.Column("resolved_at", UTCDateTime()),
    sa.Column("closed_at", UTCDateTime()),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False, default=1),
    sa.Index("ix_incidents_status", "status"),
)

incident_timeline = sa.Table(
    "incident_timeline", metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), nullable=False),
    sa.Column("event_type", pg_enum(TimelineEventType, "timeline_event_type"), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("author", sa.String(255), nullable=False),
    sa.Column("author_name", sa.String(255)),
    sa.Column("occurred_at", UTCDateTime(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("source_ref", sa.String(255), unique=True),
    sa.Index("ix_incident_timeline_incident", "incident_id", "occurred_at"),
)

audit_events = sa.Table(
    "audit_events", metadata,
    sa.Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("id", sa.Uuid(), nullable=False, unique=True),
    sa.Column("occurred_at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("actor_name", sa.String(255), nullable=False),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("resource_type", sa.String(50), nullable=False),
    sa.Column("resource_id", sa.String(255), nullable=False),
    sa.Column("details", JSONDoc, nullable=False),
    sa.Column("log_type", sa.String(16), nullable=False, default="audit"),
    sa.Index("ix_audit_events_resource", "resource_id"),
    sa.Index("ix_audit_events_occurred_at", "occurred_at"),
)

slack_links = sa.Table(
    "slack_links", metadata,
    sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("announcement_channel", sa.String(64)),
    sa.Column("announcement_ts", sa.String(32)),
    sa.Column("channel_id", sa.String(64), unique=True),
    sa.Column("channel_name", sa.String(80)),
    sa.Column("declarer_id", sa.String(64)),
    sa.Index("ix_slack_links_announcement", "announcement_channel", "announcement_ts"),
)

outbox = sa.Table(
    "outbox", metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("incident_id", sa.Uuid()),
    sa.Column("payload", JSONDoc, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, default="pending"),
    sa.Column("attempts", sa.Integer(), nullable=False, default=0),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("claimed_until", UTCDateTime()),
    sa.Column("delivered_at", UTCDateTime()),
    sa.Column("last_error", sa.Text()),
    sa.Column("dedup_key", sa.String(255), unique=True),
    # Per-incident order is kept per destination: one lane per (incident, lane), so PagerDuty
    # being down never holds up the incident's Slack messages (and the other way round).
    sa.Column("lane", sa.String(160), nullable=False, server_default="slack"),
    # How often the row was claimed: a second claim means an earlier delivery may have reached
    # Slack before it was cut off (crash, shutdown, expired claim), so the retry looks first.
    sa.Column("claims", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("claimed_by", sa.String(160)),
    # W3C traceparent of the span that queued the row: its delivery's span links to it (0012)
    sa.Column("traceparent", sa.String(128)),
    sa.Index("ix_outbox_pending", "status", "next_attempt_at"),
    sa.Index("ix_outbox_lane", "status", "incident_id", "lane", "id"),
)

# The acked Slack requests whose work committed, written in the use case's own transaction:
# after a crash, a request in the inbox whose key is here was applied and is not replayed.
applied_requests = sa.Table(
    "applied_requests", metadata,
    sa.Column("request_key", sa.String(160), primary_key=True),
    sa.Column("applied_at", UTCDateTime(), nullable=False),
)

# Every Slack request the bot acknowledges is written here before its ack leaves: the work
# behind an ack survives a crash or a shutdown (replayed on start), and the same signed request
# replayed within its 5 minutes is recognised (unique request key).
slack_inbox = sa.Table(
    "slack_inbox", metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("request_key", sa.String(160), nullable=False, unique=True),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("content_type", sa.String(120), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | done
    sa.Column("owner", sa.String(160)),
    sa.Column("lease_until", UTCDateTime()),
    sa.Column("replays", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("finished_at", UTCDateTime()),
    sa.Index("ix_slack_inbox_pending", "status", "lease_until"),
)

processed_events = sa.Table(
    "processed_events", metadata,
    sa.Column("source", sa.String(32), primary_key=True),
    sa.Column("event_id", sa.String(255), primary_key=True),
    sa.Column("processed_at", UTCDateTime(), nullable=False),
)

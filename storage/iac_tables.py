"""DriftGuard's tables, adapted (issue 7): one ``drift_events`` row per drifted resource
(fingerprint), its ``drift_changes``, and the triage (recommendations) as JSON on the event."""

from __future__ import annotations

import sqlalchemy as sa

from storage.tables import JSONDoc, UTCDateTime, metadata

drift_events = sa.Table(
    "drift_events", metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),  # same drift -> same row
    sa.Column("change_signature", sa.String(64), nullable=False),
    sa.Column("drift_type", sa.String(16), nullable=False),  # modified | deleted | added | moved
    sa.Column("tool", sa.String(32), nullable=False),
    sa.Column("resource_address", sa.Text(), nullable=False),
    sa.Column("resource_type", sa.String(255), nullable=False),
    sa.Column("environment", sa.String(64), nullable=False),
    sa.Column("declared_state", JSONDoc),  # redacted
    sa.Column("actual_state", JSONDoc),  # redacted
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("confidence", sa.Float(), nullable=False),
    sa.Column("triage", JSONDoc, nullable=False),  # rule hits, cause, recommendations
    sa.Column("status", sa.String(16), nullable=False),  # open | accepted | escalated
    sa.Column("resolution_type", sa.String(32)),
    sa.Column("detected_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    sa.Column("resolved_at", UTCDateTime()),
    sa.Column("exception_reason", sa.Text()),
    sa.Column("exception_expires_at", UTCDateTime()),
    sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id")),
    sa.Column("slack_channel", sa.String(64)),
    sa.Column("slack_ts", sa.String(32)),
)

drift_changes = sa.Table(
    "drift_changes", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.Uuid(), sa.ForeignKey("drift_events.id"), nullable=False, index=True),
    sa.Column("path", sa.Text(), nullable=False),  # RFC 6901
    sa.Column("declared_value", JSONDoc),
    sa.Column("actual_value", JSONDoc),
    sa.Column("change_type", sa.String(16), nullable=False),
    sa.Column("is_security_critical", sa.Boolean(), nullable=False),
)

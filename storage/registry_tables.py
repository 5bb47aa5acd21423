"""Model actions (issue 18): the registry as last synced, alias history, rollbacks, accepted
drift, snoozes and pipeline runs. Migration 0014."""

from __future__ import annotations

import sqlalchemy as sa

from storage.tables import JSONDoc, UTCDateTime, metadata

# The registry's models as last synced (tags kept as the registry spells them).
registry_models = sa.Table(
    "registry_models", metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("source", sa.String(32), nullable=False),  # mlflow | manual
    sa.Column("tags", JSONDoc, nullable=False),
    sa.Column("synced_at", UTCDateTime(), nullable=False),
)

registry_versions = sa.Table(
    "registry_versions", metadata,
    sa.Column("model_name", sa.String(255), primary_key=True),
    sa.Column("version", sa.String(50), primary_key=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("source", sa.Text()),
    sa.Column("run_id", sa.String(64)),
    sa.Column("status", sa.String(32)),
)

# Where each alias points now (the last sync or the bot's own move).
registry_aliases = sa.Table(
    "registry_aliases", metadata,
    sa.Column("model_name", sa.String(255), primary_key=True),
    sa.Column("alias", sa.String(255), primary_key=True),
    sa.Column("version", sa.String(50), nullable=False),
    sa.Column("since", UTCDateTime(), nullable=False),
)

# Which version held which alias when: one row per move seen (version NULL: alias removed).
alias_history = sa.Table(
    "alias_history", metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("model_name", sa.String(255), nullable=False),
    sa.Column("alias", sa.String(255), nullable=False),
    sa.Column("version", sa.String(50)),
    sa.Column("previous_version", sa.String(50)),
    sa.Column("moved_at", UTCDateTime(), nullable=False),
    sa.Column("moved_by", sa.String(255), nullable=False),  # registry-sync, or the bot's rollback
    sa.Index("ix_alias_history_model_time", "model_name", "moved_at"),
)

rollback_requests = sa.Table(
    "rollback_requests", metadata,
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
    sa.Column("break_glass", sa.Boolean(), nullable=False, default=False),
    sa.Column("outcome", sa.Text()),
    sa.Column("slack_channel", sa.String(64)),  # the request's message, updated when decided
    sa.Column("slack_ts", sa.String(64)),
    sa.Index("ix_rollback_requests_incident", "incident_id"),
)

drift_acceptances = sa.Table(
    "drift_acceptances", metadata,
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
    sa.Index("ix_drift_acceptances_model", "model_name", "expires_at"),
)

drift_snoozes = sa.Table(
    "drift_snoozes", metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("model_name", sa.String(255), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("snoozed_by", sa.String(255), nullable=False),
    sa.Column("snoozed_by_name", sa.String(255), nullable=False),
    sa.Column("snoozed_at", UTCDateTime(), nullable=False),
    sa.Column("until", UTCDateTime(), nullable=False),
    sa.Index("ix_drift_snoozes_model", "model_name", "until"),
)

pipeline_runs = sa.Table(
    "pipeline_runs", metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id")),
    sa.Column("model_name", sa.String(255), nullable=False),
    sa.Column("requested_by", sa.String(255), nullable=False),
    sa.Column("requested_at", UTCDateTime(), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),  # requested | triggered | succeeded | failed
    sa.Column("run_id", sa.String(255)),
    sa.Column("run_url", sa.Text()),
    sa.Column("detail", JSONDoc),
    sa.Column("finished_at", UTCDateTime()),
)

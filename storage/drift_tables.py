"""``drift_assessments`` (data dictionary): one row per drift evaluation of a model (issue 4)."""

from __future__ import annotations

import sqlalchemy as sa

from storage.tables import JSONDoc, UTCDateTime, metadata

drift_assessments = sa.Table(
    "drift_assessments", metadata,
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
    sa.Column("incident_id", sa.Uuid(), sa.ForeignKey("incidents.id")),  # the incident it fed
    sa.Index("ix_drift_assessments_model_time", "model_id", "assessed_at"),
)

"""``drift_assessments`` (data dictionary): one row per drift evaluation of a model (issue 4)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.locks import KeyedLock, try_xact_lock
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


async def record_assessment(uow: object, values: Mapping[str, Any]) -> None:
    """One ``drift_assessments`` row, in the use case's transaction (``values``: its columns)."""
    from storage.uow import sql_connection

    await sql_connection(uow).execute(drift_assessments.insert().values(**values))


@contextlib.asynccontextmanager
async def drift_job_lock(engine: AsyncEngine, model: str) -> AsyncIterator[bool]:
    """Whether this replica runs the model's drift job now: on PostgreSQL a transaction-scoped
    advisory lock (other replicas get False and skip), elsewhere always True."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    async with engine.connect() as conn, conn.begin():
        yield await try_xact_lock(conn, KeyedLock.DRIFT_JOB.key(model))

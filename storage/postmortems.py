"""The postmortem's stored parts that its draft and its close gate read: action items and the
contributing factors (the analysis a postmortem needs before it counts as done)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.governance.postmortem import ActionItemRow
from storage.governance_gaps_tables import postmortem_analyses
from storage.postmortem_tables import action_items
from storage.repositories import _insert


async def postmortem_contents(engine: AsyncEngine,
                              incident_id: uuid.UUID) -> tuple[list[ActionItemRow], str | None]:
    """The action items recorded so far, in order, and the contributing factors (or None)."""
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(action_items).where(
            action_items.c.incident_id == incident_id).order_by(action_items.c.number))).mappings()
        items = [ActionItemRow(r["number"], r["text"], r["owner"], r["due_date"], r["severity"],
                               r["ticket"], r["status"] == "done") for r in rows]
        factors = (await conn.execute(sa.select(postmortem_analyses.c.contributing_factors).where(
            postmortem_analyses.c.incident_id == incident_id))).scalar()
    return items, factors


async def record_contributing_factors(conn: AsyncConnection, incident_id: uuid.UUID, factors: str,
                                      recorded_by: str, now: datetime) -> None:
    """Record (or replace) the incident's contributing factors, in the caller's transaction."""
    values = {"contributing_factors": factors, "recorded_by": recorded_by, "recorded_at": now}
    await conn.execute(_insert(conn, postmortem_analyses).values(
        incident_id=incident_id, **values).on_conflict_do_update(
        index_elements=["incident_id"], set_=values))

"""The postmortem tables behind ``domain.postmortems.PostmortemRepository``: the clock row, the
contributing factors and the action items, read and written in the caller's unit of work."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.action_items import ActionItem
from domain.governance.postmortem import ActionItemRow
from domain.ports import UnitOfWork
from domain.postmortems import Overdue, PostmortemState
from storage.governance_gaps_tables import postmortem_analyses
from storage.postmortem_tables import action_items, postmortems
from storage.repositories import _insert
from storage.uow import sql_connection


class SqlPostmortemRepository:
    """One unit of work's view of the postmortem tables."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.conn: AsyncConnection = sql_connection(uow)

    async def _upsert(self, incident_id: uuid.UUID, insert: Mapping[str, object],
                      update: Mapping[str, object]) -> None:
        await self.conn.execute(_insert(self.conn, postmortems).values(incident_id=incident_id, **insert)
                                .on_conflict_do_update(index_elements=["incident_id"], set_=update))

    async def open_clock(self, incident_id: uuid.UUID, due_at: datetime | None) -> None:
        values = {"required": True, "due_at": due_at, "waived_for": None}  # a reopened duplicate
        await self._upsert(incident_id, values, values)

    async def waive(self, incident_id: uuid.UUID, covered_by: uuid.UUID) -> None:
        """A duplicate's postmortem: not required, no clock (the survivor's covers it)."""
        values = {"required": False, "due_at": None, "waived_for": covered_by}
        await self._upsert(incident_id, values, values)

    async def record_draft(self, incident_id: uuid.UUID, required: bool, by: str,
                           at: datetime) -> None:
        values = {"draft_posted_at": at, "draft_posted_by": by}
        await self._upsert(incident_id, {"required": required, **values}, values)

    async def state(self, incident_id: uuid.UUID) -> PostmortemState:
        row = (await self.conn.execute(sa.select(
            postmortems.c.draft_posted_at, postmortems.c.waived_for).where(
            postmortems.c.incident_id == incident_id))).first()
        clock = row.draft_posted_at if row else None
        waived = row is not None and row.waived_for is not None
        factors_at = (await self.conn.execute(sa.select(postmortem_analyses.c.recorded_at).where(
            postmortem_analyses.c.incident_id == incident_id))).scalar()
        count = (await self.conn.execute(sa.select(sa.func.count()).select_from(action_items).where(
            action_items.c.incident_id == incident_id))).scalar() or 0
        return PostmortemState(clock, factors_at, int(count), waived)

    async def record_factors(self, incident_id: uuid.UUID, factors: str, by: str,
                             at: datetime) -> None:
        """Record (or replace) the incident's contributing factors."""
        values = {"contributing_factors": factors, "recorded_by": by, "recorded_at": at}
        await self.conn.execute(_insert(self.conn, postmortem_analyses).values(
            incident_id=incident_id, **values).on_conflict_do_update(
            index_elements=["incident_id"], set_=values))

    async def factors(self, incident_id: uuid.UUID) -> str | None:
        return (await self.conn.execute(sa.select(postmortem_analyses.c.contributing_factors).where(
            postmortem_analyses.c.incident_id == incident_id))).scalar()

    async def overdue(self, now: datetime) -> list[Overdue]:
        rows = (await self.conn.execute(
            sa.select(postmortems.c.incident_id, postmortems.c.due_at, postmortems.c.draft_posted_at)
            .outerjoin(postmortem_analyses, postmortem_analyses.c.incident_id == postmortems.c.incident_id)
            .where(postmortems.c.required.is_(True), postmortems.c.due_at <= now,
                   postmortems.c.draft_posted_at.is_(None) | postmortem_analyses.c.incident_id.is_(None),
                   postmortems.c.reminded_at.is_(None)))).all()
        return [Overdue(r.incident_id, r.due_at, r.draft_posted_at is not None) for r in rows]

    async def mark_reminded(self, incident_id: uuid.UUID, at: datetime) -> None:
        await self.conn.execute(postmortems.update().where(
            postmortems.c.incident_id == incident_id).values(reminded_at=at))

    async def add_action_item(self, incident_id: uuid.UUID, item: ActionItem, by: str,
                              at: datetime) -> int:
        """Insert the next numbered action item of the incident; returns its number."""
        number = 1 + ((await self.conn.execute(sa.select(sa.func.max(action_items.c.number)).where(
            action_items.c.incident_id == incident_id))).scalar() or 0)
        await self.conn.execute(action_items.insert().values(
            id=uuid.uuid4(), incident_id=incident_id, number=number, text=item.text, owner=item.owner,
            due_date=item.due, severity=item.severity.value, ticket=item.ticket, status="open",
            created_by=by, created_at=at))
        return int(number)

    async def action_items(self, incident_id: uuid.UUID) -> list[ActionItemRow]:
        rows = (await self.conn.execute(sa.select(action_items).where(
            action_items.c.incident_id == incident_id).order_by(action_items.c.number))).mappings()
        return [ActionItemRow(r["number"], r["text"], r["owner"], r["due_date"], r["severity"],
                              r["ticket"], r["status"] == "done") for r in rows]

    async def complete_action_item(self, incident_id: uuid.UUID, number: int) -> bool:
        changed = await self.conn.execute(action_items.update().where(
            (action_items.c.incident_id == incident_id) & (action_items.c.number == number)
            & (action_items.c.status == "open")).values(status="done"))
        return bool(changed.rowcount)


"""The relation pairs behind ``domain.related.RelationRepository``, in the caller's unit of work."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.model import Incident, Status
from domain.ports import UnitOfWork
from domain.related import Relation
from storage import tables as t
from storage.related_tables import incident_relations as rel
from storage.repositories import _insert, _row_to
from storage.uow import sql_connection


def _pair(a: uuid.UUID, b: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    """The canonical order a pair is stored in (the same on SQLite and PostgreSQL)."""
    return (a, b) if str(a) < str(b) else (b, a)


def _seen_from(incident_id: uuid.UUID, row: sa.Row) -> Relation:
    other = row.second_id if row.first_id == incident_id else row.first_id
    return Relation(incident_id, other, row.duplicate_id, row.created_by, row.created_at)


# read on every announcement refresh and `/incident status`: built once (storage/repositories.py)
_OF = sa.select(rel).where(sa.or_(rel.c.first_id == sa.bindparam("b_id"),
                                  rel.c.second_id == sa.bindparam("b_id"))).order_by(rel.c.created_at)
_ACTIVE_ON_MODEL = sa.select(t.incidents).where(
    t.incidents.c.model_id == sa.bindparam("b_model"), t.incidents.c.number < sa.bindparam("b_before"),
    t.incidents.c.status.in_([s for s in Status if s.is_active])).order_by(t.incidents.c.number).limit(20)


class SqlRelationRepository:
    """One unit of work's view of ``incident_relations``."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.conn: AsyncConnection = sql_connection(uow)

    async def get(self, a: uuid.UUID, b: uuid.UUID) -> Relation | None:
        first, second = _pair(a, b)
        row = (await self.conn.execute(sa.select(rel).where(
            rel.c.first_id == first, rel.c.second_id == second))).first()
        return _seen_from(a, row) if row else None

    async def save(self, a: uuid.UUID, b: uuid.UUID, duplicate_id: uuid.UUID | None, by: str,
                   at: datetime) -> bool:
        first, second = _pair(a, b)
        inserted = await self.conn.execute(_insert(self.conn, rel).values(
            first_id=first, second_id=second, duplicate_id=duplicate_id, created_by=by,
            created_at=at).on_conflict_do_nothing(index_elements=["first_id", "second_id"]))
        if inserted.rowcount == 1 or duplicate_id is None:
            return inserted.rowcount == 1
        updated = await self.conn.execute(rel.update().where(
            rel.c.first_id == first, rel.c.second_id == second,
            rel.c.duplicate_id.is_(None)).values(duplicate_id=duplicate_id))
        return updated.rowcount == 1

    async def of(self, incident_id: uuid.UUID) -> list[Relation]:
        rows = (await self.conn.execute(_OF, {"b_id": incident_id})).all()
        return [_seen_from(incident_id, row) for row in rows]

    async def survivor_of(self, incident_id: uuid.UUID) -> uuid.UUID | None:
        row = (await self.conn.execute(sa.select(rel).where(
            rel.c.duplicate_id == incident_id).limit(1))).first()
        return _seen_from(incident_id, row).other_id if row else None

    async def active_on_model(self, model_id: uuid.UUID, before: int) -> list[Incident]:
        rows = (await self.conn.execute(_ACTIVE_ON_MODEL, {"b_model": model_id,
                                                           "b_before": before})).all()
        return [_row_to(Incident, row) for row in rows]

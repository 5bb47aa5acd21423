"""Which incident's timeline holds a note with a given ``source_ref``, behind
``domain.message_shortcuts.NoteSources`` (the message shortcuts' "already on INC-n's timeline")."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.ports import UnitOfWork
from storage import tables as t
from storage.uow import sql_connection


class SqlNoteSources:
    """One unit of work's view of the timeline's ``source_ref`` column (unique)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.conn: AsyncConnection = sql_connection(uow)

    async def incident_noting(self, source_ref: str) -> uuid.UUID | None:
        tl = t.incident_timeline
        found = (await self.conn.execute(
            sa.select(tl.c.incident_id).where(tl.c.source_ref == source_ref))).scalar()
        return found if found is None or isinstance(found, uuid.UUID) else uuid.UUID(str(found))

"""The page log (storage/paging_tables.py) behind domain/paging/pages.py ``PageLog``, written in
the caller's unit of work."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.paging.pages import Page
from domain.ports import UnitOfWork
from storage.paging_tables import pagerduty_ack_invites, pagerduty_pages
from storage.repositories import _insert
from storage.uow import sql_connection


class SqlPageLog:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def for_incident(self, incident_id: uuid.UUID) -> list[Page]:
        rows = await self.conn.execute(sa.select(pagerduty_pages)
                                       .where(pagerduty_pages.c.incident_id == incident_id)
                                       .order_by(pagerduty_pages.c.number))
        return [Page(**dict(row._mapping)) for row in rows]

    async def add(self, page: Page) -> None:
        await self.conn.execute(pagerduty_pages.insert().values(**page.__dict__))

    async def learned(self, dedup_key: str, pd_incident_id: str) -> uuid.UUID | None:
        row = (await self.conn.execute(sa.select(pagerduty_pages.c.incident_id)
                                       .where(pagerduty_pages.c.dedup_key == dedup_key)
                                       .limit(1))).first()
        if row is None:
            return None
        await self.conn.execute(pagerduty_pages.update()
                                .where(pagerduty_pages.c.dedup_key == dedup_key)
                                .where(pagerduty_pages.c.pd_incident_id.is_(None))
                                .values(pd_incident_id=pd_incident_id))
        return uuid.UUID(str(row[0]))

    async def incident_for(self, pd_incident_id: str, dedup_key: str | None) -> uuid.UUID | None:
        match = pagerduty_pages.c.pd_incident_id == pd_incident_id
        if dedup_key:
            match = sa.or_(match, pagerduty_pages.c.dedup_key == dedup_key)
        row = (await self.conn.execute(sa.select(pagerduty_pages.c.incident_id)
                                       .where(match).limit(1))).first()
        return uuid.UUID(str(row[0])) if row is not None else None

    async def invite_once(self, incident_id: uuid.UUID, pd_user_id: str, at: datetime) -> bool:
        result = await self.conn.execute(
            _insert(self.conn, pagerduty_ack_invites)
            .values(incident_id=incident_id, pd_user_id=pd_user_id, invited_at=at)
            .on_conflict_do_nothing(index_elements=["incident_id", "pd_user_id"]))
        return bool(result.rowcount)


def page_log(uow: UnitOfWork) -> SqlPageLog:
    """The page log on the unit of work's transaction."""
    return SqlPageLog(sql_connection(uow))

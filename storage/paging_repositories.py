"""Repositories for the paging links (storage/pagerduty_tables.py) behind domain/paging/ports.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.paging.ports import AlertGroup, AlreadyLinked, PagerDutyLink
from storage.pagerduty_tables import alertmanager_groups, pagerduty_links
from storage.repositories import _insert


def _link(row: Any) -> PagerDutyLink | None:
    return PagerDutyLink(**dict(row._mapping)) if row is not None else None


# read by every status change (the PagerDuty mirror): built once (storage/repositories.py)
_LINK_OF_INCIDENT = sa.select(pagerduty_links).where(
    pagerduty_links.c.incident_id == sa.bindparam("b_id"))


class SqlPagerDutyLinks:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def by_pd_incident(self, pd_incident_id: str) -> PagerDutyLink | None:
        return _link((await self.conn.execute(sa.select(pagerduty_links).where(
            pagerduty_links.c.pd_incident_id == pd_incident_id))).first())

    async def for_incident(self, incident_id: uuid.UUID) -> PagerDutyLink | None:
        return _link((await self.conn.execute(_LINK_OF_INCIDENT, {"b_id": incident_id})).first())

    async def by_page(self, dedup_key: str) -> PagerDutyLink | None:
        return _link((await self.conn.execute(sa.select(pagerduty_links).where(
            pagerduty_links.c.page_dedup_key == dedup_key))).first())

    async def opened(self, incident_id: uuid.UUID, pd_incident_id: str, pd_url: str | None,
                     occurred_at: datetime | None) -> bool:
        try:  # conditional: of two racing redeliveries, the second finds it set and changes nothing
            result = await self.conn.execute(
                pagerduty_links.update()
                .where(pagerduty_links.c.incident_id == incident_id)
                .where(pagerduty_links.c.pd_incident_id.is_(None))
                .values(pd_incident_id=pd_incident_id, pd_url=pd_url, last_event_at=occurred_at))
        except IntegrityError as exc:  # that PagerDuty incident is linked to another incident
            raise AlreadyLinked(pd_incident_id) from exc
        return bool(result.rowcount)

    async def add(self, link: PagerDutyLink) -> None:
        try:
            await self.conn.execute(pagerduty_links.insert().values(
                incident_id=link.incident_id, pd_incident_id=link.pd_incident_id,
                pd_url=link.pd_url, last_event_at=link.last_event_at,
                page_dedup_key=link.page_dedup_key, page_routing_key=link.page_routing_key))
        except IntegrityError as exc:  # a unique key: a concurrent redelivery won the race
            raise AlreadyLinked(str(link.pd_incident_id or link.page_dedup_key)) from exc

    async def applied(self, incident_id: uuid.UUID, occurred_at: datetime) -> None:
        await self.conn.execute(
            pagerduty_links.update()
            .where(pagerduty_links.c.incident_id == incident_id)
            .where(sa.or_(pagerduty_links.c.last_event_at.is_(None),
                          pagerduty_links.c.last_event_at < occurred_at))
            .values(last_event_at=occurred_at))


class SqlAlertGroups:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def get(self, group_key: str) -> AlertGroup | None:
        row = (await self.conn.execute(sa.select(
            alertmanager_groups.c.group_key, alertmanager_groups.c.incident_id,
            alertmanager_groups.c.status).where(alertmanager_groups.c.group_key == group_key))).first()
        return AlertGroup(*row) if row is not None else None

    async def link(self, group_key: str, incident_id: uuid.UUID, now: datetime,
                   replace: bool) -> None:
        stmt = _insert(self.conn, alertmanager_groups).values(
            group_key=group_key, incident_id=incident_id, status="firing", updated_at=now)
        if replace:
            stmt = stmt.on_conflict_do_update(
                index_elements=["group_key"],
                set_={"incident_id": incident_id, "status": "firing", "updated_at": now})
        try:
            await self.conn.execute(stmt)
        except IntegrityError as exc:  # an HA peer recorded the same new group first
            raise AlreadyLinked(group_key[:200]) from exc

    async def mark_resolved(self, group_key: str) -> None:
        await self.conn.execute(alertmanager_groups.update()
                                .where(alertmanager_groups.c.group_key == group_key)
                                .values(status="resolved"))

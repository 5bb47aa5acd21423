"""Insights writes (issue 21): the digests sent, and the tracker tickets of action items."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.insights_tables import action_item_tickets, digests_sent
from storage.locks import Lock, try_session_lock, unlock
from storage.postmortem_tables import action_items
from storage.tables import incidents
from storage.uow import sql_connection


async def claim_digest(uow: object, start: datetime, end: datetime, sent_at: datetime,
                       count: int) -> bool:
    """Record the digest of ``[start, end)`` in the unit of work ``uow``; False when that
    period's digest was already sent (by this process before a restart, or by another replica at
    the same minute)."""
    conn = sql_connection(uow)
    exists = (await conn.execute(sa.select(digests_sent.c.period_start)
                                 .where(digests_sent.c.period_start == start))).first()
    if exists is not None:
        return False
    try:
        async with conn.begin_nested():
            await conn.execute(sa.insert(digests_sent).values(
                period_start=start, period_end=end, sent_at=sent_at, incidents=count))
    except IntegrityError:
        return False
    return True


async def digests(conn: AsyncConnection) -> list[dict[str, object]]:
    rows = await conn.execute(sa.select(digests_sent).order_by(digests_sent.c.period_start))
    return [dict(r) for r in rows.mappings()]


@dataclass(frozen=True)
class ItemToExport:
    """An open action item with no ticket yet, and what a tracker needs to file it."""

    id: uuid.UUID
    incident_number: int
    incident_title: str
    number: int
    text: str
    owner: str
    due: date
    severity: str
    ticket: str
    team: str


async def items_without_ticket(conn: AsyncConnection, incident_id: uuid.UUID | None = None,
                               limit: int = 100) -> list[ItemToExport]:
    from storage.tables import models

    query = (sa.select(action_items.c.id, incidents.c.number.label("incident_number"),
                       incidents.c.title.label("incident_title"), action_items.c.number,
                       action_items.c.text, action_items.c.owner, action_items.c.due_date,
                       action_items.c.severity, action_items.c.ticket, models.c.team)
             .join(incidents, incidents.c.id == action_items.c.incident_id)
             .join(models, models.c.id == incidents.c.model_id)
             .outerjoin(action_item_tickets, action_item_tickets.c.action_item_id == action_items.c.id)
             .where(action_item_tickets.c.action_item_id.is_(None), action_items.c.status != "done")
             .order_by(incidents.c.number, action_items.c.number).limit(limit))
    if incident_id is not None:
        query = query.where(action_items.c.incident_id == incident_id)
    return [ItemToExport(r.id, r.incident_number, r.incident_title, r.number, r.text, r.owner,
                         r.due_date, r.severity, r.ticket, r.team)
            for r in (await conn.execute(query)).all()]


async def save_ticket(uow: object, item_id: uuid.UUID, tracker: str, key: str, url: str,
                      at: datetime) -> None:
    """Store the ticket an action item was filed as, in the unit of work ``uow``."""
    conn = sql_connection(uow)
    await conn.execute(sa.insert(action_item_tickets).values(
        action_item_id=item_id, tracker=tracker, ticket_key=key, ticket_url=url, exported_at=at))


@dataclass(frozen=True)
class OpenTicket:
    action_item_id: uuid.UUID
    tracker: str
    key: str
    url: str
    team: str


async def open_tickets(conn: AsyncConnection, limit: int = 500) -> list[OpenTicket]:
    """Tickets whose action item is still open: the ones the periodic check asks about."""
    from storage.tables import models

    rows = (await conn.execute(
        sa.select(action_item_tickets, models.c.team)
        .join(action_items, action_items.c.id == action_item_tickets.c.action_item_id)
        .join(incidents, incidents.c.id == action_items.c.incident_id)
        .join(models, models.c.id == incidents.c.model_id)
        .where(action_item_tickets.c.closed_at.is_(None), action_items.c.status != "done")
        .order_by(action_item_tickets.c.exported_at).limit(limit))).mappings()
    return [OpenTicket(r["action_item_id"], r["tracker"], r["ticket_key"], r["ticket_url"], r["team"])
            for r in rows]


async def close_item_for_ticket(uow: object, tracker: str, key: str, at: datetime,
                                ) -> tuple[int, uuid.UUID, int, str] | None:
    """The tracker closed ``key``: its action item is done (in the unit of work ``uow``). Returns
    (incident number, incident id, item number, ticket link); None when no open item has that
    ticket (unknown, or closed)."""
    conn = sql_connection(uow)
    row = (await conn.execute(
        sa.select(action_item_tickets.c.action_item_id, incidents.c.number, incidents.c.id,
                  action_items.c.number.label("item_number"), action_item_tickets.c.ticket_url)
        .join(action_items, action_items.c.id == action_item_tickets.c.action_item_id)
        .join(incidents, incidents.c.id == action_items.c.incident_id)
        .where(action_item_tickets.c.tracker == tracker, action_item_tickets.c.ticket_key == key,
               action_item_tickets.c.closed_at.is_(None)))).first()
    if row is None:
        return None
    await conn.execute(sa.update(action_item_tickets)
                       .where(action_item_tickets.c.action_item_id == row.action_item_id)
                       .values(closed_at=at))
    await conn.execute(sa.update(action_items).where(action_items.c.id == row.action_item_id)
                       .values(status="done"))
    return int(row.number), row.id, int(row.item_number), str(row.ticket_url)


async def tickets_for_incident(conn: AsyncConnection, incident_id: uuid.UUID) -> dict[int, tuple[str, str]]:
    """Action item number -> (ticket key, link), for the postmortem draft."""
    rows = (await conn.execute(
        sa.select(action_items.c.number, action_item_tickets.c.ticket_key, action_item_tickets.c.ticket_url)
        .join(action_item_tickets, action_item_tickets.c.action_item_id == action_items.c.id)
        .where(action_items.c.incident_id == incident_id))).all()
    return {int(r.number): (r.ticket_key, r.ticket_url) for r in rows}


async def try_sync_lock(conn: AsyncConnection) -> bool:
    """Take the tracker sync's lock on this connection (PostgreSQL; SQLite serves one process):
    two replicas syncing together would file the same action item twice."""
    return await try_session_lock(conn, Lock.TRACKER_SYNC)


async def release_sync_lock(conn: AsyncConnection) -> None:
    await unlock(conn, Lock.TRACKER_SYNC)

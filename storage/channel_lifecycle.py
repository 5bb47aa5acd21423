"""The channel lifecycle tables behind ``domain.channel_lifecycle.ChannelRepository``, read and
written in the caller's unit of work."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.channel_lifecycle import ArchiveDue, ChannelState
from domain.model import Status
from domain.ports import UnitOfWork
from storage.channel_tables import channel_archives, channel_members
from storage.repositories import _insert
from storage.tables import incidents, slack_links
from storage.uow import sql_connection


class SqlChannelRepository:
    """One unit of work's view of the channel lifecycle tables."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.conn: AsyncConnection = sql_connection(uow)

    async def add_members(self, incident_id: uuid.UUID, users: Iterable[str],
                          at: datetime) -> None:
        rows = [{"incident_id": incident_id, "user_id": u, "added_at": at}
                for u in dict.fromkeys(u for u in users if u)]
        if rows:
            await self.conn.execute(_insert(self.conn, channel_members).values(rows)
                                    .on_conflict_do_nothing())

    async def members(self, incident_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
        found: dict[uuid.UUID, set[str]] = {i: set() for i in incident_ids}
        if not incident_ids:
            return found
        result = await self.conn.execute(
            sa.select(channel_members.c.incident_id, channel_members.c.user_id)
            .where(channel_members.c.incident_id.in_(list(incident_ids))))
        for incident_id, user_id in result:
            found.setdefault(incident_id, set()).add(user_id)
        return found

    async def state(self, incident_id: uuid.UUID) -> ChannelState:
        row = (await self.conn.execute(sa.select(
            channel_archives.c.archived_at, channel_archives.c.archived_by,
            channel_archives.c.queued_at).where(
            channel_archives.c.incident_id == incident_id))).first()
        return ChannelState(row.archived_at, row.archived_by, row.queued_at) if row else \
            ChannelState()

    async def _upsert(self, incident_id: uuid.UUID, values: dict[str, object]) -> None:
        await self.conn.execute(_insert(self.conn, channel_archives)
                                .values(incident_id=incident_id, **values)
                                .on_conflict_do_update(index_elements=["incident_id"],
                                                       set_=values))

    async def set_archived(self, incident_id: uuid.UUID, at: datetime | None,
                           by: str | None) -> None:
        await self._upsert(incident_id, {"archived_at": at, "archived_by": by})

    async def mark_queued(self, incident_id: uuid.UUID, at: datetime) -> None:
        await self._upsert(incident_id, {"queued_at": at})

    async def due(self, closed_before: datetime, limit: int) -> list[ArchiveDue]:
        """Closed before ``closed_before``, with a channel, neither archived nor queued."""
        query = (sa.select(incidents.c.id, incidents.c.number, slack_links.c.channel_id,
                           incidents.c.closed_at)
                 .join(slack_links, slack_links.c.incident_id == incidents.c.id)
                 .outerjoin(channel_archives, channel_archives.c.incident_id == incidents.c.id)
                 .where(incidents.c.status == Status.CLOSED,
                        incidents.c.closed_at <= closed_before,
                        slack_links.c.channel_id.is_not(None),
                        channel_archives.c.archived_at.is_(None),
                        channel_archives.c.queued_at.is_(None))
                 .order_by(incidents.c.closed_at).limit(limit))
        return [ArchiveDue(r.id, r.number, r.channel_id, r.closed_at)
                for r in await self.conn.execute(query)]

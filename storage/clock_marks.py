"""The SLO clock rows behind ``domain.updates.ClockMarks``, in the caller's unit of work."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from domain.model import Incident
from domain.ports import UnitOfWork
from storage.clock_store import mark_episode, mark_stale
from storage.uow import sql_connection


class SqlClockMarks:
    def __init__(self, uow: UnitOfWork) -> None:
        self.conn = sql_connection(uow)

    async def updated(self, incident_id: UUID, at: datetime) -> None:
        await mark_episode(self.conn, incident_id, last_update_at=at)

    async def reopened(self, incident_id: UUID, at: datetime) -> None:
        await mark_episode(self.conn, incident_id, episode_started_at=at)

    async def changed(self, incident: Incident) -> None:
        await mark_stale(self.conn, incident)

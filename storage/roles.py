"""Repositories of incident roles and update-reminder snoozes (storage/roles_tables.py), behind
``domain.roles.RoleAssignments`` and ``domain.reminders.UpdateSnoozes``; on the unit of work as
``uow.roles`` and ``uow.snoozes``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.model import Incident
from domain.reminders import Snooze
from domain.roles import RoleAssignment
from domain.timers import IncidentClocks
from storage.repositories import _insert
from storage.roles_tables import incident_roles, incident_update_snoozes
from storage.timer_tables import incident_clocks

_CHUNK = 500
# read on every announcement refresh and `/incident status`: built once (storage/repositories.py)
_ROLES_OF = sa.select(incident_roles).where(
    incident_roles.c.incident_id.in_(sa.bindparam("b_ids", expanding=True)))


def _assignment(row: sa.Row) -> RoleAssignment:
    m = row._mapping
    return RoleAssignment(m["incident_id"], m["role"], m["user_id"], m["assigned_at"], m["assigned_by"])


class SqlRoleAssignments:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def for_incident(self, incident_id: uuid.UUID) -> dict[str, RoleAssignment]:
        return (await self.for_incidents([incident_id])).get(incident_id, {})

    async def for_incidents(self, incident_ids: Sequence[uuid.UUID],
                            ) -> dict[uuid.UUID, dict[str, RoleAssignment]]:
        out: dict[uuid.UUID, dict[str, RoleAssignment]] = {}
        ids = list(incident_ids)
        for start in range(0, len(ids), _CHUNK):
            rows = await self.conn.execute(_ROLES_OF, {"b_ids": ids[start:start + _CHUNK]})
            for row in rows:
                assignment = _assignment(row)
                out.setdefault(assignment.incident_id, {})[assignment.role] = assignment
        return out

    async def assign(self, assignment: RoleAssignment) -> None:
        values = {"user_id": assignment.user_id, "assigned_at": assignment.assigned_at,
                  "assigned_by": assignment.assigned_by}
        stmt = _insert(self.conn, incident_roles).values(
            incident_id=assignment.incident_id, role=assignment.role, **values)
        await self.conn.execute(stmt.on_conflict_do_update(
            index_elements=[incident_roles.c.incident_id, incident_roles.c.role], set_=values))

    async def clear(self, incident_id: uuid.UUID, role: str) -> None:
        r = incident_roles
        await self.conn.execute(r.delete().where(r.c.incident_id == incident_id, r.c.role == role))


class SqlUpdateSnoozes:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def get(self, incident_id: uuid.UUID) -> Snooze | None:
        s = incident_update_snoozes
        row = (await self.conn.execute(sa.select(s).where(s.c.incident_id == incident_id))).first()
        if row is None:
            return None
        m = row._mapping
        return Snooze(m["incident_id"], m["snoozed_until"], m["snoozed_by"], m["snoozed_at"])

    async def set(self, snooze: Snooze) -> None:
        values = {"snoozed_until": snooze.until, "snoozed_by": snooze.snoozed_by,
                  "snoozed_at": snooze.snoozed_at}
        stmt = _insert(self.conn, incident_update_snoozes).values(incident_id=snooze.incident_id, **values)
        await self.conn.execute(stmt.on_conflict_do_update(
            index_elements=[incident_update_snoozes.c.incident_id], set_=values))

    async def clocks(self, incident: Incident) -> IncidentClocks:
        c = incident_clocks
        clock = (await self.conn.execute(sa.select(c.c.episode_started_at, c.c.last_update_at)
                                         .where(c.c.incident_id == incident.id))).first()
        snooze = await self.get(incident.id)
        return IncidentClocks.of(
            incident, last_update_at=clock.last_update_at if clock else None,
            episode_started_at=clock.episode_started_at if clock else None,
            update_snoozed_until=snooze.until if snooze else None)

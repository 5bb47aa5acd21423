"""The SLO clock tick's SQL (scheduler/clocks.py decides; this reads and records).

A tick reads the incidents due for a plan and the keys already fired under the tick's lock
(:meth:`ClockStore.due`), then, in the unit of work that says and audits what fired, records
the keys (:func:`record_fired`) and each plan (:func:`save_plans`). The use cases mark an
incident for re-planning in their own transaction (:func:`mark_stale`, :func:`mark_episode`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.model import Incident, Status
from storage import tables as t
from storage.locks import Lock, try_xact_lock
from storage.repositories import _insert, _upsert
from storage.roles_tables import incident_update_snoozes
from storage.timer_tables import incident_clocks, incident_timers_fired
from storage.uow import sql_connection

ACTIVE = (Status.OPEN, Status.INVESTIGATING, Status.MITIGATED)
CHUNK = 500  # ids per IN (...) and rows per multi-row INSERT
_INCIDENT_FIELDS = {f.name for f in fields(Incident)}


@dataclass
class DueIncident:
    """An active incident that needs a plan, with what the planner needs beside it."""

    incident: Incident
    last_update_at: datetime | None
    episode_started_at: datetime | None
    known: bool  # has an incident_clocks row
    update_snoozed_until: datetime | None = None  # the update reminder's snooze (issue 19)


@dataclass
class DueRead:
    incidents: list[DueIncident]
    fired: dict[uuid.UUID, set[str]]  # incident id -> keys already acted on


class ClockStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_postgres = engine.dialect.name == "postgresql"

    @asynccontextmanager
    async def due(self, now: datetime, full: bool) -> AsyncIterator[DueRead | None]:
        """What is due, read under the tick's lock, which is held until the block ends.

        PostgreSQL: an advisory transaction lock, so one replica acts and the others get
        None. SQLite (one process): no lock, and the reading connection is closed before
        the block writes (no reader open while the unit of work writes)."""
        async with self.engine.connect() as conn:
            if self.is_postgres:
                await conn.begin()
                locked = await try_xact_lock(conn, Lock.CLOCK_TICK)
                if not locked:
                    await conn.rollback()
            else:
                locked = True
            if not locked:
                yield None
                return
            due = await _load_due(conn, now, full)
            fired = await _fired_keys(conn, [d.incident.id for d in due])
            if not self.is_postgres:
                await conn.close()
            try:
                yield DueRead(due, fired)
            finally:
                if self.is_postgres and conn.in_transaction():
                    await conn.rollback()  # releases the advisory lock


async def _load_due(conn: AsyncConnection, now: datetime, full: bool) -> list[DueIncident]:
    """Active incidents whose plan is stale (marked by the use cases) or whose deadline came;
    ``full`` compares versions over all active incidents instead (changes made outside the
    use cases)."""
    i, c, z = t.incidents, incident_clocks, incident_update_snoozes
    columns = (i, c.c.incident_id.label("clock_row"), c.c.episode_started_at, c.c.last_update_at,
               z.c.snoozed_until)
    if full:
        stmt = (sa.select(*columns).select_from(i.outerjoin(c, c.c.incident_id == i.c.id)
                                                .outerjoin(z, z.c.incident_id == i.c.id))
                .where(i.c.status.in_(ACTIVE))
                .where(sa.or_(c.c.incident_id.is_(None), c.c.planned_version.is_(None),
                              c.c.planned_version != i.c.version, c.c.wake_at <= now)))
    else:  # both conditions are indexed: no scan of all incidents
        stmt = (sa.select(*columns).select_from(c.join(i, c.c.incident_id == i.c.id)
                                                .outerjoin(z, z.c.incident_id == i.c.id))
                .where(sa.or_(c.c.planned_version.is_(None), c.c.wake_at <= now))
                .where(i.c.status.in_(ACTIVE)))
    return [DueIncident(Incident(**{k: v for k, v in row.items() if k in _INCIDENT_FIELDS}),
                        row["last_update_at"], row["episode_started_at"],
                        row["clock_row"] is not None, row["snoozed_until"])
            for row in (await conn.execute(stmt)).mappings()]


async def _fired_keys(conn: AsyncConnection, ids: list[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
    keys: dict[uuid.UUID, set[str]] = {}
    f = incident_timers_fired
    for start in range(0, len(ids), CHUNK):
        rows = await conn.execute(sa.select(f.c.incident_id, f.c.key)
                                  .where(f.c.incident_id.in_(ids[start:start + CHUNK])))
        for incident_id, key in rows:
            keys.setdefault(incident_id, set()).add(key)
    return keys


async def changed_since_read(uow: object, read: dict[uuid.UUID, int]) -> set[uuid.UUID]:
    """Incidents (id -> version as read) changed by a use case since: re-planned next tick."""
    conn = sql_connection(uow)
    i = t.incidents
    stale: set[uuid.UUID] = set()
    ids = list(read)
    for start in range(0, len(ids), CHUNK):
        rows = await conn.execute(sa.select(i.c.id, i.c.version)
                                  .where(i.c.id.in_(ids[start:start + CHUNK])))
        stale |= {incident_id for incident_id, version in rows if read[incident_id] != version}
    return stale


async def record_fired(uow: object, rows: list[dict[str, Any]]) -> set[tuple[uuid.UUID, str]]:
    """Insert fired keys (incident_id, key, kind, due_at, fired_at); returns those this insert
    recorded: a key already there was acted on by an earlier tick or another replica."""
    conn = sql_connection(uow)
    f = incident_timers_fired
    recorded: set[tuple[uuid.UUID, str]] = set()
    for start in range(0, len(rows), CHUNK):
        inserted = await conn.execute(_insert(conn, f).values(rows[start:start + CHUNK])
                                      .on_conflict_do_nothing().returning(f.c.incident_id, f.c.key))
        recorded |= {(incident_id, key) for incident_id, key in inserted}
    return recorded


async def save_plans(uow: object, states: list[dict[str, Any]]) -> None:
    """Remember each plan (``b_id``, ``b_version``, ``b_wake``, ``known``): for which incident
    version, and when to look again."""
    conn = sql_connection(uow)
    c = incident_clocks
    known = [s for s in states if s["known"]]
    new = [s for s in states if not s["known"]]
    if known:
        await conn.execute(c.update().where(c.c.incident_id == sa.bindparam("b_id")).values(
            planned_version=sa.bindparam("b_version"), wake_at=sa.bindparam("b_wake")),
            [{k: s[k] for k in ("b_id", "b_version", "b_wake")} for s in known])
    for start in range(0, len(new), CHUNK):
        rows = [{"incident_id": s["b_id"], "planned_version": s["b_version"], "wake_at": s["b_wake"]}
                for s in new[start:start + CHUNK]]
        stmt = _insert(conn, c).values(rows)
        await conn.execute(stmt.on_conflict_do_update(
            index_elements=[c.c.incident_id],
            set_={"planned_version": stmt.excluded.planned_version, "wake_at": stmt.excluded.wake_at}))


async def mark_stale(conn: AsyncConnection, incident: Incident) -> None:
    """After any change by a use case: re-plan an active incident at the next tick; an inactive
    one has no clocks until it is reopened."""
    values: dict[str, Any] = ({"planned_version": None} if incident.status.is_active
                              else {"planned_version": incident.version, "wake_at": None})
    await conn.execute(_upsert(conn.dialect.name, incident_clocks, "incident_id", *values),
                       {"incident_id": incident.id, **values})


async def mark_episode(conn: AsyncConnection, incident_id: uuid.UUID, **values: Any) -> None:
    """Record a reopen (``episode_started_at``) or an update (``last_update_at``) and force a
    re-plan; runs inside the use case's transaction."""
    values["planned_version"] = None
    await conn.execute(_upsert(conn.dialect.name, incident_clocks, "incident_id", *values),
                       {"incident_id": incident_id, **values})

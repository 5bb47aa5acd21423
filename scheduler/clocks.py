"""The SLO clock tick: ask the planner what is due, and act on it exactly once.

One tick reads the active incidents that need a plan (changed since their last plan, or with
a deadline that has come), plans them with :mod:`domain.timers`, and for each due action
records its key in ``incident_timers_fired`` in the same transaction as the timeline event,
the audit event and the outbox rows for the Slack messages. A key that is already there was
acted on (by an earlier tick, before a restart, or by another replica), so nothing repeats.
On PostgreSQL the tick runs under an advisory lock: one replica acts, the others skip.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain import timer_messages as say
from domain.model import Actor, AuditEvent, Incident, Status, TimelineEvent, TimelineEventType
from domain.policy import Policy
from domain.ports import Clock, OutboxMessage
from domain.services import CHANNEL, THREAD
from domain.timers import IncidentClocks, TimerAction, TimerKind, planner_for
from storage import tables as t
from storage.repositories import _insert
from storage.timer_tables import incident_clocks, incident_timers_fired
from storage.uow import SqlUnitOfWork

log = structlog.get_logger("scheduler.clocks")

SCHEDULER = Actor("incident-bot-scheduler", "SLO clock")
ESCALATE = "escalate"  # outbox kind: mention + invite users and user groups (scheduler/delivery.py)
TICK_LOCK_KEY = 0x51C10C  # pg advisory lock id of the tick
ACTIVE = (Status.OPEN, Status.INVESTIGATING, Status.MITIGATED)
_INCIDENT_FIELDS = {f.name for f in fields(Incident)}


@dataclass
class TickResult:
    planned: int = 0  # incidents planned this tick
    fired: int = 0  # actions acted on
    skipped: bool = False  # another replica holds the tick
    seconds: float = 0.0


@dataclass
class _Due:
    incident: Incident
    clocks: IncidentClocks
    known: bool  # has an incident_clocks row


class ClockTicker:
    def __init__(self, engine: AsyncEngine, uow_factory: Callable[[], SqlUnitOfWork], clock: Clock,
                 policy: Policy, on_fired: Callable[[TimerAction], None] | None = None) -> None:
        self.engine = engine
        self.uow_factory = uow_factory
        self.clock = clock
        self.policy = policy
        self.on_fired = on_fired
        self.is_postgres = engine.dialect.name == "postgresql"

    async def tick(self) -> TickResult:
        started = time.perf_counter()
        result = TickResult()
        now = self.clock.now()
        async with self.engine.connect() as conn:
            if self.is_postgres:
                await conn.begin()
                locked = (await conn.execute(
                    sa.select(sa.func.pg_try_advisory_xact_lock(TICK_LOCK_KEY)))).scalar()
                if not locked:
                    await conn.rollback()
                    return TickResult(skipped=True)
            due = await self._load_due(conn, now)
            fired_keys = await self._fired_keys(conn, [d.incident.id for d in due])
            if not self.is_postgres:
                await conn.close()  # SQLite: no reader open while the unit of work writes
            try:
                result = await self._act(due, fired_keys, now)
            finally:
                if self.is_postgres and conn.in_transaction():
                    await conn.rollback()  # releases the advisory lock
        result.seconds = time.perf_counter() - started
        return result

    async def _act(self, due: list[_Due], fired_keys: dict[uuid.UUID, set[str]],
                   now: datetime) -> TickResult:
        planner = planner_for(self.policy)
        result = TickResult(planned=len(due))
        quiet: list[dict[str, Any]] = []
        for item in due:
            plan = planner.plan(item.clocks, fired_keys.get(item.incident.id, set()), now)
            state = {"incident_id": item.incident.id, "planned_version": item.incident.version,
                     "wake_at": plan.next_due_at, "known": item.known}
            if not plan.actions:
                quiet.append(state)
                continue
            result.fired += await self._fire(item, plan.actions, state, now)
        if quiet:
            async with self.uow_factory() as uow:
                assert uow.conn is not None
                for state in quiet:
                    await _save_state(uow.conn, state)
                await uow.commit()
        return result

    async def _fire(self, item: _Due, actions: tuple[TimerAction, ...], state: dict[str, Any],
                    now: datetime) -> int:
        """Act on one incident's due actions in one transaction; returns how many were new."""
        fired = 0
        async with self.uow_factory() as uow:
            conn = uow.conn
            assert conn is not None
            incident = await uow.incidents.get(item.incident.id)
            if incident is None or incident.version != item.incident.version:
                return 0  # changed since it was read: the next tick plans it afresh
            for action in actions:
                inserted = await conn.execute(_insert(conn, incident_timers_fired).values(
                    incident_id=incident.id, key=action.key, kind=action.kind.value,
                    due_at=action.due_at, fired_at=now).on_conflict_do_nothing())
                if inserted.rowcount == 0:
                    continue  # another replica, or an earlier run, already acted
                fired += 1
                await self._say(uow, incident, action, now)
            await _save_state(conn, state)
            await uow.commit()
        return fired

    async def _say(self, uow: SqlUnitOfWork, incident: Incident, action: TimerAction,
                   now: datetime) -> None:
        kind = action.kind
        if kind is TimerKind.UPDATE_DUE:
            await uow.outbox.add(OutboxMessage(CHANNEL, incident.id, {
                "text": say.update_due_text(incident, action),
                "blocks": say.update_due_blocks(incident, action)},
                dedup_key=f"{incident.id}:{action.key}"))
            await self._audit(uow, incident, "incident.update_requested", action, now)
        else:
            if kind is TimerKind.ESCALATION:
                await uow.outbox.add(OutboxMessage(ESCALATE, incident.id, {
                    "notify": list(action.notify), "reason": action.reason,
                    "target_seconds": action.target.total_seconds(), "step": action.step,
                    "severity": action.severity.value, "key": action.key},
                    dedup_key=f"{incident.id}:{action.key}"))
                body = (f"Escalated to {', '.join(action.notify)}: {action.reason} after "
                        f"{action.target}")
                audit_action = "incident.escalated"
            else:
                text = (say.no_commander_text(incident, action) if kind is TimerKind.NO_COMMANDER
                        else say.breach_text(incident, action))
                for where in (CHANNEL, THREAD):
                    await uow.outbox.add(OutboxMessage(where, incident.id, {"text": text},
                                                       dedup_key=f"{incident.id}:{action.key}:{where}"))
                if kind is TimerKind.NO_COMMANDER:
                    body = f"No Incident Commander after {action.target}"
                    audit_action = "incident.commander_missing"
                else:
                    body = f"SLO breach: {kind.value} (target {action.target})"
                    audit_action = "incident.slo_breached"
            await uow.timeline.add(TimelineEvent(
                incident_id=incident.id, event_type=TimelineEventType.ESCALATION, body=body,
                author=SCHEDULER.id, author_name=SCHEDULER.name, occurred_at=action.due_at,
                created_at=now, source_ref=f"timer:{incident.id}:{action.key}"))
            await self._audit(uow, incident, audit_action, action, now)
        if self.on_fired is not None:
            self.on_fired(action)

    async def _audit(self, uow: SqlUnitOfWork, incident: Incident, name: str, action: TimerAction,
                     now: datetime) -> None:
        await uow.audit.add(AuditEvent(
            occurred_at=now, actor=SCHEDULER.id, actor_name=SCHEDULER.name, action=name,
            resource_type="incident", resource_id=str(incident.id), details={
                "number": incident.number, "timer": action.kind.value, "key": action.key,
                "severity": action.severity.value, "due_at": action.due_at.isoformat(),
                "target_seconds": action.target.total_seconds(),
                **({"notify": list(action.notify)} if action.notify else {})}))

    async def _load_due(self, conn: AsyncConnection, now: datetime) -> list[_Due]:
        i, c = t.incidents, incident_clocks
        stmt = (sa.select(i, c.c.incident_id.label("clock_row"), c.c.episode_started_at,
                          c.c.last_update_at)
                .select_from(i.outerjoin(c, c.c.incident_id == i.c.id))
                .where(i.c.status.in_(ACTIVE))
                .where(sa.or_(c.c.incident_id.is_(None), c.c.planned_version.is_(None),
                              c.c.planned_version != i.c.version, c.c.wake_at <= now)))
        due = []
        for row in (await conn.execute(stmt)).mappings():
            incident = Incident(**{k: v for k, v in row.items() if k in _INCIDENT_FIELDS})
            due.append(_Due(incident, IncidentClocks.of(
                incident, last_update_at=row["last_update_at"],
                episode_started_at=row["episode_started_at"]), row["clock_row"] is not None))
        return due

    @staticmethod
    async def _fired_keys(conn: AsyncConnection, ids: list[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
        keys: dict[uuid.UUID, set[str]] = {}
        f = incident_timers_fired
        for start in range(0, len(ids), 500):
            rows = await conn.execute(sa.select(f.c.incident_id, f.c.key)
                                      .where(f.c.incident_id.in_(ids[start:start + 500])))
            for incident_id, key in rows:
                keys.setdefault(incident_id, set()).add(key)
        return keys


async def _save_state(conn: AsyncConnection, state: dict[str, Any]) -> None:
    values = {"planned_version": state["planned_version"], "wake_at": state["wake_at"]}
    if state["known"]:
        await conn.execute(incident_clocks.update()
                           .where(incident_clocks.c.incident_id == state["incident_id"])
                           .values(**values))
    else:
        await conn.execute(_insert(conn, incident_clocks).values(
            incident_id=state["incident_id"], **values).on_conflict_do_update(
            index_elements=[incident_clocks.c.incident_id], set_=values))


async def mark_episode(conn: AsyncConnection, incident_id: uuid.UUID, **values: Any) -> None:
    """Record a reopen (``episode_started_at``) or an update (``last_update_at``) and force a
    re-plan; runs inside the use case's transaction."""
    values["planned_version"] = None
    await conn.execute(_insert(conn, incident_clocks).values(
        incident_id=incident_id, **values).on_conflict_do_update(
        index_elements=[incident_clocks.c.incident_id], set_=values))

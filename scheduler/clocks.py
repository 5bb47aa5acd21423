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
from storage.uow import SqlUnitOfWork, sql_connection

log = structlog.get_logger("scheduler.clocks")

SCHEDULER = Actor("incident-bot-scheduler", "SLO clock")
ESCALATE = "escalate"  # outbox kind: mention + invite users and user groups (scheduler/delivery.py)
TICK_LOCK_KEY = 0x51C10C  # pg advisory lock id of the tick
ACTIVE = (Status.OPEN, Status.INVESTIGATING, Status.MITIGATED)
FULL_SCAN_EVERY = 360  # ticks (30 min at 5 s): the safety net for changes made outside use cases
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
                 policy: Policy, on_fired: Callable[[TimerAction], None] | None = None,
                 after_commit: Callable[[Any], None] | None = None) -> None:
        self.engine = engine
        self.uow_factory = uow_factory
        self.clock = clock
        self.policy = policy
        self.on_fired = on_fired
        self.after_commit = after_commit  # the service's: audit JSON lines, dispatcher wake-up
        self.is_postgres = engine.dialect.name == "postgresql"
        self._ticks = 0

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
        """Plan every due incident, then act on all of it in one transaction."""
        planner = planner_for(self.policy)
        result = TickResult(planned=len(due))
        states: list[dict[str, Any]] = []
        firing: list[tuple[_Due, tuple[TimerAction, ...]]] = []
        for item in due:
            plan = planner.plan(item.clocks, fired_keys.get(item.incident.id, set()), now)
            states.append({"b_id": item.incident.id, "b_version": item.incident.version,
                           "b_wake": plan.next_due_at, "known": item.known})
            if plan.actions:
                firing.append((item, plan.actions))
        if not states:
            return result
        async with self.uow_factory() as uow:
            conn = sql_connection(uow)
            if firing:
                stale = await self._changed_since_read(conn, [item for item, _ in firing])
                firing = [(item, actions) for item, actions in firing if item.incident.id not in stale]
                states = [state for state in states if state["b_id"] not in stale]
                result.fired = await self._fire(uow, firing, now)
            await _save_states(conn, states)
            await uow.commit()
        if self.after_commit is not None:
            self.after_commit(uow)
        return result

    @staticmethod
    async def _changed_since_read(conn: AsyncConnection, items: list[_Due]) -> set[uuid.UUID]:
        """Incidents changed by a use case since the tick read them: the next tick re-plans them."""
        read = {item.incident.id: item.incident.version for item in items}
        i = t.incidents
        stale: set[uuid.UUID] = set()
        ids = list(read)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = await conn.execute(sa.select(i.c.id, i.c.version).where(i.c.id.in_(chunk)))
            stale |= {incident_id for incident_id, version in rows if read[incident_id] != version}
        return stale

    async def _fire(self, uow: SqlUnitOfWork, firing: list[tuple[_Due, tuple[TimerAction, ...]]],
                    now: datetime) -> int:
        """Record every due key; say and audit only what this insert recorded (exactly once)."""
        conn = sql_connection(uow)
        rows = [{"incident_id": item.incident.id, "key": a.key, "kind": a.kind.value,
                 "due_at": a.due_at, "fired_at": now} for item, actions in firing for a in actions]
        recorded: set[tuple[uuid.UUID, str]] = set()
        f = incident_timers_fired
        for start in range(0, len(rows), 500):
            inserted = await conn.execute(_insert(conn, f).values(rows[start:start + 500])
                                          .on_conflict_do_nothing().returning(f.c.incident_id, f.c.key))
            recorded |= {(incident_id, key) for incident_id, key in inserted}
        timeline: list[TimelineEvent] = []
        audits: list[AuditEvent] = []
        outbox: list[OutboxMessage] = []
        for item, actions in firing:
            for action in actions:
                if (item.incident.id, action.key) not in recorded:
                    continue  # another replica, or an earlier run, already acted
                event, audit = self._say(item.incident, action, now, outbox)
                if event is not None:
                    timeline.append(event)
                audits.append(audit)
                if self.on_fired is not None:
                    self.on_fired(action)
        await uow.timeline.add_many(timeline)
        await uow.audit.add_many(audits)
        await uow.outbox.add_many(outbox)
        return len(recorded)

    def _say(self, incident: Incident, action: TimerAction, now: datetime,
             outbox: list[OutboxMessage]) -> tuple[TimelineEvent | None, AuditEvent]:
        """The outbox rows (appended), timeline event and audit event for one fired action."""
        kind = action.kind
        base = f"{incident.id}:{action.key}"
        if kind is TimerKind.UPDATE_DUE:
            outbox.append(OutboxMessage(CHANNEL, incident.id, {
                "text": say.update_due_text(incident, action),
                "blocks": say.update_due_blocks(incident, action)}, dedup_key=base))
            return None, self._audit(incident, "incident.update_requested", action, now)
        if kind is TimerKind.ESCALATION:
            outbox.append(OutboxMessage(ESCALATE, incident.id, {
                "notify": list(action.notify), "reason": action.reason,
                "target_seconds": action.target.total_seconds(), "step": action.step,
                "severity": action.severity.value, "key": action.key}, dedup_key=base))
            body = f"Escalated to {', '.join(action.notify)}: {action.reason} after {action.target}"
            audit_action = "incident.escalated"
        else:
            text = (say.no_commander_text(incident, action) if kind is TimerKind.NO_COMMANDER
                    else say.breach_text(incident, action))
            for where in (CHANNEL, THREAD):
                outbox.append(OutboxMessage(where, incident.id, {"text": text}, dedup_key=f"{base}:{where}"))
            if kind is TimerKind.NO_COMMANDER:
                body = f"No Incident Commander after {action.target}"
                audit_action = "incident.commander_missing"
            else:
                body = f"SLO breach: {kind.value} (target {action.target})"
                audit_action = "incident.slo_breached"
        event = TimelineEvent(
            incident_id=incident.id, event_type=TimelineEventType.ESCALATION, body=body,
            author=SCHEDULER.id, author_name=SCHEDULER.name, occurred_at=action.due_at,
            created_at=now, source_ref=f"timer:{base}")
        return event, self._audit(incident, audit_action, action, now)

    @staticmethod
    def _audit(incident: Incident, name: str, action: TimerAction, now: datetime) -> AuditEvent:
        return AuditEvent(
            occurred_at=now, actor=SCHEDULER.id, actor_name=SCHEDULER.name, action=name,
            resource_type="incident", resource_id=str(incident.id), details={
                "number": incident.number, "timer": action.kind.value, "key": action.key,
                "severity": action.severity.value, "due_at": action.due_at.isoformat(),
                "target_seconds": action.target.total_seconds(),
                **({"notify": list(action.notify)} if action.notify else {})})

    async def _load_due(self, conn: AsyncConnection, now: datetime) -> list[_Due]:
        """Active incidents whose plan is stale (marked by the use cases) or whose deadline came.

        Every ``FULL_SCAN_EVERY`` ticks (and on the first) the stale check compares versions
        over all active incidents instead, catching incidents changed outside the use cases.
        """
        i, c = t.incidents, incident_clocks
        full = self._ticks % FULL_SCAN_EVERY == 0
        self._ticks += 1
        columns = (i, c.c.incident_id.label("clock_row"), c.c.episode_started_at, c.c.last_update_at)
        if full:
            stmt = (sa.select(*columns).select_from(i.outerjoin(c, c.c.incident_id == i.c.id))
                    .where(i.c.status.in_(ACTIVE))
                    .where(sa.or_(c.c.incident_id.is_(None), c.c.planned_version.is_(None),
                                  c.c.planned_version != i.c.version, c.c.wake_at <= now)))
        else:  # both conditions are indexed: no scan of all incidents
            stmt = (sa.select(*columns).select_from(c.join(i, c.c.incident_id == i.c.id))
                    .where(sa.or_(c.c.planned_version.is_(None), c.c.wake_at <= now))
                    .where(i.c.status.in_(ACTIVE)))
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


async def _save_states(conn: AsyncConnection, states: list[dict[str, Any]]) -> None:
    """Remember each plan: for which incident version, and when to look again."""
    c = incident_clocks
    known = [s for s in states if s["known"]]
    new = [s for s in states if not s["known"]]
    if known:
        await conn.execute(c.update().where(c.c.incident_id == sa.bindparam("b_id")).values(
            planned_version=sa.bindparam("b_version"), wake_at=sa.bindparam("b_wake")),
            [{k: s[k] for k in ("b_id", "b_version", "b_wake")} for s in known])
    for start in range(0, len(new), 500):
        rows = [{"incident_id": s["b_id"], "planned_version": s["b_version"], "wake_at": s["b_wake"]}
                for s in new[start:start + 500]]
        stmt = _insert(conn, c).values(rows)
        await conn.execute(stmt.on_conflict_do_update(
            index_elements=[c.c.incident_id],
            set_={"planned_version": stmt.excluded.planned_version, "wake_at": stmt.excluded.wake_at}))


async def mark_stale(conn: AsyncConnection, incident: Incident) -> None:
    """After any change by a use case: re-plan an active incident at the next tick; an inactive
    one has no clocks until it is reopened."""
    values: dict[str, Any] = ({"planned_version": None} if incident.status.is_active
                              else {"planned_version": incident.version, "wake_at": None})
    await conn.execute(_insert(conn, incident_clocks).values(
        incident_id=incident.id, **values).on_conflict_do_update(
        index_elements=[incident_clocks.c.incident_id], set_=values))


async def mark_episode(conn: AsyncConnection, incident_id: uuid.UUID, **values: Any) -> None:
    """Record a reopen (``episode_started_at``) or an update (``last_update_at``) and force a
    re-plan; runs inside the use case's transaction."""
    values["planned_version"] = None
    await conn.execute(_insert(conn, incident_clocks).values(
        incident_id=incident_id, **values).on_conflict_do_update(
        index_elements=[incident_clocks.c.incident_id], set_=values))

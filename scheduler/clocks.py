"""The SLO clock tick: ask the planner what is due, and act on it exactly once.

One tick reads the active incidents that need a plan (changed since their last plan, or with
a deadline that has come), plans them with :mod:`domain.timers`, and for each due action
records its key in ``incident_timers_fired`` in the same transaction as the timeline event,
the audit event and the outbox rows for the Slack messages. A key that is already there was
acted on (by an earlier tick, before a restart, or by another replica), so nothing repeats.
On PostgreSQL the tick runs under an advisory lock: one replica acts, the others skip. The
SQL lives in :mod:`storage.clock_store`.

Each tick also reports how late it started against its schedule (the previous start plus the
interval): a blocked event loop or a tick slower than its interval shows there first.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry.trace import NoOpTracer, Tracer

from bot.slack_ui import timers as say
from domain.model import Actor, AuditEvent, Incident, TimelineEvent, TimelineEventType
from domain.policy import COMMS_ROLE, Policy
from domain.ports import Clock, OutboxMessage
from domain.reminders import reminder_recipient
from domain.services import CHANNEL, THREAD
from domain.timers import IncidentClocks, TimerAction, TimerKind, planner_for
from scheduler.delivery import update_reminder
from storage.clock_store import (
    ClockStore,
    DueIncident,
    changed_since_read,
    mark_episode,
    mark_stale,
    record_fired,
    save_plans,
)
from storage.uow import SqlUnitOfWork

__all__ = ["ESCALATE", "ClockTicker", "TickResult", "mark_episode", "mark_stale"]

log = structlog.get_logger("scheduler.clocks")

SCHEDULER = Actor("incident-bot-scheduler", "SLO clock")
ESCALATE = "escalate"  # outbox kind: mention + invite users and user groups (scheduler/delivery.py)
FULL_SCAN_EVERY = 360  # ticks (30 min at 5 s): the safety net for changes made outside use cases


@dataclass
class TickResult:
    planned: int = 0  # incidents planned this tick
    fired: int = 0  # actions acted on
    skipped: bool = False  # another replica holds the tick
    seconds: float = 0.0
    lag: float | None = None  # how late it started against its schedule


@dataclass
class _Due:
    incident: Incident
    clocks: IncidentClocks
    known: bool  # has an incident_clocks row


class ClockTicker:
    def __init__(self, engine: Any, uow_factory: Callable[[], SqlUnitOfWork], clock: Clock,
                 policy: Policy, on_fired: Callable[[TimerAction], None] | None = None,
                 after_commit: Callable[[Any], None] | None = None, *,
                 interval: float = 0.0, on_lag: Callable[[float | None], None] | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 tracer: Tracer | None = None) -> None:
        self.store = ClockStore(engine)  # engine: the database's AsyncEngine
        self.uow_factory = uow_factory
        self.clock = clock
        self.policy = policy
        self.on_fired = on_fired
        self.after_commit = after_commit  # the service's: audit JSON lines, dispatcher wake-up
        self.interval = interval  # TICK_SECONDS: when the scheduler runs the next tick
        self.on_lag = on_lag  # each tick: seconds late against the schedule, None the first
        self.monotonic = monotonic  # lateness is process health, not business time
        self._last_start: float | None = None
        # a trace for each tick that acts: its reminders' deliveries link back to it
        self.tracer = tracer or NoOpTracer()
        self._ticks = 0

    def lag(self) -> float | None:
        """How late this tick starts: its start against the previous start plus the interval
        (None for the first tick, or without an interval). Marks the start."""
        start = self.monotonic()
        last, self._last_start = self._last_start, start
        if last is None or self.interval <= 0:
            return None
        return max(0.0, start - (last + self.interval))

    async def tick(self) -> TickResult:
        started = time.perf_counter()
        lag = self.lag()
        if self.on_lag is not None:
            self.on_lag(lag)
        now = self.clock.now()
        # every FULL_SCAN_EVERY ticks this replica acts (and on the first): versions over all
        # active incidents, the safety net for incidents changed outside the use cases
        full = self._ticks % FULL_SCAN_EVERY == 0
        async with self.store.due(now, full) as read:
            if read is None:
                return TickResult(skipped=True, lag=lag)
            self._ticks += 1
            due = [_Due(d.incident, _clocks_of(d), d.known) for d in read.incidents]
            result = await self._act(due, read.fired, now)
        result.seconds = time.perf_counter() - started
        result.lag = lag
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
        with self._span(firing):
            return await self._apply(states, firing, result, now)

    def _span(self, firing: list[tuple[_Due, tuple[TimerAction, ...]]]) -> AbstractContextManager[Any]:
        """A root span for a tick that acts (a quiet one every TICK_SECONDS would be noise)."""
        if not firing:
            return nullcontext()
        return self.tracer.start_as_current_span(
            "clocks.tick", context=otel_context.Context(),
            attributes={"clocks.incidents": len(firing),
                        "clocks.actions": sum(len(actions) for _, actions in firing)})

    async def _apply(self, states: list[dict[str, Any]],
                     firing: list[tuple[_Due, tuple[TimerAction, ...]]], result: TickResult,
                     now: datetime) -> TickResult:
        """Record the fired keys, their messages and audit events, and the plans, in one
        transaction."""
        async with self.uow_factory() as uow:
            if firing:
                stale = await changed_since_read(uow, {item.incident.id: item.incident.version
                                                       for item, _ in firing})
                firing = [(item, actions) for item, actions in firing if item.incident.id not in stale]
                states = [state for state in states if state["b_id"] not in stale]
                result.fired = await self._fire(uow, firing, now)
            await save_plans(uow, states)
            await uow.commit()
        if self.after_commit is not None:
            self.after_commit(uow)
        return result

    async def _fire(self, uow: SqlUnitOfWork, firing: list[tuple[_Due, tuple[TimerAction, ...]]],
                    now: datetime) -> int:
        """Record every due key; say and audit only what this insert recorded (exactly once)."""
        recorded = await record_fired(uow, [
            {"incident_id": item.incident.id, "key": a.key, "kind": a.kind.value,
             "due_at": a.due_at, "fired_at": now} for item, actions in firing for a in actions])
        timeline: list[TimelineEvent] = []
        audits: list[AuditEvent] = []
        outbox: list[OutboxMessage] = []
        comms = await self._comms_leads(uow, firing, recorded)
        for item, actions in firing:
            for action in actions:
                if (item.incident.id, action.key) not in recorded:
                    continue  # another replica, or an earlier run, already acted
                event, audit = self._say(item.incident, action, now, outbox,
                                         comms.get(item.incident.id))
                if event is not None:
                    timeline.append(event)
                audits.append(audit)
                if self.on_fired is not None:
                    self.on_fired(action)
        await uow.timeline.add_many(timeline)
        await uow.audit.add_many(audits)
        await uow.outbox.add_many(outbox)
        return len(recorded)

    @staticmethod
    async def _comms_leads(uow: SqlUnitOfWork, firing: list[tuple[_Due, tuple[TimerAction, ...]]],
                           recorded: set[tuple[uuid.UUID, str]]) -> dict[uuid.UUID, str]:
        """The comms lead of each incident whose update reminder fires now (issue 19)."""
        ids = [item.incident.id for item, actions in firing for a in actions
               if a.kind is TimerKind.UPDATE_DUE and (item.incident.id, a.key) in recorded]
        if not ids:
            return {}
        held = await uow.roles.for_incidents(ids)
        return {incident_id: roles[COMMS_ROLE].user_id for incident_id, roles in held.items()
                if COMMS_ROLE in roles}

    def _say(self, incident: Incident, action: TimerAction, now: datetime,
             outbox: list[OutboxMessage], comms_lead: str | None = None,
             ) -> tuple[TimelineEvent | None, AuditEvent]:
        """The outbox rows (appended), timeline event and audit event for one fired action."""
        kind = action.kind
        base = f"{incident.id}:{action.key}"
        if kind is TimerKind.UPDATE_DUE:
            recipient = reminder_recipient(incident, comms_lead, self.policy)
            outbox.append(update_reminder(incident, action, recipient, base))
            audit = self._audit(incident, "incident.update_requested", action, now)
            audit.details.update(pinged=list(recipient.targets), why=recipient.why)
            return None, audit
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


def _clocks_of(due: DueIncident) -> IncidentClocks:
    return IncidentClocks.of(due.incident, last_update_at=due.last_update_at,
                             episode_started_at=due.episode_started_at,
                             update_snoozed_until=due.update_snoozed_until)

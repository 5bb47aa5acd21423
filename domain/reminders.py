"""The stakeholder-update reminder: whom it pings, and snoozing it (issue 19, items 1 and 6).

Whom: the comms lead when one holds the role, else the Incident Commander, else the policy's
first escalation target for the severity (an unassigned SEV-1 used to ping nobody); the
reminder says which and why (:func:`reminder_recipient`).

Snooze (*Snooze 15m / 30m / 1h* on the reminder): the next reminder of the incident's update
cadence falls due at the snooze's end, never past the SLA: a snooze that would pass the next
SLO deadline (ack, mitigate or resolve, whichever comes first) is cut to it, and an incident
already past every SLO deadline it still has cannot be snoozed. The end is stored
(``uow.snoozes``), so the tick honours it after a restart; taking it is audited with the actor.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from domain.messages import hhmm
from domain.model import Actor, AuditEvent, DomainError, Incident, TimelineEvent, TimelineEventType
from domain.policy import COMMANDER_ROLE, COMMS_ROLE, Policy
from domain.ports import OutboxMessage, UnitOfWork
from domain.services import IncidentRef, IncidentService
from domain.timers import IncidentClocks, TimerSubject, deadlines
from domain.updates import ClockMarks

EDIT_MESSAGE = "edit_message"  # outbox kind: chat.update of one given message (channel, ts)
SNOOZE_CHOICES = (timedelta(minutes=15), timedelta(minutes=30), timedelta(hours=1))
_SLA_NAMES = {"ack": "acknowledge", "mitigate": "mitigate", "resolve": "resolve"}


@dataclass(frozen=True)
class ReminderRecipient:
    """Who the reminder pings (Slack user ids, or the policy's ``notify`` entries) and why."""

    targets: tuple[str, ...]
    why: str


def reminder_recipient(incident: Incident, comms_lead: str | None, policy: Policy) -> ReminderRecipient:
    """The comms lead, else the commander, else the severity's first escalation target."""
    roles = policy.roles
    comms = roles[COMMS_ROLE].label if COMMS_ROLE in roles else None
    commander = roles[COMMANDER_ROLE].label
    if comms and comms_lead:
        return ReminderRecipient((comms_lead,), comms)
    missing = f"no {comms} assigned" if comms else "no comms role in the policy"
    if incident.assigned_to:
        return ReminderRecipient((incident.assigned_to,), f"{commander}; {missing}")
    steps = policy.rule(incident.severity).escalation
    nobody = f"no {comms} or {commander} assigned" if comms else f"no {commander} assigned"
    if steps:
        return ReminderRecipient(tuple(steps[0].notify),
                                 f"{incident.severity.label} escalation target; {nobody}")
    return ReminderRecipient((), f"{nobody}, and {incident.severity.label} has no escalation target")


@dataclass(frozen=True)
class Snooze:
    incident_id: uuid.UUID
    until: datetime
    snoozed_by: str
    snoozed_at: datetime


class UpdateSnoozes(Protocol):
    """Port: the stored snooze of each incident's update reminder (``uow.snoozes``)."""

    async def get(self, incident_id: uuid.UUID) -> Snooze | None: ...
    async def set(self, snooze: Snooze) -> None: ...

    async def clocks(self, incident: Incident) -> IncidentClocks:
        """The planner's view of the incident: its episode start, last update and snooze."""
        ...


class SnoozeUnitOfWork(UnitOfWork, Protocol):
    snoozes: UpdateSnoozes


@dataclass(frozen=True)
class SnoozeLimit:
    kind: str  # ack | mitigate | resolve
    at: datetime


def snooze_limit(clocks: TimerSubject, policy: Policy, now: datetime) -> SnoozeLimit | None:
    """The next SLO deadline still ahead (a snooze ends at it at the latest); None: no SLA.

    Raises :class:`DomainError` when the incident is past every deadline it still has: a
    snooze then would pass the SLA."""
    ahead: list[SnoozeLimit] = []
    passed: list[SnoozeLimit] = []
    for kind, deadline in deadlines(clocks, policy, now).items():
        if deadline.state == "pending":
            ahead.append(SnoozeLimit(kind, deadline.due_at))
        elif deadline.state == "breached" and deadline.reached_at is None:
            passed.append(SnoozeLimit(kind, deadline.due_at))
    if ahead:
        return min(ahead, key=lambda limit: limit.at)
    if passed:
        last = max(passed, key=lambda limit: limit.at)
        raise DomainError(f"Not snoozed: the {_SLA_NAMES[last.kind]} SLA passed at {hhmm(last.at)} "
                          "and a snooze never goes past the SLA. Post an update instead "
                          "(`/incident update <text>` or the button).")
    return None


def snooze_end(now: datetime, wanted: timedelta, limit: SnoozeLimit | None) -> tuple[datetime, bool]:
    """When the snooze ends, and whether it was cut to the SLA."""
    if wanted not in SNOOZE_CHOICES:
        raise DomainError("Snooze for 15m, 30m or 1h.")
    until = now + wanted
    if limit is not None and until > limit.at:
        return limit.at, True
    return until, False


@dataclass(frozen=True)
class ReminderMessage:
    """The reminder message a snooze was clicked on (edited to say who snoozed until when)."""

    channel: str
    ts: str
    text: str


@dataclass(frozen=True)
class SnoozeOutcome:
    incident: Incident
    until: datetime
    cut: SnoozeLimit | None  # set when the snooze was cut to this SLA deadline


class SnoozeTexts(Protocol):
    """Port: the reminder message as edited by a snooze (``bot/slack_ui/roles.py``)."""

    def snoozed_message(self, incident: Incident, original: str, actor: Actor, until: datetime,
                        cut: SnoozeLimit | None) -> dict[str, Any]: ...


class ReminderSnoozes:
    """Snoozing an incident's update reminder: one transaction, audited, re-planned."""

    def __init__(self, service: IncidentService, marks: Callable[[UnitOfWork], ClockMarks],
                 texts: SnoozeTexts) -> None:
        self.service = service
        self.marks = marks
        self.texts = texts

    async def snooze(self, ref: IncidentRef, actor: Actor, wanted: timedelta,
                     message: ReminderMessage | None = None) -> SnoozeOutcome:
        async def work(uow: UnitOfWork) -> SnoozeOutcome:
            return await self._snooze_in(cast(SnoozeUnitOfWork, uow), ref, actor, wanted, message)

        return await self.service.run(work)

    async def _snooze_in(self, uow: SnoozeUnitOfWork, ref: IncidentRef, actor: Actor,
                         wanted: timedelta, message: ReminderMessage | None) -> SnoozeOutcome:
        incident = await self.service.resolve_ref(uow, ref)
        policy = self.service.policy
        if not incident.status.is_active:
            raise DomainError(f"{incident.key} is {incident.status.value}; it has no update reminder "
                              "to snooze.")
        if policy.rule(incident.severity).update_cadence is None:
            raise DomainError(f"{incident.severity.label} has no update cadence in policy "
                              f"{policy.name}; there is no reminder to snooze.")
        now = self.service.clock.now()
        limit = snooze_limit(await uow.snoozes.clocks(incident), policy, now)
        until, cut = snooze_end(now, wanted, limit)
        await uow.snoozes.set(Snooze(incident.id, until, actor.id, now))
        await self.marks(uow).changed(incident)  # the tick re-plans the cadence at once
        await uow.timeline.add(TimelineEvent(
            incident_id=incident.id, event_type=TimelineEventType.NOTE,
            body=f"Update reminder snoozed until {hhmm(until)}", author=actor.id,
            author_name=actor.name, occurred_at=now, created_at=now))
        await uow.audit.add(AuditEvent(
            occurred_at=now, actor=actor.id, actor_name=actor.name, action="incident.update_snoozed",
            resource_type="incident", resource_id=str(incident.id), details={
                "number": incident.number, "until": until.isoformat(),
                "requested_seconds": wanted.total_seconds(),
                "cut_to": limit.kind if cut and limit else None}))
        if message is not None:
            edited = self.texts.snoozed_message(incident, message.text, actor, until,
                                                limit if cut else None)
            await uow.outbox.add(OutboxMessage(EDIT_MESSAGE, incident.id, {
                "channel": message.channel, "ts": message.ts, **edited}))
        return SnoozeOutcome(incident, until, limit if cut else None)

"""Pure timer planning: which SLO breaches, update reminders and escalations are due now.

Nothing here keeps time or state. The scheduler's tick passes an incident snapshot, the
policy, the keys of the timers that already fired (stored in the database) and ``now``; the
planner answers with the due :class:`TimerAction` s and the next deadline. Because every
answer is recomputed from stored timestamps, a restart, a second replica or a clock jump
neither loses nor repeats anything: each action has a stable ``key`` and storage records it
in the same transaction as the message it causes.

Rules (all clocks count from the start of the current *episode*: the declaration, or the
last reopen):

- ``ack_breach`` / ``mitigate_breach`` / ``resolve_breach`` are due at episode start + target
  while the milestone is not reached and the incident is active (open, investigating,
  mitigated). A milestone reached late is not announced as a breach afterwards;
  :func:`deadlines` still reports it as breached.
- ``escalation`` step *i* is due at episode start + ``after`` while not mitigated; once per step.
- ``no_commander`` is due at episode start + ``commander_within`` (p1/p2 by default) while
  nobody is assigned.
- ``update_due``: a stakeholder-update reminder every ``update_cadence`` since the later of
  (episode start, last update). After a long gap (a clock jump, a stopped scheduler) only the
  *latest* missed reminder is returned: reminder *n* is due at ``base + n * cadence`` and only
  ``n = floor((now - base) / cadence)`` is ever offered, so a 3 h jump on a 15 min cadence
  gives ONE reminder, not 12, and never more than one per cadence interval.
- The severity and the episode start are part of every key: a severity change re-plans every
  clock under new keys (a p3 upgraded to p1 at T+20 min is in breach of the p1 ack target at
  once); flapping back to a severity does not repeat what already fired for it. Resolve stops
  everything; reopen starts a new episode, hence new keys.

All datetimes must be timezone-aware (UTC), as the ``Clock`` port returns them. If the wall
clock steps *backwards* across a cadence boundary, one update reminder may be offered again;
forward jumps are safe.

Cost: planning one incident is a handful of datetime additions and comparisons (a few
microseconds); keys are built only for timers that are due. ``TimerPlan.wake_at`` is the
value to index (``incidents.timers_wake_at``) so the tick loads only incidents with something
due.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal, Protocol

from domain.model import Incident, Severity, Status
from domain.policy import Policy, SeverityRule


class TimerKind(StrEnum):
    ACK_BREACH = "ack_breach"
    MITIGATE_BREACH = "mitigate_breach"
    RESOLVE_BREACH = "resolve_breach"
    ESCALATION = "escalation"
    NO_COMMANDER = "no_commander"
    UPDATE_DUE = "update_due"


# Order of actions due at the same instant: breaches first, then who is called in, then nudges.
_RANK = {kind: rank for rank, kind in enumerate(TimerKind)}
_KIND_VALUE = {kind: kind.value for kind in TimerKind}


class TimerSubject(Protocol):
    """What the planner reads from an incident; :class:`IncidentClocks` is the concrete one."""

    @property
    def severity(self) -> Severity: ...
    @property
    def status(self) -> Status: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def acknowledged_at(self) -> datetime | None: ...
    @property
    def mitigated_at(self) -> datetime | None: ...
    @property
    def resolved_at(self) -> datetime | None: ...
    @property
    def assigned_to(self) -> str | None: ...
    @property
    def last_update_at(self) -> datetime | None: ...
    @property
    def episode_started_at(self) -> datetime | None: ...
    @property
    def update_snoozed_until(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class IncidentClocks:
    """The planner's view of one incident: its stored timestamps, nothing else.

    ``last_update_at``: the last stakeholder update (``/incident update``) posted.
    ``episode_started_at``: the last reopen (None: the declaration, ``created_at``).
    ``update_snoozed_until``: the update reminder was snoozed until then (issue 19): the next
    reminder falls due no earlier, and the cadence counts on from it.
    """

    severity: Severity
    status: Status
    created_at: datetime
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    assigned_to: str | None = None
    last_update_at: datetime | None = None
    episode_started_at: datetime | None = None
    update_snoozed_until: datetime | None = None

    @classmethod
    def of(cls, incident: Incident, *, last_update_at: datetime | None = None,
           episode_started_at: datetime | None = None,
           update_snoozed_until: datetime | None = None) -> IncidentClocks:
        return cls(incident.severity, incident.status, incident.created_at,
                   incident.acknowledged_at, incident.mitigated_at, incident.resolved_at,
                   incident.assigned_to, last_update_at, episode_started_at, update_snoozed_until)


@dataclass(frozen=True, slots=True)
class TimerAction:
    """One thing the bot must now say or do. ``key`` is unique per incident and stable.

    ``target``: the policy duration behind it (the breached SLO, the escalation's ``after``,
    the cadence), for messages such as "not acknowledged within 5m". ``step`` / ``notify`` /
    ``reason`` are set for escalations; ``sequence`` is the reminder number for ``update_due``.
    """

    kind: TimerKind
    key: str
    due_at: datetime
    severity: Severity
    episode_started_at: datetime
    target: timedelta
    step: int | None = None
    notify: tuple[str, ...] = ()
    reason: str = ""
    sequence: int | None = None


@dataclass(frozen=True, slots=True)
class TimerPlan:
    """Due actions (ordered by ``due_at``, then breach, escalation, commander, update).

    ``next_due_at``: the earliest deadline strictly after ``now`` (for the announcement and
    for storage once the actions are recorded). ``wake_at``: when this incident next needs a
    plan, i.e. the value storage indexes; None means never (no live clock).
    """

    actions: tuple[TimerAction, ...]
    next_due_at: datetime | None

    @property
    def wake_at(self) -> datetime | None:
        if self.actions:
            return self.actions[0].due_at
        return self.next_due_at


_EMPTY = TimerPlan((), None)
_ACTIVE = frozenset({Status.OPEN, Status.INVESTIGATING, Status.MITIGATED})
_OPEN, _INVESTIGATING, _MITIGATED = Status.OPEN, Status.INVESTIGATING, Status.MITIGATED
_ACK, _MITIGATE, _RESOLVE, _NO_COMMANDER = (TimerKind.ACK_BREACH, TimerKind.MITIGATE_BREACH,
                                            TimerKind.RESOLVE_BREACH, TimerKind.NO_COMMANDER)


_TOKENS: dict[datetime, str] = {}


def episode_token(at: datetime) -> str:
    """A datetime as it appears in keys: UTC ISO 8601 (``2026-05-23T14:02:00Z``), cached.

    Equal instants give equal tokens whatever their time zone, so keys survive a database
    that hands timestamps back in another zone. Formatting costs microseconds, hence the cache.
    """
    token = _TOKENS.get(at)
    if token is None:
        if len(_TOKENS) >= 100_000:
            _TOKENS.clear()
        utc = at.astimezone(UTC) if at.tzinfo is not None else at
        token = _TOKENS[at] = utc.replace(tzinfo=None).isoformat() + "Z"
    return token


class _Rule:
    """A severity's targets, unpacked once per policy so planning does no attribute lookups."""

    __slots__ = ("ack", "mitigate", "resolve", "cadence", "commander", "steps", "value")

    def __init__(self, severity: Severity, rule: SeverityRule) -> None:
        self.value = severity.value
        self.ack = rule.ack
        self.mitigate = rule.mitigate
        self.resolve = rule.resolve
        self.cadence = rule.update_cadence
        self.commander = rule.commander_within
        self.steps = tuple((step.after, tuple(step.notify), step.reason) for step in rule.escalation)


def _update_base(cadence: timedelta, last_update_at: datetime | None, episode: datetime,
                 snoozed_until: datetime | None) -> datetime:
    """Where the update cadence counts from: the later of the episode start and the last
    update, moved on by a snooze so that the next reminder falls due at its end (issue 19)."""
    base = last_update_at if last_update_at is not None and last_update_at > episode else episode
    if snoozed_until is not None and snoozed_until - cadence > base:
        base = snoozed_until - cadence
    return base


def _cadence(cadence: timedelta, last_update_at: datetime | None, episode: datetime,
             now: datetime, snoozed_until: datetime | None = None,
             ) -> tuple[tuple[datetime, int] | None, datetime]:
    """The stakeholder update cadence: the reminder due now, as (base, n) (only the latest due
    one is ever offered), or None; and when the next one falls due."""
    base = _update_base(cadence, last_update_at, episode, snoozed_until)
    due = base + cadence
    if due > now:
        return None, due
    n = (now - base) // cadence
    return (base, n), base + cadence * n + cadence


class TimerPlanner:
    """Plans timers for many incidents under one policy; build once, call :meth:`plan` per tick."""

    __slots__ = ("policy", "_rules")

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._rules = {sev: _Rule(sev, policy.rule(sev)) for sev in Severity}

    def plan(self, incident: TimerSubject, fired: Container[str], now: datetime) -> TimerPlan:
        """The actions due at ``now`` whose keys are not in ``fired``, and the next deadline."""
        # Hot path (10,000 incidents per tick): enum members are read from module constants,
        # since ``Status.OPEN`` costs a slow metaclass lookup on Python 3.11.
        status = incident.status
        if status is not _OPEN and status is not _INVESTIGATING and status is not _MITIGATED:
            return _EMPTY
        rule = self._rules[incident.severity]
        episode = incident.episode_started_at or incident.created_at
        due_now: list[tuple[TimerKind, datetime, timedelta]] | None = None  # (kind, due, target)
        nxt: datetime | None = None
        mitigated = status is _MITIGATED or incident.mitigated_at is not None

        # The three SLO clocks.
        target = rule.ack
        if target is not None and status is _OPEN and incident.acknowledged_at is None:
            due = episode + target
            if due > now:
                nxt = due
            else:
                due_now = [(_ACK, due, target)]
        target = rule.mitigate
        if target is not None and not mitigated:
            due = episode + target
            if due > now:
                if nxt is None or due < nxt:
                    nxt = due
            elif due_now is None:
                due_now = [(_MITIGATE, due, target)]
            else:
                due_now.append((_MITIGATE, due, target))
        target = rule.resolve
        if target is not None:
            due = episode + target
            if due > now:
                if nxt is None or due < nxt:
                    nxt = due
            elif due_now is None:
                due_now = [(_RESOLVE, due, target)]
            else:
                due_now.append((_RESOLVE, due, target))

        # Escalation steps (increasing `after`), then the Incident Commander deadline.
        steps_due = 0
        if not mitigated:
            for after, _notify, _reason in rule.steps:
                due = episode + after
                if due > now:
                    if nxt is None or due < nxt:
                        nxt = due
                    break
                steps_due += 1
        target = rule.commander
        if target is not None and not incident.assigned_to:
            due = episode + target
            if due > now:
                if nxt is None or due < nxt:
                    nxt = due
            elif due_now is None:
                due_now = [(_NO_COMMANDER, due, target)]
            else:
                due_now.append((_NO_COMMANDER, due, target))

        update: tuple[datetime, int] | None = None
        if rule.cadence is not None:
            update, due = _cadence(rule.cadence, incident.last_update_at, episode, now,
                                   incident.update_snoozed_until)
            if nxt is None or due < nxt:
                nxt = due

        if due_now is None and not steps_due and update is None:
            return TimerPlan((), nxt)
        return TimerPlan(self._actions(incident, rule, episode, due_now, steps_due, update, fired), nxt)

    def _actions(self, incident: TimerSubject, rule: _Rule, episode: datetime,
                 due_now: list[tuple[TimerKind, datetime, timedelta]] | None, steps_due: int,
                 update: tuple[datetime, int] | None, fired: Container[str]) -> tuple[TimerAction, ...]:
        """Build keys and actions for what is due; rarer than planning, so clarity first."""
        severity = incident.severity
        tail = f":{rule.value}:{episode_token(episode)}"
        actions: list[TimerAction] = []
        for kind, due, target in due_now or ():
            key = _KIND_VALUE[kind] + tail
            if key not in fired:
                actions.append(TimerAction(kind, key, due, severity, episode, target))
        for index, (after, notify, reason) in enumerate(rule.steps[:steps_due]):
            key = f"escalation{tail}:{index}"
            if key not in fired:
                actions.append(TimerAction(TimerKind.ESCALATION, key, episode + after, severity,
                                           episode, after, index, notify, reason))
        if update is not None:
            base, n = update
            key = f"update_due:{rule.value}:{episode_token(base)}:{n}"
            if key not in fired:
                cadence = rule.cadence
                assert cadence is not None
                actions.append(TimerAction(TimerKind.UPDATE_DUE, key, base + cadence * n, severity,
                                           episode, cadence, sequence=n))
        if len(actions) > 1:
            actions.sort(key=_order)
        return tuple(actions)


def _order(action: TimerAction) -> tuple[datetime, int, int]:
    return action.due_at, _RANK[action.kind], action.step or 0


_PLANNERS: dict[int, TimerPlanner] = {}


def planner_for(policy: Policy) -> TimerPlanner:
    """A cached planner per policy object (the policy is immutable once loaded)."""
    planner = _PLANNERS.get(id(policy))
    if planner is None or planner.policy is not policy:
        if len(_PLANNERS) >= 16:  # policies are few; tests build many, keep the cache small
            _PLANNERS.clear()
        planner = _PLANNERS[id(policy)] = TimerPlanner(policy)
    return planner


def plan_timers(incident: TimerSubject, policy: Policy, fired: Container[str],
                now: datetime) -> TimerPlan:
    """Due actions for one incident at ``now``; see the module docstring for the rules."""
    return planner_for(policy).plan(incident, fired, now)


def next_update_due_at(incident: TimerSubject, policy: Policy, now: datetime) -> datetime | None:
    """When the next stakeholder update is expected (shown to the IC); None: no cadence/inactive."""
    cadence = policy.rule(incident.severity).update_cadence
    if cadence is None or incident.status not in _ACTIVE:
        return None
    episode = incident.episode_started_at or incident.created_at
    base = _update_base(cadence, incident.last_update_at, episode, incident.update_snoozed_until)
    if now < base + cadence:
        return base + cadence
    return base + cadence * ((now - base) // cadence + 1)


DeadlineState = Literal["met", "breached", "pending", "stopped"]


@dataclass(frozen=True, slots=True)
class Deadline:
    """One SLO target as the announcement shows it.

    ``state``: ``met`` (reached in time), ``breached`` (reached late, or still open past the
    deadline), ``pending`` (open, deadline ahead; also when ``now`` is not given) or
    ``stopped`` (not reached but the incident is no longer active).
    """

    kind: Literal["ack", "mitigate", "resolve"]
    due_at: datetime
    target: timedelta
    reached_at: datetime | None
    state: DeadlineState


def deadlines(incident: TimerSubject | Incident, policy: Policy,
              now: datetime | None = None) -> dict[str, Deadline]:
    """Ack / mitigate / resolve deadlines of the current episode (kinds without target omitted).

    Accepts an :class:`IncidentClocks` or a plain :class:`~domain.model.Incident` (whose
    episode is then its declaration).
    """
    rule = policy.rule(incident.severity)
    episode = getattr(incident, "episode_started_at", None) or incident.created_at
    active = incident.status in _ACTIVE
    out: dict[str, Deadline] = {}
    kinds: tuple[tuple[Literal["ack", "mitigate", "resolve"], timedelta | None, datetime | None], ...] = (
        ("ack", rule.ack, incident.acknowledged_at),
        ("mitigate", rule.mitigate, incident.mitigated_at),
        ("resolve", rule.resolve, incident.resolved_at),
    )
    for kind, target, reached in kinds:
        if target is None:
            continue
        due = episode + target
        state: DeadlineState
        if reached is not None:
            state = "met" if reached <= due else "breached"
        elif not active:
            state = "stopped"
        elif now is not None and now >= due:
            state = "breached"
        else:
            state = "pending"
        out[kind] = Deadline(kind, due, target, reached, state)
    return out

"""The timer planner: what is due when, for GOV-001, from stored timestamps only (fake time)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from domain.model import Severity, Status
from domain.policy import default_policy
from domain.timers import IncidentClocks, TimerKind, deadlines, plan_timers

POLICY = default_policy()
T0 = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)


def p1(**changes: object) -> IncidentClocks:
    return replace(IncidentClocks(Severity.P1, Status.OPEN, T0), **changes)  # type: ignore[arg-type]


def due(incident: IncidentClocks, minutes: float, fired: set[str] | None = None) -> list[TimerKind]:
    plan = plan_timers(incident, POLICY, fired or set(), T0 + timedelta(minutes=minutes))
    return [a.kind for a in plan.actions]


def run(incident: IncidentClocks, minutes: list[float]) -> list[tuple[float, TimerKind]]:
    """Tick at each minute, remembering what fired, as the scheduler does."""
    fired: set[str] = set()
    out = []
    for m in minutes:
        for action in plan_timers(incident, POLICY, fired, T0 + timedelta(minutes=m)).actions:
            fired.add(action.key)
            out.append((m, action.kind))
    return out


def test_nothing_is_due_before_the_first_deadline() -> None:
    plan = plan_timers(p1(), POLICY, set(), T0 + timedelta(minutes=4, seconds=59))
    assert plan.actions == () and plan.next_due_at == T0 + timedelta(minutes=5)


def test_a_sev1_left_alone_breaches_escalates_and_nags_once_each() -> None:
    assert run(p1(), [5, 5, 15, 30, 30, 45, 240]) == [
        (5, TimerKind.ACK_BREACH), (5, TimerKind.NO_COMMANDER),
        (15, TimerKind.UPDATE_DUE),
        (30, TimerKind.MITIGATE_BREACH), (30, TimerKind.ESCALATION), (30, TimerKind.UPDATE_DUE),
        (45, TimerKind.UPDATE_DUE),
        (240, TimerKind.RESOLVE_BREACH), (240, TimerKind.UPDATE_DUE),
    ]


def test_escalation_names_the_policy_targets() -> None:
    [escalation] = [a for a in plan_timers(p1(acknowledged_at=T0, status=Status.INVESTIGATING,
                                              assigned_to="U1"), POLICY, set(),
                                           T0 + timedelta(minutes=31)).actions
                    if a.kind is TimerKind.ESCALATION]
    assert escalation.notify == ("@ml-platform-lead", "@vp-engineering")
    assert escalation.target == timedelta(minutes=30)


def test_reaching_a_milestone_in_time_stops_its_clock() -> None:
    handled = p1(status=Status.MITIGATED, acknowledged_at=T0 + timedelta(minutes=2),
                 mitigated_at=T0 + timedelta(minutes=20), assigned_to="U1")
    assert due(handled, 31) == [TimerKind.UPDATE_DUE]  # no breach, no escalation, no IC flag
    assert deadlines(handled, POLICY, T0 + timedelta(minutes=31))["mitigate"].state == "met"


def test_the_commander_flag_is_for_sev1_and_sev2_only() -> None:
    assert TimerKind.NO_COMMANDER in due(p1(severity=Severity.P2), 5)
    assert TimerKind.NO_COMMANDER not in due(p1(severity=Severity.P3), 60)
    assert TimerKind.NO_COMMANDER not in due(p1(assigned_to="U1"), 5)


def test_a_three_hour_clock_jump_gives_one_reminder_not_twelve() -> None:
    kinds = due(p1(), 180)
    assert kinds.count(TimerKind.UPDATE_DUE) == 1 and kinds.count(TimerKind.ESCALATION) == 1


def test_an_update_restarts_the_cadence() -> None:
    updated = p1(last_update_at=T0 + timedelta(minutes=10), assigned_to="U1",
                 acknowledged_at=T0, status=Status.INVESTIGATING)
    assert TimerKind.UPDATE_DUE not in due(updated, 15)
    assert TimerKind.UPDATE_DUE in due(updated, 25)


def test_a_severity_change_replans_under_new_keys() -> None:
    p3 = p1(severity=Severity.P3)
    assert due(p3, 20) == []
    upgraded = p1(severity=Severity.P1)
    assert TimerKind.ACK_BREACH in due(upgraded, 20)  # in breach of the P1 target at once
    fired = {a.key for a in plan_timers(p3, POLICY, set(), T0 + timedelta(minutes=61)).actions}
    assert all(":p3:" in key for key in fired)  # keys carry the severity: no collisions


def test_resolve_stops_everything_and_reopen_starts_a_new_episode() -> None:
    resolved = p1(status=Status.RESOLVED, acknowledged_at=T0, resolved_at=T0 + timedelta(minutes=40))
    assert due(resolved, 500) == []
    reopened = p1(status=Status.INVESTIGATING, acknowledged_at=T0,
                  episode_started_at=T0 + timedelta(minutes=60), assigned_to="U1")
    assert due(reopened, 74) == []  # 14 minutes into the new episode
    assert due(reopened, 90) == [TimerKind.MITIGATE_BREACH, TimerKind.ESCALATION, TimerKind.UPDATE_DUE]
    old = {a.key for a in plan_timers(p1(), POLICY, set(), T0 + timedelta(minutes=30)).actions}
    new = {a.key for a in plan_timers(reopened, POLICY, set(), T0 + timedelta(minutes=90)).actions}
    assert not old & new

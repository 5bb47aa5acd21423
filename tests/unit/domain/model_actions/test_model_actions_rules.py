"""The pure rules of issue 18: who may request and approve a rollback (GOV-001 RACI and 5.3
break-glass), the version to return to, what a sync learns, and how "What changed?" reads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.governance.roles import Role
from domain.model import DomainError, Severity
from domain.model_actions.changes import Change, ChangeKind, relative, what_changed
from domain.model_actions.drift_controls import MAX_SNOOZE, bounded
from domain.model_actions.registry import (
    AliasMove,
    RegistryModel,
    RegistryVersion,
    StoredModel,
    changes_since,
)
from domain.model_actions.rollback import (
    AlreadyDecided,
    Rollback,
    RollbackPolicy,
    RollbackRefused,
    RollbackStatus,
    check_approval,
    check_request,
    default_target,
)

T0 = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
IC, SRE, MLE = frozenset({Role.INCIDENT_COMMANDER}), frozenset({Role.ML_PLATFORM_SRE}), frozenset(
    {Role.ML_ENGINEER})
POLICY = RollbackPolicy()


def request(by: str = "U0SRE") -> Rollback:
    return Rollback(uuid.uuid4(), "m", "champion", "2", "1", "bad deploy", by, "sre", T0)


def test_responsible_and_accountable_roles_may_request_others_may_not() -> None:
    check_request(SRE, POLICY)
    check_request(IC, POLICY)
    with pytest.raises(RollbackRefused, match="Incident Commander or ML Platform SRE"):
        check_request(MLE, POLICY)
    check_request(frozenset(), RollbackPolicy(enforce_roles=False))  # role checks off


def test_only_the_accountable_commander_approves_another_persons_request() -> None:
    assert check_approval(request(), "U0IC", IC, Severity.P2, POLICY) is False
    with pytest.raises(RollbackRefused, match="Only Incident Commander may approve"):
        check_approval(request(), "U0OTHERSRE", SRE, Severity.P2, POLICY)


def test_approving_ones_own_request_is_break_glass_on_sev1_only() -> None:
    assert check_approval(request(), "U0SRE", SRE, Severity.P1, POLICY) is True
    with pytest.raises(RollbackRefused, match="break-glass, allowed on SEV-1 only"):
        check_approval(request(), "U0SRE", SRE, Severity.P2, POLICY)
    with pytest.raises(RollbackRefused):  # four eyes stay when role checks are off
        check_approval(request(), "U0SRE", frozenset(), Severity.P2, RollbackPolicy(enforce_roles=False))
    with pytest.raises(RollbackRefused, match="no severity"):
        check_approval(request(), "U0SRE", SRE, Severity.P1, RollbackPolicy(break_glass=frozenset()))


def test_a_decided_request_is_not_decided_again() -> None:
    done = request()
    done.status, done.decided_by_name = RollbackStatus.APPROVED, "ic"
    with pytest.raises(AlreadyDecided, match="already approved by ic"):
        check_approval(done, "U0IC", IC, Severity.P2, POLICY)


def test_the_version_to_return_to_is_the_one_before_the_latest_move() -> None:
    history = [AliasMove("m", "champion", "2", "1", T0),
               AliasMove("m", "champion", "3", "2", T0 + timedelta(hours=1))]
    assert default_target(history, "champion", "3", ["1", "2", "3"]) == "2"
    # no history: the newest version older than the current one
    assert default_target([], "champion", "3", ["1", "2", "3", "10"]) == "2"
    assert default_target([], "champion", "1", ["1"]) is None


def test_a_sync_dates_alias_moves_and_new_versions() -> None:
    current = RegistryModel("m", {"team": "t"}, {"champion": "2", "challenger": "3"},
                            [RegistryVersion("2", T0), RegistryVersion("3", T0 + timedelta(minutes=5))])
    moves, new = changes_since(StoredModel({"champion": "1", "challenger": "3"}, frozenset({"1", "2"})),
                               current, T0 + timedelta(hours=1))
    assert [(m.alias, m.previous, m.version, m.moved_at) for m in moves] == [
        ("champion", "1", "2", T0 + timedelta(hours=1))]
    assert [(v.version, v.created_at) for v in new] == [("3", T0 + timedelta(minutes=5))]
    assert current.serving_version == "2" and current.labels == []


def test_what_changed_keeps_the_window_newest_first_and_earlier_incidents_of_any_age() -> None:
    at = T0 + timedelta(days=2)
    items = [Change(at - timedelta(minutes=30), ChangeKind.ALIAS_MOVE, "move"),
             Change(at - timedelta(hours=30), ChangeKind.NEW_VERSION, "old version"),
             Change(at - timedelta(days=40), ChangeKind.EARLIER_INCIDENT, "INC-1"),
             Change(at - timedelta(hours=3), ChangeKind.DRIFT_ASSESSMENT, "psi"),
             Change(at + timedelta(hours=1), ChangeKind.ALIAS_MOVE, "after")]
    assert [c.text for c in what_changed(items, at)] == ["move", "psi", "INC-1"]
    assert relative(at - timedelta(minutes=30), at) == "30 min before"
    assert relative(at - timedelta(hours=2, minutes=5), at) == "2 h 5 min before"
    assert relative(at - timedelta(days=40), at) == "40 d before"
    assert relative(at, at) == "at declaration"


def test_snoozes_are_bounded() -> None:
    assert bounded("4h", MAX_SNOOZE, "Snooze") == timedelta(hours=4)
    with pytest.raises(DomainError, match="at most 7 days"):
        bounded("8d", MAX_SNOOZE, "Snooze")
    with pytest.raises(DomainError, match="not a duration"):
        bounded("soon", MAX_SNOOZE, "Snooze")

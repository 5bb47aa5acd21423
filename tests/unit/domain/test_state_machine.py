"""The incident state machine, as ARCHITECTURE.md specifies it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from bot.slack_ui.messages import SlackMessages
from domain.model import DomainError, Incident, Severity, Status, TriggerSource
from domain.state_machine import (
    ALLOWED,
    AlreadyInState,
    IllegalTransition,
    allowed_verbs,
    target_for,
    transition,
)

T0 = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)


def incident(status: Status = Status.OPEN) -> Incident:
    return Incident(number=7, title="Null predictions", severity=Severity.P1, status=status,
                    model_id=uuid.uuid4(), trigger_source=TriggerSource.MANUAL,
                    created_by="U1", created_at=T0, updated_at=T0)


LEGAL = [
    (Status.OPEN, Status.INVESTIGATING), (Status.OPEN, Status.MITIGATED),
    (Status.OPEN, Status.RESOLVED), (Status.INVESTIGATING, Status.MITIGATED),
    (Status.INVESTIGATING, Status.RESOLVED), (Status.MITIGATED, Status.RESOLVED),
    (Status.MITIGATED, Status.INVESTIGATING), (Status.RESOLVED, Status.INVESTIGATING),
    (Status.RESOLVED, Status.CLOSED),
]


def test_exactly_the_documented_moves_are_allowed() -> None:
    allowed = {(a, b) for a, targets in ALLOWED.items() for b in targets}
    assert allowed == set(LEGAL)


@pytest.mark.parametrize("start,target", [(a, b) for a in Status for b in Status
                                          if a is not b and (a, b) not in LEGAL])
def test_every_other_move_is_refused_naming_the_allowed_ones(start: Status, target: Status) -> None:
    inc = incident(start)
    with pytest.raises(IllegalTransition) as err:
        transition(inc, target, T0)
    assert inc.status is start
    for verb in allowed_verbs(start):
        assert f"`{verb}`" in str(err.value)
    if start is Status.CLOSED:
        assert "closed is final" in str(err.value)


def test_acknowledge_sets_acknowledged_at() -> None:
    inc = incident()
    transition(inc, Status.INVESTIGATING, T0 + timedelta(minutes=3))
    assert inc.acknowledged_at == T0 + timedelta(minutes=3)
    assert inc.time_to_acknowledge() == 180


def test_skipped_acknowledgement_is_recorded_at_the_moment_of_resolution() -> None:
    inc = incident()
    at = T0 + timedelta(minutes=9)
    transition(inc, Status.RESOLVED, at)
    assert inc.acknowledged_at == at and inc.resolved_at == at and inc.mitigated_at == at


def test_reopen_clears_resolution_and_close_sets_closed_at() -> None:
    inc = incident()
    transition(inc, Status.RESOLVED, T0 + timedelta(minutes=5))
    transition(inc, Status.INVESTIGATING, T0 + timedelta(minutes=6))
    assert inc.resolved_at is None and inc.acknowledged_at == T0 + timedelta(minutes=5)
    transition(inc, Status.RESOLVED, T0 + timedelta(minutes=20))
    transition(inc, Status.CLOSED, T0 + timedelta(minutes=30))
    assert inc.closed_at == T0 + timedelta(minutes=30) and inc.status is Status.CLOSED


def test_repeating_the_current_state_is_a_no_op_not_an_error_of_the_machine() -> None:
    inc = incident(Status.RESOLVED)
    with pytest.raises(AlreadyInState):
        transition(inc, Status.RESOLVED, T0)


# Verbs are intents: what a verb asks for depends on where the incident is when it is applied.

@pytest.mark.parametrize("status", [Status.INVESTIGATING, Status.MITIGATED, Status.RESOLVED,
                                    Status.CLOSED])
def test_a_stale_acknowledge_changes_nothing_and_says_where_the_incident_is(status: Status) -> None:
    inc = incident(status)
    with pytest.raises(AlreadyInState) as said:
        target_for(inc, "ack")
    assert f"it is {status.value} now" in str(said.value)  # plain words, without a renderer
    assert f"it is *{status.value}* now" in SlackMessages().already_in_state(said.value)
    assert inc.status is status


def test_acknowledge_applies_to_an_open_incident_only() -> None:
    assert target_for(incident(Status.OPEN), "ack") is Status.INVESTIGATING


@pytest.mark.parametrize("status", [Status.MITIGATED, Status.RESOLVED])
def test_reopen_is_its_own_verb(status: Status) -> None:
    assert target_for(incident(status), "reopen") is Status.INVESTIGATING


def test_reopen_of_an_active_incident_changes_nothing_and_of_a_closed_one_is_refused() -> None:
    with pytest.raises(AlreadyInState):
        target_for(incident(Status.INVESTIGATING), "reopen")
    with pytest.raises(IllegalTransition):
        target_for(incident(Status.CLOSED), "reopen")


@pytest.mark.parametrize("verb,target", [("mitigate", Status.MITIGATED),
                                         ("resolve", Status.RESOLVED), ("close", Status.CLOSED)])
def test_the_other_verbs_name_their_status(verb: str, target: Status) -> None:
    assert target_for(incident(Status.INVESTIGATING), verb) is target


def test_an_unknown_verb_is_refused_naming_the_verbs() -> None:
    with pytest.raises(DomainError) as said:
        target_for(incident(Status.OPEN), "acknowledge-ish")
    assert "`ack`" in str(said.value) and "`reopen`" in str(said.value)

"""The Slack wording of an incident change (``bot/slack_ui/messages.py``, the ``Messages`` port of
``domain/messages.py``), pinned once here; other tests build these texts with the renderer."""

from __future__ import annotations

from datetime import timedelta

from bot.slack_ui.messages import SlackMessages
from domain.model import Actor, Severity, Status
from domain.state_machine import AlreadyInState, IllegalTransition
from tests.unit.bot.slack_ui.samples import BOB, T0, incident

SAY = SlackMessages()


def test_status_changed_with_its_response_times_and_the_reason_escaped() -> None:
    acked = incident(1, status=Status.INVESTIGATING, acknowledged_at=T0 + timedelta(minutes=4))
    assert SAY.status_changed(acked, Status.OPEN, BOB, T0 + timedelta(minutes=4), None) == (
        ":large_orange_circle: *INC-1 acknowledged* by <@U0BOB> at 14:04:00 UTC\n"
        "time to acknowledge 4m")
    mitigated = incident(1, status=Status.MITIGATED, acknowledged_at=T0,
                         mitigated_at=T0 + timedelta(minutes=7))
    assert SAY.status_changed(mitigated, Status.INVESTIGATING, BOB, T0 + timedelta(minutes=7),
                              "rolled <b>back</b>") == (
        ":large_yellow_circle: *INC-1 mitigated* by <@U0BOB> at 14:07:00 UTC\n"
        "time to mitigate 7m\n> rolled &lt;b&gt;back&lt;/b&gt;")
    resolved = incident(1, status=Status.RESOLVED, acknowledged_at=T0 + timedelta(hours=1),
                        resolved_at=T0 + timedelta(hours=1))
    assert SAY.status_changed(resolved, Status.MITIGATED, Actor("pagerduty", "PagerDuty"),
                              T0 + timedelta(hours=1), None) == (
        ":large_green_circle: *INC-1 resolved* by PagerDuty at 15:00:00 UTC\n"
        "time to acknowledge 1h · time to resolve 1h")


def test_status_changed_back() -> None:
    back = incident(1, status=Status.INVESTIGATING)
    assert SAY.status_changed(back, Status.MITIGATED, BOB, T0, None) == (
        ":large_orange_circle: *INC-1 moved back to investigating* by <@U0BOB> at 14:00:00 UTC")
    assert SAY.status_changed(back, Status.RESOLVED, BOB, T0, "not fixed") == (
        ":large_orange_circle: *INC-1 reopened* by <@U0BOB> at 14:00:00 UTC\n> not fixed")


def test_note_assignment_and_severity() -> None:
    assert SAY.note_echo(incident(1), BOB, "p99 <!here>") == (
        ":memo: Note on INC-1 by <@U0BOB>:\n>p99 &lt;!here&gt;")
    assert SAY.assigned(incident(1), BOB, "U0CAROL") == (
        ":bust_in_silhouette: <@U0CAROL> is now Incident Commander of INC-1 (set by <@U0BOB>)")
    assert SAY.severity_changed(incident(1, severity=Severity.P1), Severity.P3, BOB) == (
        ":arrows_counterclockwise: INC-1 severity changed SEV-3 → *SEV-1* by <@U0BOB>")


def test_commander_note_and_already_commands() -> None:
    assert SAY.commander_note("U0CAROL") == "Incident Commander set to <@U0CAROL>"
    assert SAY.already_commands(incident(1), "U0CAROL") == "<@U0CAROL> already commands INC-1."


def test_refusals_of_the_state_machine() -> None:
    closed = incident(1, status=Status.CLOSED)
    assert SAY.illegal_transition(IllegalTransition(closed, Status.INVESTIGATING)) == (
        "INC-1 is *closed*; it cannot move to *investigating*. Allowed now: none (closed is final).")
    assert SAY.illegal_transition(IllegalTransition(incident(1, status=Status.INVESTIGATING),
                                                    Status.CLOSED)) == (
        "INC-1 is *investigating*; it cannot move to *closed*. Allowed now: `mitigate`, `resolve`.")
    resolved = incident(1, status=Status.RESOLVED)
    assert SAY.already_in_state(AlreadyInState(resolved)) == "INC-1 is already *resolved*."
    assert SAY.already_in_state(AlreadyInState(resolved, "ack")) == (
        "INC-1 is already acknowledged: it is *resolved* now, so nothing changed. "
        "Use `reopen` to work on it again.")
    assert SAY.already_in_state(AlreadyInState(incident(1, status=Status.INVESTIGATING), "ack")) == (
        "INC-1 is already acknowledged: it is *investigating* now, so nothing changed.")
    assert SAY.already_in_state(AlreadyInState(incident(1), "reopen")) == (
        "INC-1 is already *open*: nothing to reopen.")

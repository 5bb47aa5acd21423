"""The Slack wording of SLO clocks, escalations, update reminders and snoozes
(``bot/slack_ui/timers.py``), pinned once here; the end-to-end tests build these texts with the
renderer."""

from __future__ import annotations

from datetime import timedelta

from bot.slack_ui.timers import (
    breach_text,
    escalation_text,
    no_commander_text,
    reminder_who,
    snoozed_note,
    snoozed_reply,
    unknown_group_mention,
    update_due_text,
    update_posted_reply,
    update_posted_text,
)
from domain.model import Severity
from domain.reminders import SnoozeLimit
from domain.timers import TimerAction, TimerKind
from tests.unit.bot.slack_ui.samples import T0, incident


def action(kind: TimerKind, after: timedelta) -> TimerAction:
    return TimerAction(kind, f"{kind}:1", T0 + after, Severity.P1, T0, after)


def test_breach_and_no_commander() -> None:
    assert breach_text(incident(1), action(TimerKind.ACK_BREACH, timedelta(seconds=5))) == (
        ":rotating_light: *SLO breach on INC-1* [SEV-1]: not acknowledged within 5s "
        "(due 14:00:05 UTC).")
    assert breach_text(incident(1), action(TimerKind.MITIGATE_BREACH, timedelta(minutes=30))) == (
        ":rotating_light: *SLO breach on INC-1* [SEV-1]: not mitigated within 30m "
        "(due 14:30:00 UTC).")
    assert no_commander_text(incident(1), action(TimerKind.NO_COMMANDER, timedelta(minutes=5))) == (
        ":warning: *INC-1 has no Incident Commander* 5m after it was declared (SEV-1 needs one). "
        "Take it with `/incident assign @you`.")


def test_escalation() -> None:
    assert escalation_text(incident(1), Severity.P1, "not acknowledged", 300,
                           ["<!subteam^S1>", "<@U0LEAD>"]) == (
        ":loudspeaker: *INC-1 escalated* [SEV-1] to <!subteam^S1>, <@U0LEAD>: not acknowledged "
        "after 5m. You have been invited to the incident channel.")
    assert "to nobody configured:" in escalation_text(incident(1), Severity.P1, "x", 60, [])


def test_update_reminder_and_posted_update() -> None:
    who = reminder_who(["<@U0BOB>"], "Communications lead")
    assert who == "<@U0BOB> (Communications lead)"
    assert reminder_who([], "no Incident Commander assigned") == (
        "Nobody to ping (no Incident Commander assigned)")
    assert update_due_text(incident(1), Severity.P1, 900, who) == (
        ":memo: <@U0BOB> (Communications lead): a stakeholder update on *INC-1* is due (every 15m "
        "for SEV-1). Post it with `/incident update <text>` or the button.")
    assert update_posted_text(incident(1), "<@U0BOB>", "Rolling back\n<!channel> ETA 15 min") == (
        ":mega: *Stakeholder update on INC-1* from <@U0BOB>:\n> Rolling back\n"
        "> &lt;!channel&gt; ETA 15 min")
    assert update_posted_reply(incident(1)) == (
        ":mega: Update on INC-1 posted in its announcement's thread; the update clock starts again.")


def test_snooze_texts_say_when_a_deadline_cuts_it() -> None:
    until = T0 + timedelta(hours=1)
    assert snoozed_reply(incident(1), until, None) == (
        ":zzz: The update reminder of INC-1 is snoozed until 15:00:00 UTC; the next one comes then.")
    assert snoozed_reply(incident(1), until, SnoozeLimit("resolve", until)) == (
        ":zzz: Snoozed until 15:00:00 UTC only, not the full time: the resolve SLA of INC-1 is due "
        "then, and a snooze never goes past the SLA.")
    assert snoozed_note("U0BOB", until, None) == ":zzz: Snoozed by <@U0BOB> until 15:00:00 UTC."
    assert snoozed_note("U0BOB", until, SnoozeLimit("ack", until)) == (
        ":zzz: Snoozed by <@U0BOB> until 15:00:00 UTC (cut to the acknowledge SLA: a snooze never "
        "goes past it).")


def test_an_escalation_names_a_handle_that_is_no_user_group() -> None:
    assert unknown_group_mention("vp-engineering") == (
        "@vp-engineering (no such user group in this workspace)")

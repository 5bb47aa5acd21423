"""SLO clocks, update cadences and escalation, end to end: a SEV-1 under a policy whose durations
are seconds, time moved by a fake clock, the tick run as the scheduler runs it, and everything
checked in what the Slack stand-in received. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.local.stack import LocalStack
from bot.policy_loader import load_policy_file
from bot.slack_ui.timers import (
    UPDATE_ACTION,
    breach_text,
    escalation_text,
    no_commander_text,
    reminder_who,
    unknown_group_mention,
    update_due_text,
    update_posted_reply,
    update_posted_text,
)
from domain.model import Incident, Severity, Status, TimelineEventType
from domain.reminders import reminder_recipient
from domain.services import IncidentRef
from domain.timers import TimerAction, TimerKind
from scheduler.clocks import ClockTicker
from tests.databases import create_pg_database, drop_pg_database
from tests.e2e.conftest import wait_response
from tests.e2e.rendered import incident_of
from tests.fakes import FakeClock

FAST = load_policy_file(Path(__file__).resolve().parents[2] / "policies" / "fast-demo.yml")
DECLARER, RESPONDER, LEAD = "U0DECLARER", "U0RESPOND", "U0MLLEAD"
MARKERS = (":rotating_light:", ":warning: *INC-1 has no", ":memo:", ":loudspeaker:", ":mega:")


async def fast_stack(database_url: str) -> AsyncIterator[LocalStack]:
    async with LocalStack(database_url, clock=FakeClock(), policy=FAST,
                          settings_overrides={"tick_seconds": 0}) as s:  # the test ticks
        s.slack.add_usergroup("ml-platform-lead", [LEAD])  # @vp-engineering does not exist
        yield s


@pytest.fixture
async def stack(database_url: str) -> AsyncIterator[LocalStack]:
    async for s in fast_stack(database_url):
        yield s


@pytest.fixture
async def pg_stack() -> AsyncIterator[LocalStack]:
    url = await create_pg_database()
    try:
        async for s in fast_stack(url):
            yield s
    finally:
        await drop_pg_database(url)


def clock_of(stack: LocalStack) -> FakeClock:
    assert isinstance(stack.clock, FakeClock)
    return stack.clock


def ticker(stack: LocalStack) -> ClockTicker:
    return stack.container.features.clocks


async def at(stack: LocalStack, seconds: float) -> None:
    """Move to T+seconds (T = the declaration), tick, and wait for Slack delivery."""
    clock_of(stack).set(T0 + _td(seconds))
    await ticker(stack).tick()
    await stack.settle()


def _td(seconds: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=seconds)


T0 = FakeClock().now()


def said(stack: LocalStack, channel: str) -> list[str]:
    """The clock's messages in a channel, in order, shortened to their first line."""
    return [m["text"].split("\n")[0] for m in stack.slack.messages(stack.slack.channel_id(channel))
            if m["text"].startswith(MARKERS)]


def thread_said(stack: LocalStack, announcement_ts: str) -> list[str]:
    incidents = stack.slack.channel_id("ml-incidents")
    return [m["text"].split("\n")[0] for m in stack.slack.thread(incidents, announcement_ts)[1:]
            if m["text"].startswith(MARKERS)]


RULE = FAST.rule(Severity.P1)
# the SEV-1 escalation targets as the bot mentions them once Slack is asked for the user groups
ESCALATION_MENTIONS = ["<!subteam^S000000001>", unknown_group_mention("vp-engineering")]


def clock(kind: TimerKind, target: Any, started: Any = None) -> TimerAction:
    """The SEV-1 clock of ``kind`` that fires ``target`` after ``started`` (the declaration)."""
    start = T0 if started is None else started
    return TimerAction(kind, str(kind), start + target, Severity.P1, start, target)


def reminder(incident: Incident) -> str:
    """The update reminder of an incident nobody commands: it pings the escalation targets."""
    assert RULE.update_cadence is not None
    why = reminder_recipient(incident, None, FAST).why
    return update_due_text(incident, Severity.P1, RULE.update_cadence.total_seconds(),
                           reminder_who(ESCALATION_MENTIONS, why))


async def declare_p1(stack: LocalStack) -> tuple[str, dict[str, Any]]:
    await stack.driver.slash_command("declare P1 credit-risk-v3 Null predictions", user_id=DECLARER)
    await wait_response(stack, 1)
    await stack.settle()
    channel = stack.slack.channel_by_name("inc-1-null-predictions")
    assert channel is not None
    return channel["name"], stack.slack.top_level("ml-incidents")[-1]


async def test_a_sev1_gets_its_reminders_breaches_and_escalation_in_order(
        stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    channel, announcement = await declare_p1(stack)
    await at(stack, 0)
    await at(stack, 4.9)
    assert said(stack, channel) == []

    await at(stack, 5)  # ack target and IC deadline
    await at(stack, 15)  # first stakeholder update due
    await at(stack, 30)  # mitigate target, escalation step, second update reminder
    await at(stack, 30)  # the same instant again: nothing repeats
    # nobody holds the comms lead or the commander role: the reminder pings the SEV-1's
    # escalation target, once its user groups are looked up in Slack (issue 19)
    inc = await incident_of(stack, 1)
    assert RULE.ack and RULE.mitigate and RULE.commander_within
    texts = said(stack, channel)
    assert [t for t in texts if not t.startswith(":loudspeaker:")] == [
        breach_text(inc, clock(TimerKind.ACK_BREACH, RULE.ack)),
        no_commander_text(inc, clock(TimerKind.NO_COMMANDER, RULE.commander_within)),
        reminder(inc),
        breach_text(inc, clock(TimerKind.MITIGATE_BREACH, RULE.mitigate)),
        reminder(inc),
    ]
    # the escalation follows once its user groups are looked up in Slack
    [escalation] = [t for t in texts if t.startswith(":loudspeaker:")]
    assert escalation == escalation_text(inc, Severity.P1, "not mitigated",
                                         RULE.mitigate.total_seconds(), ESCALATION_MENTIONS)
    assert LEAD in stack.slack.members(stack.slack.channel_id(channel))  # invited
    # breaches and the escalation are also said in the announcement's thread
    assert thread_said(stack, announcement["ts"]) == [*texts[:2], texts[3], escalation]

    view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
    escalations = [e.body for e in view.timeline if e.event_type is TimelineEventType.ESCALATION]
    assert escalations == ["SLO breach: ack_breach (target 0:00:05)", "No Incident Commander after 0:00:05",
                           "SLO breach: mitigate_breach (target 0:00:30)",
                           "Escalated to @ml-platform-lead, @vp-engineering: not mitigated after 0:00:30"]
    async with stack.container.uow_factory() as uow:
        actions = [a.action for a in await uow.audit.list(str(view.incident.id))]
    assert actions.count("incident.slo_breached") == 2 and actions.count("incident.escalated") == 1
    assert actions.count("incident.update_requested") == 2
    logged = capsys.readouterr().out
    assert "incident.escalated" in logged and "log_type" in logged  # audit lines in the log too
    metrics = stack.container.metrics.render()[0].decode()
    assert 'incident_bot_slo_breaches_total{kind="ack_breach",severity="p1"} 1.0' in metrics


async def test_an_update_resets_the_cadence_and_resolve_stops_every_clock(stack: LocalStack) -> None:
    channel, announcement = await declare_p1(stack)
    await stack.driver.slash_command(f"assign 1 <@{RESPONDER}|bob>", user_id=DECLARER)
    await wait_response(stack, 2)
    await at(stack, 15)
    reminders = [m for m in stack.slack.messages(stack.slack.channel_id(channel))
                 if m["text"].startswith(":memo:")]
    assert len(reminders) == 1 and f"<@{RESPONDER}>" in reminders[0]["text"]  # asks the IC

    clock_of(stack).set(T0 + _td(20))
    await stack.driver.slash_command("update 1 Rolling back to v2; 3% of scores affected",
                                     user_id=RESPONDER)
    inc = await incident_of(stack, 1)
    assert await wait_response(stack, 3) == update_posted_reply(inc)
    await stack.settle()
    posted = update_posted_text(inc, f"<@{RESPONDER}>", "Rolling back to v2; 3% of scores affected")
    assert posted.split("\n")[0] in thread_said(stack, announcement["ts"])
    await at(stack, 30)  # 15 s after declaration + 15: would be due without the update
    assert sum(t.startswith(":memo:") for t in said(stack, channel)) == 1
    await at(stack, 35)  # 15 s after the update
    assert sum(t.startswith(":memo:") for t in said(stack, channel)) == 2

    before = said(stack, channel)
    await stack.driver.slash_command("resolve 1 rolled back", user_id=RESPONDER)
    await wait_response(stack, 4)
    await stack.settle()
    for seconds in (60, 300, 3600):
        await at(stack, seconds)
    assert said(stack, channel) == before  # resolve stopped every clock


async def test_the_post_update_button_opens_a_form_that_posts_the_update(stack: LocalStack) -> None:
    channel, announcement = await declare_p1(stack)
    await at(stack, 15)
    incident_channel = stack.slack.channel_id(channel)
    [reminder] = [m for m in stack.slack.messages(incident_channel) if m["text"].startswith(":memo:")]
    await stack.driver.block_action(UPDATE_ACTION, message_ts=reminder["ts"], channel_id=incident_channel,
                                    user_id=RESPONDER)
    await stack.slack.wait_until(lambda: stack.slack.opened_views, 5)
    await stack.driver.view_submission("post_update", {"update": "Feature store fixed"}, user_id=RESPONDER)
    await stack.settle()
    posted = update_posted_text(await incident_of(stack, 1), f"<@{RESPONDER}>", "Feature store fixed")
    assert posted.split("\n")[0] in thread_said(stack, announcement["ts"])


async def test_reopen_starts_the_clocks_again_and_severity_changes_replan(stack: LocalStack) -> None:
    channel, _ = await declare_p1(stack)
    await stack.driver.slash_command("severity 1 P3", user_id=DECLARER)
    await wait_response(stack, 2)
    await at(stack, 5)
    assert said(stack, channel) == []  # P3: ack within 1m, no IC deadline, no cadence
    await stack.driver.slash_command("severity 1 P1", user_id=DECLARER)
    await wait_response(stack, 3)
    await at(stack, 6)  # upgraded past the P1 ack target: in breach at once
    assert RULE.ack and RULE.mitigate
    inc = await incident_of(stack, 1)
    assert said(stack, channel)[0] == breach_text(inc, clock(TimerKind.ACK_BREACH, RULE.ack))

    await stack.driver.slash_command("resolve 1", user_id=DECLARER)
    await wait_response(stack, 4)
    await at(stack, 100)
    count = len(said(stack, channel))
    await stack.driver.slash_command("reopen 1 nulls are back", user_id=DECLARER)
    await wait_response(stack, 5)
    await at(stack, 100 + 29)
    assert len(said(stack, channel)) > count  # the new episode's update cadence runs
    await at(stack, 100 + 30)
    texts = said(stack, channel)[count:]
    assert breach_text(inc, clock(TimerKind.MITIGATE_BREACH, RULE.mitigate, T0 + _td(100))) in texts
    view = await stack.container.service.view(IncidentRef(number=1))
    assert view.incident.status is Status.INVESTIGATING


async def test_a_restart_loses_and_repeats_nothing(stack: LocalStack) -> None:
    channel, _ = await declare_p1(stack)
    await at(stack, 5)
    await at(stack, 10)
    first = said(stack, channel)
    await stack.restart_bot()  # the process dies; a new one starts on the same database
    await at(stack, 10)
    assert said(stack, channel) == first  # nothing repeated
    await at(stack, 15)
    assert said(stack, channel)[len(first):] == [reminder(await incident_of(stack, 1))]


async def test_a_clock_jump_gives_one_reminder_not_a_backlog(stack: LocalStack) -> None:
    channel, _ = await declare_p1(stack)
    await at(stack, 3 * 3600)  # the scheduler was stopped for three hours
    texts = said(stack, channel)
    assert sum(t.startswith(":memo:") for t in texts) == 1
    assert sum(t.startswith(":loudspeaker:") for t in texts) == 1


@pytest.mark.postgres
async def test_two_bot_processes_on_one_postgres_post_each_reminder_once(pg_stack: LocalStack) -> None:
    """Two replicas (separate engines, pools and dispatchers) tick at the same instants."""
    stack = pg_stack
    channel, _ = await declare_p1(stack)
    second = await stack.spawn_bot()
    try:
        other = second.features.clocks
        for seconds in (5, 15, 30, 45, 60):
            clock_of(stack).set(T0 + _td(seconds))
            await asyncio.gather(*(t.tick() for t in (ticker(stack), other, ticker(stack), other)))
        await stack.settle()
        await asyncio.sleep(0.3)
        await stack.settle()
    finally:
        await second.stop()
    texts = said(stack, channel)
    assert sum(t.startswith(":rotating_light:") for t in texts) == 2  # ack, mitigate
    assert sum(t.startswith(":loudspeaker:") for t in texts) == 1
    assert sum(t.startswith(":warning:") for t in texts) == 1
    assert sum(t.startswith(":memo:") for t in texts) == 4  # at 15, 30, 45, 60

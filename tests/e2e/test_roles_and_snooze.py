"""Incident roles and the update reminder's snooze (issue 19, items 1 and 6), end to end: signed
Slack payloads (slash commands, the announcement's *Take a role* menu, the reminder's *Snooze*
buttons, ``app_home_opened``) against the Slack stand-in, time moved by a fake clock and the
SLO tick run as the scheduler runs it. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.local.stack import LocalStack
from bot.policy_loader import load_policy_file
from bot.slack_ui.ids import ActionId
from bot.slack_ui.messages import SlackMessages
from bot.slack_ui.roles import RoleTexts, roles_line, roles_reply
from bot.slack_ui.timers import reminder_who, snoozed_note, snoozed_reply, update_due_text
from domain.model import Severity
from domain.policy import default_policy
from domain.reminders import SnoozeLimit, reminder_recipient
from domain.roles import COMMANDER_ROLE
from domain.services import IncidentRef
from scheduler.clocks import ClockTicker
from tests.e2e.conftest import command_reply
from tests.e2e.rendered import incident_of, slack_user
from tests.fakes import FakeClock

FAST = load_policy_file(Path(__file__).resolve().parents[2] / "policies" / "fast-demo.yml")
DECLARER, RESPONDER, ONCALL, LEAD = "U0DECLARER", "U0RESPOND", "U0ONCALL", "U0MLLEAD"
CHANNEL = "inc-1-null-predictions"


async def _stack(database_url: str, policy: Any) -> AsyncIterator[LocalStack]:
    async with LocalStack(database_url, clock=FakeClock(), policy=policy,
                          settings_overrides={"tick_seconds": 0}) as s:  # the test ticks
        s.slack.add_usergroup("ml-platform-lead", [LEAD])
        yield s


@pytest.fixture
async def stack(database_url: str) -> AsyncIterator[LocalStack]:
    async for s in _stack(database_url, FAST):
        yield s


@pytest.fixture
async def gov_stack(database_url: str) -> AsyncIterator[LocalStack]:
    """GOV-001's real durations (15 min cadence, 4 h resolve) on a fake clock."""
    async for s in _stack(database_url, default_policy()):
        yield s


def clock_of(stack: LocalStack) -> FakeClock:
    assert isinstance(stack.clock, FakeClock)
    return stack.clock


T0 = FakeClock().now()


async def at(stack: LocalStack, **delta: float) -> None:
    """Move to T0 + delta (T0 = the declaration), tick, and wait for Slack delivery."""
    clock_of(stack).set(T0 + timedelta(**delta))
    ticker: ClockTicker = stack.container.features.clocks
    await ticker.tick()
    await stack.settle()


async def declare_p1(stack: LocalStack) -> dict[str, Any]:
    await command_reply(stack, "declare P1 credit-risk-v3 Null predictions", DECLARER)
    assert stack.slack.channel_by_name(CHANNEL) is not None
    return stack.slack.top_level("ml-incidents")[-1]


def channel_texts(stack: LocalStack, prefix: str) -> list[str]:
    return [m["text"] for m in stack.slack.messages(stack.slack.channel_id(CHANNEL))
            if m["text"].startswith(prefix)]


def reminders(stack: LocalStack) -> list[dict[str, Any]]:
    return [m for m in stack.slack.messages(stack.slack.channel_id(CHANNEL))
            if m["text"].startswith(":memo:")]


async def click(stack: LocalStack, action_id: str, message: dict[str, Any], channel: str, user: str,
                value: str | None = None) -> str:
    """A signed block_actions click on a stored message; the ephemeral reply it got."""
    before = len(stack.driver.responses)
    status, _ = await stack.driver.block_action(action_id, value, user_id=user,
                                                channel_id=stack.slack.channel_id(channel),
                                                message_ts=message["ts"])
    assert status == 200
    await stack.slack.wait_until(lambda: len(stack.driver.responses) > before, 5)
    await stack.settle()
    return str(stack.driver.responses[-1]["body"].get("text", ""))


async def open_home(stack: LocalStack, user: str) -> str:
    before = stack.slack.published_views.get(user)
    code, _ = await stack.driver.event({"type": "app_home_opened", "user": user, "channel": "D0BOTDM",
                                        "tab": "home"})
    assert code == 200
    await stack.slack.wait_until(lambda: stack.slack.published_views.get(user) is not before, 5)
    return str(stack.slack.published_views[user])


async def test_roles_taken_by_command_and_menu_show_in_status_announcement_and_home(
        stack: LocalStack) -> None:
    announcement = await declare_p1(stack)
    reply = await command_reply(stack, f"role 1 comms <@{RESPONDER}|bob>", DECLARER)
    inc, texts = await incident_of(stack, 1), RoleTexts()
    assert reply == texts.taken(inc, FAST.roles["comms"].label, slack_user(DECLARER), RESPONDER)
    assert channel_texts(stack, ":busts_in_silhouette:") == [reply]  # said in the channel
    incidents = stack.slack.channel_id("ml-incidents")
    assert reply in [m["text"] for m in stack.slack.thread(incidents, announcement["ts"])]
    assert RESPONDER in stack.slack.members(stack.slack.channel_id(CHANNEL))  # invited

    # the announcement's "Take a role" menu assigns whoever picks a role
    announcement = stack.slack.message(incidents, announcement["ts"]) or {}
    menu = [b for b in announcement["blocks"]
            if b.get("accessory", {}).get("action_id") == ActionId.TAKE_ROLE]
    assert [o["value"] for o in menu[0]["accessory"]["options"]] == ["commander", "comms", "scribe"]
    taken = await click(stack, ActionId.TAKE_ROLE, announcement, "ml-incidents", ONCALL, "scribe")
    assert taken == texts.taken(inc, FAST.roles["scribe"].label, slack_user(ONCALL), ONCALL)
    commander = await click(stack, ActionId.TAKE_ROLE, announcement, "ml-incidents", DECLARER, "commander")
    view = await stack.container.service.view(IncidentRef(number=1))
    assert commander == SlackMessages().assigned(view.incident, slack_user(DECLARER), DECLARER)
    assert view.incident.assigned_to == DECLARER  # the commander role is the incident's commander

    announcement = stack.slack.message(incidents, announcement["ts"]) or {}
    holders = {"commander": DECLARER, "comms": RESPONDER, "scribe": ONCALL}
    others = {role: user for role, user in holders.items() if role != COMMANDER_ROLE}
    assert roles_line(others, FAST, skip=(COMMANDER_ROLE,)) in str(announcement["blocks"])
    status = await command_reply(stack, "status 1", ONCALL)
    assert roles_line(holders, FAST) in status
    home = await open_home(stack, RESPONDER)
    assert roles_line(others, FAST, open_roles=False) in home

    async with stack.container.uow_factory() as uow:
        audits = [a for a in await uow.audit.list(str(view.incident.id))
                  if a.action in ("incident.role_assigned", "incident.assigned")]
    assert [(a.actor, a.details.get("role"), a.details["to"]) for a in audits] == [
        (DECLARER, "comms", RESPONDER), (ONCALL, "scribe", ONCALL), (DECLARER, None, DECLARER)]

    listed = await command_reply(stack, "roles 1", ONCALL)
    assert listed == roles_reply(view.incident, holders, FAST)
    cleared = await command_reply(stack, "role 1 scribe none", ONCALL)
    assert cleared == texts.cleared(inc, FAST.roles["scribe"].label, slack_user(ONCALL), ONCALL)
    assert "Scribe _open_" in await command_reply(stack, "status 1", ONCALL)


async def test_bad_role_or_user_input_gets_an_ephemeral_error(stack: LocalStack) -> None:
    await declare_p1(stack)
    posted = len(stack.slack.messages(stack.slack.channel_id(CHANNEL)))
    unknown = await command_reply(stack, "role 1 liaison me", RESPONDER)
    assert unknown == (":warning: There is no role `liaison` in policy FAST-DEMO. Roles: `commander` "
                       "(Incident Commander), `comms` (Communications lead), `scribe` (Scribe).")
    not_a_user = await command_reply(stack, "role 1 comms bob", RESPONDER)
    assert not_a_user.startswith(":warning: `bob` is not a Slack user")
    assert (await command_reply(stack, "role 1 comms", RESPONDER)).startswith(
        ":warning: Say which role and who")
    assert "keeps its Incident Commander" in await command_reply(stack, "role 1 commander none", RESPONDER)
    assert "not an incident channel" in await command_reply(stack, "role comms me", RESPONDER)
    assert len(stack.slack.messages(stack.slack.channel_id(CHANNEL))) == posted  # nothing said
    assert all(r["body"].get("response_type") == "ephemeral" for r in stack.driver.responses[-5:])


async def test_the_update_reminder_pings_the_comms_lead_else_the_commander(stack: LocalStack) -> None:
    await declare_p1(stack)
    await command_reply(stack, f"assign 1 <@{DECLARER}|alice>", DECLARER)
    await at(stack, seconds=15)
    inc = await incident_of(stack, 1)
    cadence = FAST.rule(Severity.P1).update_cadence
    assert cadence is not None

    def due(user: str, why: str) -> str:
        return update_due_text(inc, Severity.P1, cadence.total_seconds(), reminder_who([f"<@{user}>"], why))

    assert reminders(stack)[-1]["text"] == due(DECLARER, reminder_recipient(inc, None, FAST).why)
    await command_reply(stack, "role 1 comms me", RESPONDER)
    await at(stack, seconds=30)
    reminder = reminders(stack)[-1]
    assert reminder["text"] == due(RESPONDER, reminder_recipient(inc, RESPONDER, FAST).why)
    buttons = [e["text"]["text"] for b in reminder["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["Post update", "Snooze 15m", "Snooze 30m", "Snooze 1h"]
    async with stack.container.uow_factory() as uow:
        asked = [a.details for a in await uow.audit.list() if a.action == "incident.update_requested"]
    assert asked[-1]["pinged"] == [RESPONDER] and asked[-1]["why"] == "Communications lead"


async def test_snooze_moves_the_next_reminder_survives_a_restart_and_never_passes_the_sla(
        gov_stack: LocalStack) -> None:
    stack = gov_stack
    await declare_p1(stack)
    clock_of(stack).set(T0 + timedelta(minutes=1))
    await command_reply(stack, "ack 1", RESPONDER)
    await command_reply(stack, "mitigate 1 rolled back", RESPONDER)  # the next SLA: resolve at 18:00
    await at(stack, minutes=15)
    [reminder] = reminders(stack)
    reply = await click(stack, ActionId.SNOOZE_UPDATE_1H, reminder, CHANNEL, RESPONDER)
    inc = await incident_of(stack, 1)
    assert reply == snoozed_reply(inc, T0 + timedelta(hours=1, minutes=15), None)
    edited = stack.slack.message(stack.slack.channel_id(CHANNEL), reminder["ts"]) or {}
    assert snoozed_note(RESPONDER, T0 + timedelta(hours=1, minutes=15), None) in edited["text"]

    for minutes in (30, 45, 60, 74):
        await at(stack, minutes=minutes)
    assert len(reminders(stack)) == 1  # held back by the snooze
    await stack.restart_bot()  # the snooze is stored, not remembered
    await at(stack, minutes=75)
    assert len(reminders(stack)) == 2
    await at(stack, minutes=90)
    assert len(reminders(stack)) == 3  # the cadence counts on from the snooze's end

    await at(stack, hours=3, minutes=45)
    latest = reminders(stack)[-1]
    cut = await click(stack, ActionId.SNOOZE_UPDATE_1H, latest, CHANNEL, DECLARER)
    resolve_by = T0 + timedelta(hours=4)
    assert cut == snoozed_reply(inc, resolve_by, SnoozeLimit("resolve", resolve_by))
    edited = stack.slack.message(stack.slack.channel_id(CHANNEL), latest["ts"]) or {}
    assert snoozed_note(DECLARER, resolve_by, SnoozeLimit("resolve", resolve_by)) in edited["text"]

    await at(stack, hours=4, seconds=1)
    refused = await click(stack, ActionId.SNOOZE_UPDATE_15M, reminders(stack)[-1], CHANNEL, DECLARER)
    assert refused.startswith(":warning: Not snoozed: the resolve SLA passed at 18:00:00 UTC")
    view = await stack.container.service.view(IncidentRef(number=1))
    async with stack.container.uow_factory() as uow:
        snoozed = [a for a in await uow.audit.list(str(view.incident.id))
                   if a.action == "incident.update_snoozed"]
    assert [(a.actor, a.details["cut_to"]) for a in snoozed] == [(RESPONDER, None), (DECLARER, "resolve")]

"""A whole incident, driven as Slack drives the bot: signed HTTP requests to /slack/events, the
real slack_sdk client posting to the Slack stand-in. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from bot.local.stack import LocalStack
from bot.slack_ui import commands as commands_ui
from bot.slack_ui.incident import ACTION_ACK, ACTION_MITIGATE, ACTION_NOTE, ACTION_RESOLVE
from bot.slack_ui.messages import SlackMessages
from domain.model import Severity, Status, TimelineEventType
from domain.services import IncidentRef
from domain.state_machine import AlreadyInState, IllegalTransition
from tests.e2e.conftest import wait_response
from tests.e2e.rendered import incident_of, slack_user

DECLARER, RESPONDER = "U0DECLARER", "U0RESPOND"
CHANNEL = "inc-1-null-predictions-since-14-02"
SAY = SlackMessages()  # the wording: tests/unit/bot/slack_ui/test_messages.py


def buttons(message: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in message.get("blocks", []) if b["type"] == "actions"
            for e in b["elements"]]


async def declare(stack: LocalStack, text: str = "declare P1 credit-risk-v3 Null predictions "
                                                  "since 14:02") -> dict[str, Any]:
    before = len(stack.driver.responses)
    status, body = await stack.driver.slash_command(text, user_id=DECLARER)
    assert status == 200
    await wait_response(stack, before + 1)  # the declarer's confirmation
    await stack.settle()
    return stack.slack.top_level("ml-incidents")[-1]


async def test_declare_at_once_announces_creates_the_channel_and_confirms(stack: LocalStack) -> None:
    announcement = await declare(stack)
    confirmation = await wait_response(stack, 1)
    assert confirmation == commands_ui.confirmation("INC-1", "SEV-1", "credit-risk-v3",
                                                    "Null predictions since 14:02", "ml-incidents")
    assert stack.driver.responses[-1]["body"]["response_type"] == "ephemeral"

    assert announcement["text"].startswith(":red_circle: INC-1 [SEV-1] Null predictions")
    assert buttons(announcement) == [ACTION_ACK, ACTION_MITIGATE, ACTION_RESOLVE, ACTION_NOTE]
    rendered = str(announcement["blocks"])
    for fact in ("SEV-1", "credit-risk-v3", "open", "Commander", "Acknowledge by",
                 "Mitigate by", "Resolve by"):
        assert fact in rendered

    channel = stack.slack.channel_by_name(CHANNEL)
    assert channel is not None
    assert f"<#{channel['id']}>" in rendered  # the announcement links the incident channel
    assert DECLARER in stack.slack.members(channel["id"])
    assert stack.slack.topic(channel["id"]).startswith("SEV-1 · open · credit-risk-v3")
    [pinned] = stack.slack.pinned(channel["id"])
    summary = stack.slack.message(channel["id"], pinned)
    assert summary is not None and "INC-1: Null predictions since 14:02" in summary["text"]


async def test_buttons_update_the_announcement_and_reply_in_its_thread(stack: LocalStack) -> None:
    announcement = await declare(stack)
    incidents = stack.slack.channel_id("ml-incidents")
    ts = announcement["ts"]
    for action, status in ((ACTION_ACK, "investigating"), (ACTION_MITIGATE, "mitigated"),
                           (ACTION_RESOLVE, "resolved")):
        code, _ = await stack.driver.block_action(action, message_ts=ts, channel_id=incidents,
                                                  user_id=RESPONDER)
        assert code == 200
        await stack.settle()
        updated = stack.slack.message(incidents, ts)
        assert updated is not None and f"({status})" in updated["text"]
    assert len(stack.slack.calls_to("chat.update")) >= 3
    replies = [m["text"] for m in stack.slack.thread(incidents, ts)[1:]]
    resolved, bob = await incident_of(stack, 1), slack_user(RESPONDER)
    assert resolved.acknowledged_at and resolved.mitigated_at and resolved.resolved_at
    assert SAY.status_changed(await incident_of(stack, 1, Status.INVESTIGATING), Status.OPEN, bob,
                              resolved.acknowledged_at, None) in replies
    assert SAY.status_changed(await incident_of(stack, 1, Status.MITIGATED), Status.INVESTIGATING,
                              bob, resolved.mitigated_at, None) in replies
    assert SAY.status_changed(resolved, Status.MITIGATED, bob, resolved.resolved_at, None) in replies
    assert buttons(stack.slack.message(incidents, ts) or {}) == ["incident_reopen", ACTION_NOTE]


async def test_double_clicks_and_concurrent_resolves_make_one_status_change(stack: LocalStack) -> None:
    announcement = await declare(stack)
    incidents = stack.slack.channel_id("ml-incidents")
    results = await asyncio.gather(*(stack.driver.block_action(
        ACTION_RESOLVE, message_ts=announcement["ts"], channel_id=incidents, user_id=RESPONDER)
        for _ in range(4)))
    assert all(code == 200 for code, _ in results)
    await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
    changes = [e for e in view.timeline if e.event_type is TimelineEventType.STATUS_CHANGE]
    assert [e.body for e in changes][1:] == ["open → resolved"]
    await stack.slack.wait_until(lambda: len(stack.driver.responses) >= 4, 5)
    already = SAY.already_in_state(AlreadyInState(await incident_of(stack, 1)))
    assert sum(r["body"]["text"].endswith(already) for r in stack.driver.responses) == 3


async def test_commands_inside_the_incident_channel(stack: LocalStack) -> None:
    await declare(stack)
    channel = stack.slack.channel_by_name(CHANNEL)
    assert channel
    n = len(stack.driver.responses)

    async def run(text: str) -> str:
        nonlocal n
        await stack.driver.slash_command(text, user_id=RESPONDER, channel_id=channel["id"],
                                         channel_name=channel["name"])
        n += 1
        return await wait_response(stack, n)

    assert "acknowledged" in await run("ack")
    assert "Noted on INC-1" in await run("note feature store p99 is 4s")
    bob = slack_user(RESPONDER)
    assert await run("assign <@U0RESPOND|bob>") == SAY.assigned(await incident_of(stack, 1), bob,
                                                                RESPONDER)
    assert await run("severity P2") == SAY.severity_changed(await incident_of(stack, 1),
                                                            Severity.P1, bob)
    refused = await run("close")
    assert SAY.illegal_transition(IllegalTransition(await incident_of(stack, 1),
                                                    Status.CLOSED)) in refused
    status = await run("status")
    assert "*INC-1* [SEV-2]" in status and "commander <@U0RESPOND>" in status
    assert "INC-1" in await run("list")
    resolved = await run("resolve fixed by rollback")
    incident = await incident_of(stack, 1)
    assert incident.resolved_at is not None
    assert resolved == SAY.status_changed(incident, Status.INVESTIGATING, bob, incident.resolved_at,
                                          "fixed by rollback")
    timeline = await run("timeline")
    for event in ("status_change", "note", "feature store p99 is 4s", "investigating → resolved"):
        assert event in timeline
    code, body = await stack.driver.slash_command("help", channel_id=channel["id"])
    assert code == 200 and "`/incident` commands" in body["text"]  # answered in the ack itself
    await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1))
    assert view.incident.assigned_to == RESPONDER and view.incident.status is Status.RESOLVED


async def test_commands_elsewhere_take_the_incident_number(stack: LocalStack) -> None:
    await declare(stack)
    await stack.driver.slash_command("resolve 1 fixed by rollback", user_id=RESPONDER)
    reply = await wait_response(stack, 2)
    incident = await incident_of(stack, 1)
    assert incident.resolved_at is not None
    assert reply == SAY.status_changed(incident, Status.OPEN, slack_user(RESPONDER),
                                       incident.resolved_at, "fixed by rollback")
    await stack.driver.slash_command("ack", user_id=RESPONDER)
    assert "not an incident channel" in await wait_response(stack, 3)
    await stack.driver.slash_command("ack 99", user_id=RESPONDER)
    assert "No incident INC-99" in await wait_response(stack, 4)


async def test_unknown_model_or_severity_is_refused_naming_valid_values(stack: LocalStack) -> None:
    status, body = await stack.driver.slash_command("declare P7 credit-risk-v3 broken")
    assert status == 200 and "P1, P2, P3, P4" in body["text"]
    assert body["response_type"] == "ephemeral"
    await stack.driver.slash_command("declare P2 no-such-model predictions are stale")
    text = await wait_response(stack, 1)
    assert "Unknown model `no-such-model`" in text and "`credit-risk-v3`" in text
    assert "`fraud-detector`" in text
    assert await stack.container.service.list_incidents() == []


async def test_partial_declare_opens_a_modal_that_declares_on_submit(stack: LocalStack) -> None:
    await stack.driver.slash_command("declare P2 fraud-detector", user_id=DECLARER)
    await stack.slack.wait_for_call("views.open")
    view = stack.slack.latest_view("declare_incident")
    assert view is not None
    ids = [b["block_id"] for b in view["blocks"]]
    assert ids == ["title", "severity", "model", "description", "labels", "private"]
    code, body = await stack.driver.view_submission("declare_incident", {
        "title": "", "severity": "p2", "model": "fraud-detector"}, user_id=DECLARER)
    assert code == 200 and body["response_action"] == "errors" and "title" in body["errors"]
    code, body = await stack.driver.view_submission("declare_incident", {
        "title": "Scores all zero", "severity": "p2", "model": "fraud-detector",
        "description": "since the 14:00 deploy", "labels": "payments, Deploy"}, user_id=DECLARER)
    assert code == 200 and not body
    await stack.settle()
    view_ = await stack.container.service.view(IncidentRef(number=1))
    assert view_.incident.title == "Scores all zero"
    assert view_.incident.labels == ["payments", "deploy"]
    assert view_.incident.description == "since the 14:00 deploy"
    assert stack.slack.channel_by_name("inc-1-scores-all-zero") is not None


async def test_add_note_button_opens_a_modal_and_records_the_note(stack: LocalStack) -> None:
    announcement = await declare(stack)
    incidents = stack.slack.channel_id("ml-incidents")
    await stack.driver.block_action(ACTION_NOTE, message_ts=announcement["ts"],
                                    channel_id=incidents, user_id=RESPONDER)
    await stack.slack.wait_for_call("views.open")
    await stack.driver.view_submission("add_note", {"note": "upstream schema change"},
                                       user_id=RESPONDER)
    await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
    notes = [(e.body, e.author) for e in view.timeline if e.event_type is TimelineEventType.NOTE]
    assert notes == [("upstream schema change", RESPONDER)]


async def test_thread_replies_and_channel_messages_become_notes_once(stack: LocalStack) -> None:
    announcement = await declare(stack)
    incidents = stack.slack.channel_id("ml-incidents")
    channel = stack.slack.channel_by_name(CHANNEL)
    assert channel
    await stack.driver.user_says(incidents, RESPONDER, "looking at the feature store",
                                 thread_ts=announcement["ts"])
    await stack.driver.user_says(channel["id"], DECLARER, "rollback started")
    await stack.driver.redeliver_last_event(retry_num=1)  # Slack retry: same event id
    await stack.driver.redeliver_last_event(retry_num=2)
    # neither bot messages, joins nor edits are notes
    for event in (
        stack.driver.message_event(channel["id"], None, "bot says hi", bot_id="B0OTHER"),
        stack.driver.message_event(channel["id"], RESPONDER, "<@U0RESPOND> has joined",
                                   subtype="channel_join"),
        stack.driver.message_event(channel["id"], RESPONDER, "rollback started (edited)",
                                   subtype="message_changed"),
        stack.driver.message_event(incidents, RESPONDER, "unrelated chatter"),
    ):
        code, _ = await stack.driver.event(event)
        assert code == 200
    await asyncio.sleep(0.3)
    view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
    notes = [(e.body, e.author, e.author_name) for e in view.timeline
             if e.event_type is TimelineEventType.NOTE]
    assert notes == [("looking at the feature store", RESPONDER, "bob"),
                     ("rollback started", DECLARER, "alice")]
    first_note = next(e for e in view.timeline if e.event_type is TimelineEventType.NOTE)
    reply = next(m for m in stack.slack.thread(incidents, announcement["ts"])
                 if m.get("text") == "looking at the feature store")  # beside What changed? (issue 18)
    assert abs(first_note.occurred_at.timestamp() - float(reply["ts"])) < 0.001


async def test_every_action_is_audited_with_the_slack_actor_and_logged(stack: LocalStack) -> None:
    with structlog.testing.capture_logs() as logs:
        announcement = await declare(stack)
        await stack.driver.block_action(ACTION_ACK, message_ts=announcement["ts"],
                                        channel_id=stack.slack.channel_id("ml-incidents"),
                                        user_id=RESPONDER)
        await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1))
    async with stack.container.uow_factory() as uow:
        audit = await uow.audit.list(str(view.incident.id))
    assert [(a.action, a.actor, a.actor_name) for a in audit] == [
        ("incident.created", DECLARER, "alice"), ("incident.status_updated", RESPONDER, "bob")]
    assert audit[1].details == {"number": 1, "from": "open", "to": "investigating",
                                "reason": None}
    assert all(a.occurred_at.utcoffset().total_seconds() == 0 for a in audit)  # type: ignore[union-attr]
    audit_lines = [e for e in logs if e.get("log_type") == "audit"]
    assert [(e["action"], e["actor"], e["resource_id"]) for e in audit_lines] == [
        (a.action, a.actor, a.resource_id) for a in audit]


async def test_a_restart_right_after_an_ack_still_records_the_acked_note(stack: LocalStack) -> None:
    """A deploy stops the bot just after Slack got its ack for a message: the work behind the
    ack (a slow users.info, then the note) finishes before the bot lets go of the database."""
    await declare(stack)
    await stack.settle()
    channel = stack.slack.channel_by_name(CHANNEL)
    assert channel
    stack.slack.set_latency(0.5, "users.info")  # the author's name is looked up first
    code, _ = await stack.driver.user_says(channel["id"], "U0CAROL", "feature store is back")
    assert code == 200
    assert stack.container.ack_first.pending == 1  # acked, and the note is not written yet
    await stack.restart_bot()
    view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
    notes = [(e.body, e.author) for e in view.timeline if e.event_type is TimelineEventType.NOTE]
    assert notes == [("feature store is back", "U0CAROL")]


async def test_slow_slack_lookups_do_not_hold_up_other_commands(stack: LocalStack) -> None:
    """Six messages whose authors Slack is slow to name are still being worked on when a
    `/incident status` typed after them has already been answered."""
    await declare(stack)
    await stack.settle()
    channel = stack.slack.channel_by_name(CHANNEL)
    assert channel
    stack.slack.set_latency(2.0, "users.info")
    for i in range(6):
        code, _ = await stack.driver.user_says(channel["id"], f"U0NEW{i}", f"observation {i}")
        assert code == 200
    answered = len(stack.driver.responses) + 1
    await stack.driver.slash_command("status 1", user_id=RESPONDER)
    assert "INC-1" in await wait_response(stack, answered)
    assert stack.container.ack_first.pending >= 6  # the six notes are still waiting on Slack
    stack.slack.set_latency(0.0, "users.info")
    await stack.slack.wait_until(lambda: stack.container.ack_first.pending == 0, 5)
    view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
    assert sorted(e.body for e in view.timeline if e.event_type is TimelineEventType.NOTE) == [
        f"observation {i}" for i in range(6)]


async def test_the_home_tab_lists_active_incidents_yours_first_and_declares(stack: LocalStack) -> None:
    await declare(stack)
    await declare(stack, "declare P3 fraud-detector Scores drifting since Monday")
    await stack.driver.slash_command("assign 2 <@U0RESPOND|bob>", user_id=DECLARER)
    await wait_response(stack, 3)
    await stack.settle()

    async def open_home() -> str:
        before = stack.slack.published_views.get(RESPONDER)
        code, _ = await stack.driver.event({"type": "app_home_opened", "user": RESPONDER,
                                            "channel": "D0BOTDM", "tab": "home"})
        assert code == 200
        await stack.slack.wait_until(lambda: stack.slack.published_views.get(RESPONDER) is not before, 5)
        return str(stack.slack.published_views[RESPONDER])

    home = await open_home()
    mine, everyone = home.split("All active")
    assert "You command (1)" in mine and "*INC-2*" in mine and "*INC-1*" not in mine
    assert everyone.startswith(" (2)") and "*INC-1* [SEV-1]" in everyone
    channel = stack.slack.channel_by_name(CHANNEL)
    assert channel and f"<#{channel['id']}>" in everyone
    await stack.driver.slash_command("resolve 1 rolled back", user_id=DECLARER)
    await wait_response(stack, 4)
    home = await open_home()
    assert "All active (1)" in home and "*INC-1*" not in home

    await stack.driver.block_action("home_declare", user_id=RESPONDER)
    await stack.slack.wait_until(lambda: stack.slack.opened_views, 5)
    assert stack.slack.opened_views[-1]["callback_id"] == "declare_incident"


async def test_a_stale_acknowledge_never_reopens_a_resolved_incident(stack: LocalStack) -> None:
    announcement = await declare(stack)
    incidents = stack.slack.channel_id("ml-incidents")
    await stack.driver.block_action(ACTION_RESOLVE, message_ts=announcement["ts"],
                                    channel_id=incidents, user_id=RESPONDER)
    await stack.settle()
    # a click on an old copy of the announcement (it still had the button), after the resolve
    incident_id = (await stack.container.service.view(IncidentRef(number=1))).incident.id
    await stack.driver.block_action(ACTION_ACK, value=str(incident_id),
                                    message_ts=announcement["ts"], channel_id=incidents,
                                    user_id=DECLARER)
    await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1))
    assert view.incident.status is Status.RESOLVED and view.incident.resolved_at is not None
    told = await wait_response(stack, 2)
    assert told.endswith(SAY.already_in_state(AlreadyInState(view.incident, "ack")))  # `reopen`
    # reopening stays possible, as its own verb
    await stack.driver.slash_command("reopen 1 regressed", user_id=RESPONDER)
    assert "*INC-1 reopened*" in await wait_response(stack, 3)


async def test_acknowledge_and_resolve_clicked_together_end_resolved(stack: LocalStack) -> None:
    announcement = await declare(stack)
    incidents = stack.slack.channel_id("ml-incidents")
    incident_id = str((await stack.container.service.view(IncidentRef(number=1))).incident.id)
    for _ in range(5):  # the buttons of the first copy of the announcement, clicked together
        await asyncio.gather(*(stack.driver.block_action(
            action, value=incident_id, message_ts=announcement["ts"], channel_id=incidents,
            user_id=RESPONDER) for action in (ACTION_ACK, ACTION_RESOLVE, ACTION_ACK)))
    await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
    assert view.incident.status is Status.RESOLVED
    bodies = [e.body for e in view.timeline if e.event_type is TimelineEventType.STATUS_CHANGE]
    assert not any(b.startswith("resolved →") for b in bodies)

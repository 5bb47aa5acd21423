"""Message shortcuts (issue 19 item 2), driven as Slack drives them: signed ``message_action``
payloads for messages the Slack stand-in holds, the forms they open submitted as
``view_submission``, against the real Bolt app and the stand-in. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.local.stack import LocalStack
from bot.slack_ui import shortcuts as ui
from bot.slack_ui.ids import CallbackId
from domain.message_shortcuts import AlreadyOnTimeline, NoText, SlackMessage
from domain.model import TimelineEvent, TimelineEventType
from domain.services import IncidentRef
from tests.e2e.conftest import wait_response
from tests.e2e.rendered import incident_of, slack_user

DECLARER, RESPONDER = "U0DECLARER", "U0RESPOND"
TEXTS = ui.ShortcutTexts()
ADDED = ui.added_reply("INC-1")
ALREADY_ADDED = ui.refused(str(AlreadyOnTimeline("INC-1")))
WORDS = "Feature store p99 jumped to 4s at 14:01\nsee <https://grafana.example.com/d/fs|the dashboard>"


async def declare(stack: LocalStack) -> str:
    """INC-1 declared and settled; its incident channel's id."""
    before = len(stack.driver.responses)
    await stack.driver.slash_command("declare P1 credit-risk-v3 Null predictions since 14:02",
                                     user_id=DECLARER)
    await wait_response(stack, before + 1)
    await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1))
    assert view.link is not None and view.link.channel_id
    return view.link.channel_id


def team_channel(stack: LocalStack) -> str:
    """A channel of the team's own, which the bot is not in."""
    return stack.slack.add_channel("ml-team", members=[DECLARER, RESPONDER])


async def shortcut(stack: LocalStack, callback: str, channel: str, ts: str) -> str | None:
    """Use a message shortcut; the ephemeral reply if one came (None when a form opened)."""
    replies, views = len(stack.driver.responses), len(stack.slack.opened_views)
    status, _ = await stack.driver.message_shortcut(callback, channel, ts, user_id=RESPONDER)
    assert status == 200
    await stack.slack.wait_until(lambda: len(stack.driver.responses) > replies
                                 or len(stack.slack.opened_views) > views, 5)
    await stack.settle()
    if len(stack.slack.opened_views) > views:
        return None
    return str(stack.driver.responses[-1]["body"]["text"])


async def notes(stack: LocalStack, number: int = 1) -> list[TimelineEvent]:
    view = await stack.container.service.view(IncidentRef(number=number), with_timeline=True)
    return [e for e in view.timeline if e.event_type is TimelineEventType.NOTE]


def last_permalink(stack: LocalStack) -> str:
    """The link the stand-in gave the bot's last ``chat.getPermalink``."""
    response = stack.slack.calls_to("chat.getPermalink")[-1].response
    assert response is not None and response["ok"]
    return str(response["permalink"])


def as_sent(channel: str, message: dict[str, Any], permalink: str | None) -> SlackMessage:
    """A message of the stand-in in ``channel`` as the bot reads it from a shortcut's payload."""
    return SlackMessage(channel, message["ts"], message["user"], message["text"],
                        message.get("thread_ts"), permalink)


def sent(ts: str) -> datetime:
    return datetime.fromtimestamp(float(ts), UTC)


async def audit_rows(stack: LocalStack, incident_id: str) -> list[Any]:
    async with stack.container.uow_factory() as uow:
        return await uow.audit.list(resource_id=incident_id)


async def test_a_message_from_another_channel_is_added_through_the_incident_picker(
        stack: LocalStack) -> None:
    incident_channel = await declare(stack)
    channel = team_channel(stack)
    message = stack.slack.add_user_message(channel, DECLARER, WORDS)

    assert await shortcut(stack, CallbackId.ADD_TO_TIMELINE, channel, message["ts"]) is None
    picker = stack.slack.opened_views[-1]
    assert picker["callback_id"] == CallbackId.PICK_INCIDENT
    incident = (await stack.container.service.view(IncidentRef(number=1))).incident
    [select] = [b["element"] for b in picker["blocks"] if b["type"] == "input"]
    assert [o["value"] for o in select["options"]] == [str(incident.id)]
    assert "INC-1 [SEV-1] Null predictions" in select["options"][0]["text"]["text"]
    assert "Feature store p99" in str(picker["blocks"][0])  # the user sees what is added

    status, _ = await stack.driver.view_submission(
        CallbackId.PICK_INCIDENT, {"incident": str(incident.id)}, user_id=RESPONDER)
    assert status == 200
    assert await wait_response(stack, 2) == ADDED
    assert stack.driver.responses[-1]["body"]["response_type"] == "ephemeral"
    await stack.settle()

    permalink = last_permalink(stack)
    assert permalink.startswith(f"https://standin.slack.com/archives/{channel}/p")
    [note] = [n for n in await notes(stack) if n.source_ref == f"slack:{channel}:{message['ts']}"]
    assert note.occurred_at == sent(message["ts"])  # dated when the message was sent
    assert note.body == TEXTS.note(as_sent(channel, message, permalink))
    [added] = [a for a in await audit_rows(stack, str(incident.id))
               if a.action == "incident.note_added" and a.details.get("source_ref") == note.source_ref]
    assert added.actor == RESPONDER  # who added it is audited
    echo = stack.slack.messages(incident_channel)[-1]["text"]
    assert echo == TEXTS.added(await incident_of(stack, 1), as_sent(channel, message, permalink),
                               slack_user(RESPONDER))


async def test_messages_in_the_incident_channel_and_thread_are_added_directly(
        stack: LocalStack) -> None:
    incident_channel = await declare(stack)
    # posted while nobody captured it (no event reached the bot), e.g. an integration's post
    message = stack.slack.add_user_message(incident_channel, DECLARER, "Rolled back to 0.9.2")
    posted = len(stack.slack.messages(incident_channel))
    reply = await shortcut(stack, CallbackId.ADD_TO_TIMELINE, incident_channel, message["ts"])
    assert reply == ADDED
    assert [n.body for n in await notes(stack)
            if n.source_ref == f"slack:{incident_channel}:{message['ts']}"] == [
        TEXTS.note(as_sent(incident_channel, message, last_permalink(stack)))]
    assert len(stack.slack.messages(incident_channel)) == posted  # no echo where it already is

    incidents = stack.slack.channel_id("ml-incidents")
    announcement = stack.slack.top_level("ml-incidents")[-1]
    in_thread = stack.slack.add_user_message(incidents, RESPONDER, "Customers see 500s",
                                             thread_ts=announcement["ts"])
    reply = await shortcut(stack, CallbackId.ADD_TO_TIMELINE, incidents, in_thread["ts"])
    assert reply == ADDED
    assert any(n.source_ref == f"slack:{incidents}:{in_thread['ts']}" for n in await notes(stack))
    assert not stack.slack.opened_views  # no picker: the incident was known


async def test_the_same_message_twice_is_one_note(stack: LocalStack) -> None:
    incident_channel = await declare(stack)
    channel = team_channel(stack)
    message = stack.slack.add_user_message(channel, DECLARER, WORDS)
    incident = (await stack.container.service.view(IncidentRef(number=1))).incident
    # two pickers open on the same message (two people, or one twice), then both submitted
    assert await shortcut(stack, CallbackId.ADD_TO_TIMELINE, channel, message["ts"]) is None
    assert await shortcut(stack, CallbackId.ADD_TO_TIMELINE, channel, message["ts"]) is None
    first, second = stack.slack.opened_views[-2:]
    for picker in (first, second):
        await stack.driver.view_submission(CallbackId.PICK_INCIDENT, {"incident": str(incident.id)},
                                           user_id=RESPONDER, view_id=picker["id"])
    await wait_response(stack, 3)
    await stack.settle()
    assert [r["body"]["text"] for r in stack.driver.responses[-2:]] == [ADDED, ALREADY_ADDED]
    # and once it is on the timeline, the shortcut says so at once
    reply = await shortcut(stack, CallbackId.ADD_TO_TIMELINE, channel, message["ts"])
    assert reply == ALREADY_ADDED
    ref = f"slack:{channel}:{message['ts']}"
    assert [n.source_ref for n in await notes(stack)].count(ref) == 1
    audited = [a for a in await audit_rows(stack, str(incident.id))
               if a.details.get("source_ref") == ref]
    assert len(audited) == 1

    # a message the bot captured itself (a message event in the incident channel) is noted too
    await stack.driver.user_says(incident_channel, RESPONDER, "Scores back to normal")
    await stack.settle()
    captured = stack.slack.messages(incident_channel)[-1]
    reply = await shortcut(stack, CallbackId.ADD_TO_TIMELINE, incident_channel, captured["ts"])
    assert reply == ALREADY_ADDED
    assert [n.body for n in await notes(stack)].count("Scores back to normal") == 1


async def test_declare_from_a_message_prefills_the_form_and_links_the_message(
        stack: LocalStack) -> None:
    channel = team_channel(stack)
    message = stack.slack.add_user_message(channel, DECLARER, WORDS)
    assert await shortcut(stack, CallbackId.DECLARE_FROM_MESSAGE, channel, message["ts"]) is None
    form = stack.slack.opened_views[-1]
    assert form["callback_id"] == "declare_incident"  # the declare form /incident declare opens
    inputs = {b["block_id"]: b["element"] for b in form["blocks"] if b["type"] == "input"}
    assert inputs["title"]["initial_value"] == "Feature store p99 jumped to 4s at 14:01"
    assert inputs["description"]["initial_value"] == (
        "Feature store p99 jumped to 4s at 14:01\nsee the dashboard")
    permalink = last_permalink(stack)
    assert permalink in str(form["blocks"][0])
    assert json.loads(form["private_metadata"])["message"]["ts"] == message["ts"]

    status, _ = await stack.driver.view_submission("declare_incident", {
        "title": inputs["title"]["initial_value"], "severity": "p2", "model": "fraud-detector",
        "description": inputs["description"]["initial_value"]}, user_id=RESPONDER)
    assert status == 200
    await stack.slack.wait_until(lambda: stack.slack.top_level("ml-incidents"), 5)
    await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
    assert view.incident.title == "Feature store p99 jumped to 4s at 14:01"
    assert view.incident.description == "Feature store p99 jumped to 4s at 14:01\nsee the dashboard"
    trigger = view.timeline[0]  # dated when the message was sent: before the declaration
    assert trigger.source_ref == f"slack:{channel}:{message['ts']}"
    assert trigger.occurred_at == sent(message["ts"])
    assert trigger.body.endswith(TEXTS.note(as_sent(channel, message, permalink)))
    assert trigger.author == RESPONDER
    assert view.link is not None and view.link.channel_id
    posts = [m["text"] for m in stack.slack.messages(view.link.channel_id)]
    assert TEXTS.declared_from(view.incident, as_sent(channel, message, permalink)) in posts
    reply = await shortcut(stack, CallbackId.ADD_TO_TIMELINE, channel, message["ts"])
    assert reply == ALREADY_ADDED


async def test_bad_input_is_answered_ephemerally(stack: LocalStack) -> None:
    channel = team_channel(stack)
    message = stack.slack.add_user_message(channel, DECLARER, WORDS)
    reply = await shortcut(stack, CallbackId.ADD_TO_TIMELINE, channel, message["ts"])
    assert reply == ui.refused(TEXTS.no_active_incident())
    assert stack.driver.responses[-1]["body"]["response_type"] == "ephemeral"

    await declare(stack)
    upload = stack.slack.add_user_message(channel, DECLARER, "", subtype="file_share")
    reply = await shortcut(stack, CallbackId.ADD_TO_TIMELINE, channel, upload["ts"])
    assert reply == ui.refused(str(NoText()))
    assert not stack.slack.opened_views

    assert await shortcut(stack, CallbackId.ADD_TO_TIMELINE, channel, message["ts"]) is None
    status, body = await stack.driver.view_submission(CallbackId.PICK_INCIDENT, {},
                                                      user_id=RESPONDER)
    assert status == 200 and body["response_action"] == "errors"
    assert body["errors"] == {"incident": ui.NO_PICK}
    assert not [n for n in await notes(stack) if n.source_ref and channel in n.source_ref]

    # shapes Slack does not send: no message at all, a message whose text is not text
    for broken in ({}, {"message": {**message, "text": ["not", "text"]}}):
        replies = len(stack.driver.responses)
        status, _ = await stack.driver.message_shortcut(
            CallbackId.ADD_TO_TIMELINE, channel, message["ts"], user_id=RESPONDER,
            message=broken.get("message", {"type": "message"}))
        assert status == 200
        reply = await wait_response(stack, replies + 1)
        assert reply in (ui.NO_MESSAGE, ui.refused(str(NoText())))


async def test_a_message_in_a_private_channel_the_bot_is_not_in_is_added_without_a_link(
        stack: LocalStack) -> None:
    """Slack sends the message in the payload wherever the shortcut is used; only its permalink
    is refused there (``channel_not_found``): the note is kept, identified by channel and ts."""
    await declare(stack)
    private = stack.slack.add_channel("vendor-bridge", members=[DECLARER, RESPONDER],
                                      is_private=True)
    message = stack.slack.add_user_message(private, DECLARER, "Vendor confirms an outage")
    assert await shortcut(stack, CallbackId.ADD_TO_TIMELINE, private, message["ts"]) is None
    assert stack.slack.calls_to("chat.getPermalink")[-1].error == "channel_not_found"
    incident = (await stack.container.service.view(IncidentRef(number=1))).incident
    await stack.driver.view_submission(CallbackId.PICK_INCIDENT, {"incident": str(incident.id)},
                                       user_id=RESPONDER)
    assert await wait_response(stack, 2) == ADDED
    await stack.settle()
    [note] = [n for n in await notes(stack) if n.source_ref == f"slack:{private}:{message['ts']}"]
    assert note.body == TEXTS.note(as_sent(private, message, None))  # no link to give

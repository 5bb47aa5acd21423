"""Issue 19, items 3 and 4, driven as Slack drives the bot: signed ``reaction_added`` /
``reaction_removed``, ``pin_added`` / ``pin_removed`` and ``message_changed`` /
``message_deleted`` events of Slack's shapes, against the stand-in. SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

from bot.local.slack_standin import BOT_USER_ID, GENERAL_CHANNEL_ID
from bot.local.slack_standin.people import changed_event, pin_event
from bot.local.stack import LocalStack
from domain.model import AuditEvent, TimelineEventType
from domain.note_changes import note_changes_of
from domain.services import IncidentRef
from tests.e2e.conftest import wait_response

DECLARER, RESPONDER, ONCALL = "U0DECLARER", "U0RESPOND", "U0ONCALL"


async def declare(stack: LocalStack) -> tuple[str, dict[str, Any]]:
    """INC-1 declared; its channel id and its announcement."""
    await stack.driver.slash_command("declare P1 credit-risk-v3 Null predictions",
                                     user_id=DECLARER)
    await wait_response(stack, 1)
    await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1))
    assert view.link is not None and view.link.channel_id
    return view.link.channel_id, stack.slack.top_level("ml-incidents")[-1]


async def say(stack: LocalStack, channel: str, user: str, text: str,
              thread_ts: str | None = None) -> str:
    """A person posts; the note is captured; the message's ts."""
    await stack.driver.user_says(channel, user, text, thread_ts=thread_ts)
    await stack.settle()
    return str(next(m["ts"] for m in reversed(stack.slack.messages(channel))
                    if m.get("text") == text))


async def notes(stack: LocalStack) -> list[str]:
    view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
    return [e.body for e in view.timeline if e.event_type is TimelineEventType.NOTE]


async def key_notes(stack: LocalStack) -> list[str]:
    view = await stack.container.service.view(IncidentRef(number=1))
    async with stack.container.uow_factory() as uow:
        return [n.text for n in await note_changes_of(uow).key_notes(view.incident.id)]


async def audit(stack: LocalStack, prefix: str = "incident.note_") -> list[AuditEvent]:
    view = await stack.container.service.view(IncidentRef(number=1))
    async with stack.container.uow_factory() as uow:
        return [a for a in await uow.audit.list(str(view.incident.id))
                if a.action.startswith(prefix) and a.action != "incident.note_added"]


async def test_the_pushpin_marks_a_note_key_while_one_such_reaction_remains(
        stack: LocalStack) -> None:
    channel, _ = await declare(stack)
    ts = await say(stack, channel, RESPONDER, "rollback started")
    await say(stack, channel, RESPONDER, "just chatter")
    await stack.driver.user_reacts(channel, DECLARER, ts, "thumbsup")  # not the key emoji
    await stack.settle()
    assert await key_notes(stack) == []

    await stack.driver.user_reacts(channel, DECLARER, ts)  # :pushpin:
    await stack.settle()
    assert await key_notes(stack) == ["rollback started"]
    await stack.driver.user_reacts(channel, ONCALL, ts)
    await stack.driver.user_reacts(channel, DECLARER, ts, remove=True)
    await stack.settle()
    assert await key_notes(stack) == ["rollback started"]  # carol's pushpin remains
    await stack.driver.user_reacts(channel, ONCALL, ts, remove=True)
    await stack.settle()
    assert await key_notes(stack) == []

    marks = await audit(stack)
    assert [(a.action, a.actor, a.actor_name, a.details["key"]) for a in marks] == [
        ("incident.note_key_marked", DECLARER, "alice", True),
        ("incident.note_key_marked", ONCALL, "carol", True),
        ("incident.note_key_unmarked", DECLARER, "alice", True),
        ("incident.note_key_unmarked", ONCALL, "carol", False)]
    assert marks[0].details["source_ref"] == f"slack:{channel}:{ts}"


async def test_a_pin_marks_key_and_key_notes_open_the_postmortem_draft(stack: LocalStack) -> None:
    channel, _ = await declare(stack)
    await say(stack, channel, RESPONDER, "looking at the feature store")
    ts = await say(stack, channel, RESPONDER, "null rate came from the schema change")
    await stack.driver.user_pins(channel, DECLARER, ts)
    # Slack also tells the app of the summary pin the bot made itself: that marks nothing
    # (Bolt drops the app's own events)
    [summary_ts] = [p for p in stack.slack.pinned(channel) if p != ts]
    summary = stack.slack.message(channel, summary_ts)
    assert summary is not None and summary.get("bot_id")
    await stack.driver.event(pin_event(True, channel, summary, BOT_USER_ID, "9999999999.0", 2))
    await stack.settle()
    assert await key_notes(stack) == ["null rate came from the schema change"]

    await stack.driver.slash_command("postmortem 1", user_id=DECLARER)
    await wait_response(stack, 2)
    await stack.settle()
    draft = stack.slack.files[-1]["content"].decode()
    key = draft.index("## Key moments")
    assert key < draft.index("## Summary") < draft.index("## Timeline (UTC)")
    moments = draft[key:draft.index("## Summary")]
    assert "null rate came from the schema change" in moments
    assert "looking at the feature store" not in moments

    await stack.driver.user_pins(channel, DECLARER, ts, remove=True)
    await stack.settle()
    assert await key_notes(stack) == []
    assert [a.action for a in await audit(stack)] == ["incident.note_key_marked",
                                                      "incident.note_key_unmarked"]


async def test_a_reaction_on_a_message_not_captured_captures_it_as_a_key_note(
        stack: LocalStack) -> None:
    channel, announcement = await declare(stack)
    incidents = stack.slack.channel_id("ml-incidents")
    # posted while the bot did not hear it (no event): a channel message and a thread reply
    early = stack.slack.add_user_message(channel, RESPONDER, "paged the feature store team")
    reply = stack.slack.add_user_message(incidents, ONCALL, "scores back to normal",
                                         thread_ts=announcement["ts"])
    await stack.driver.user_reacts(channel, DECLARER, early["ts"])
    await stack.settle()
    await stack.driver.user_reacts(incidents, DECLARER, reply["ts"])
    await stack.settle()
    assert await notes(stack) == ["paged the feature store team", "scores back to normal"]
    assert await key_notes(stack) == ["paged the feature store team", "scores back to normal"]
    view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
    captured = next(e for e in view.timeline if e.body == "paged the feature store team")
    assert (captured.author, captured.author_name) == (RESPONDER, "bob")
    assert abs(captured.occurred_at.timestamp() - float(early["ts"])) < 0.001
    [history] = [c for c in stack.slack.calls_to("conversations.history")
                 if c.params.get("latest") == early["ts"]]
    assert history.params["inclusive"] in ("true", "1", True) and history.params["channel"] == channel
    assert stack.slack.calls_to("conversations.replies")


async def test_an_edit_updates_the_note_and_audits_old_and_new_text(stack: LocalStack) -> None:
    channel, announcement = await declare(stack)
    incidents = stack.slack.channel_id("ml-incidents")
    ts = await say(stack, channel, RESPONDER, "rollback startd")
    reply = await say(stack, incidents, ONCALL, "on it", thread_ts=announcement["ts"])
    await stack.driver.user_edits(channel, ts, "rollback started, mail bob@example.com")
    await stack.driver.user_edits(incidents, reply, "on it, paging data eng")
    await stack.settle()
    assert await notes(stack) == ["rollback started, mail [email]", "on it, paging data eng"]
    edits = await audit(stack)  # two channels: their events apply side by side, in any order
    assert sorted((a.action, a.actor, a.details["old"], a.details["new"]) for a in edits) == [
        ("incident.note_edited", ONCALL, "on it", "on it, paging data eng"),
        ("incident.note_edited", RESPONDER, "rollback startd", "rollback started, mail [email]")]
    # an edit of a message never captured, and a bot's edit, change nothing
    stranger = stack.slack.add_user_message(GENERAL_CHANNEL_ID, RESPONDER, "lunch?")
    await stack.driver.user_edits(GENERAL_CHANNEL_ID, stranger["ts"], "lunch at 1?")
    bot_post = next(m for m in stack.slack.messages(channel) if m.get("bot_id"))
    await stack.driver.event(stack.driver.message_event(channel, None, "x") | {
        "subtype": "message_changed", "hidden": True,
        "message": {**bot_post, "text": "rewritten", "edited": {"ts": "9999999999.000000"}},
        "previous_message": bot_post})
    await stack.settle()
    assert len(await audit(stack)) == 2


async def test_a_deleted_message_hides_its_note_without_erasing_it(stack: LocalStack) -> None:
    channel, _ = await declare(stack)
    ts = await say(stack, channel, RESPONDER, "wrong channel, sorry")
    await say(stack, channel, RESPONDER, "rollback done")
    await stack.driver.user_reacts(channel, DECLARER, ts)
    await stack.driver.user_deletes(channel, ts)
    await stack.settle()
    assert await notes(stack) == ["rollback done"]
    assert await key_notes(stack) == []
    [deleted] = await audit(stack, "incident.note_deleted")
    assert (deleted.actor, deleted.details["old"]) == (RESPONDER, "wrong channel, sorry")
    await stack.driver.slash_command("timeline 1", user_id=DECLARER)
    assert "wrong channel" not in await wait_response(stack, 2)
    async with stack.container.uow_factory() as uow:  # kept, only hidden
        note = await note_changes_of(uow).find(f"slack:{channel}:{ts}")
    assert note is not None and note.deleted and note.text == "wrong channel, sorry"



async def test_a_thread_parent_deleted_under_its_replies_hides_its_note(stack: LocalStack) -> None:
    """Slack keeps a deleted message that has replies as a tombstone: ``message_changed``."""
    channel, _ = await declare(stack)
    ts = await say(stack, channel, RESPONDER, "rolling back v3.2")
    await say(stack, channel, ONCALL, "ack", thread_ts=ts)
    stored = stack.slack.message(channel, ts)
    assert stored is not None
    tombstone = {**stored, "subtype": "tombstone", "text": "This message was deleted.",
                 "user": "USLACKBOT", "hidden": True}
    await stack.driver.event(changed_event(channel, stored, tombstone, stack.slack.next_ts()))
    await stack.settle()
    assert await notes(stack) == ["ack"]
    [deleted] = await audit(stack, "incident.note_deleted")
    assert (deleted.actor, deleted.details["old"]) == (RESPONDER, "rolling back v3.2")


async def test_redelivered_and_late_events_change_nothing_twice(stack: LocalStack) -> None:
    channel, _ = await declare(stack)
    ts = await say(stack, channel, RESPONDER, "first")
    await stack.driver.user_reacts(channel, DECLARER, ts)
    await stack.driver.redeliver_last_event(retry_num=1)
    await stack.driver.redeliver_last_event(retry_num=2, retry_reason="http_error")
    first_edit = stack.slack.edit_by_hand(channel, ts, "second")
    await stack.driver.event(first_edit)
    await stack.driver.redeliver_last_event(retry_num=1)
    await stack.driver.user_edits(channel, ts, "third")
    await stack.settle()
    await stack.driver.event(dict(first_edit), event_id="Ev" + uuid.uuid4().hex[:10].upper())
    await stack.driver.user_deletes(channel, ts)
    await stack.driver.redeliver_last_event(retry_num=1)
    await stack.settle()
    assert [(a.action, a.details.get("new")) for a in await audit(stack)] == [
        ("incident.note_key_marked", None), ("incident.note_edited", "second"),
        ("incident.note_edited", "third"), ("incident.note_deleted", None)]
    async with stack.container.uow_factory() as uow:
        note = await note_changes_of(uow).find(f"slack:{channel}:{ts}")
    assert note is not None and note.text == "third"  # the late first edit did not win


async def test_reactions_and_pins_outside_incident_channels_are_ignored(stack: LocalStack) -> None:
    await declare(stack)
    incidents = stack.slack.channel_id("ml-incidents")
    elsewhere = stack.slack.add_user_message(GENERAL_CHANNEL_ID, RESPONDER, "lunch?")
    chatter = stack.slack.add_user_message(incidents, RESPONDER, "anyone seen the dashboard?")
    before = len(stack.slack.calls_to("conversations.history"))
    await stack.driver.user_reacts(GENERAL_CHANNEL_ID, DECLARER, elsewhere["ts"])
    await stack.driver.user_reacts(incidents, DECLARER, chatter["ts"])  # not in a thread
    await stack.settle()
    assert await notes(stack) == [] and await key_notes(stack) == []
    # the bot asked Slack only about the message in the incidents channel
    assert [c.params["channel"] for c in stack.slack.calls_to("conversations.history")[before:]] == [
        incidents]
    assert await audit(stack) == []

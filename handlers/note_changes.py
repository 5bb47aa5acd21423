"""Slack events that change captured notes (issue 19, items 3 and 4): the key reaction and pins
(``reaction_added`` / ``reaction_removed``, ``pin_added`` / ``pin_removed``) and edited or
deleted messages (``message`` subtypes ``message_changed`` / ``message_deleted``).

Each listener acks, then hands the work to ``after_ack`` keyed by the channel, so it runs after
the message capture of the same channel (``handlers/slack_events.py``). The rules are in
``domain/note_changes.py``; here only Slack's shapes are read. Events about messages the bot
never captured, bot edits and other emoji are ignored quietly; the bot's own pins and
reactions (the summary it pins) never reach these listeners (Bolt ignores the app's own events).
"""

from __future__ import annotations

from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from domain.message_shortcuts import message_ref, sent_at
from domain.model import Actor, DomainError
from domain.note_changes import (
    PIN,
    CapturedNotes,
    MarkOutcome,
    MarkRequest,
    SeenMessage,
    normalise_reaction,
    reaction_mark,
)
from handlers.slack_context import SlackContext

log = structlog.get_logger("handlers.note_changes")

SLACK = Actor("slack", "Slack")  # who deleted a message Slack does not say


def _dict(value: Any) -> dict[str, Any]:
    """Slack's object, or nothing when a payload puts something else there."""
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def is_bot(message: dict[str, Any]) -> bool:
    return bool(message.get("bot_id")) or message.get("subtype") == "bot_message"


def register(app: AsyncApp, ctx: SlackContext, notes: CapturedNotes, reaction: str) -> None:
    """Listen for the key reaction (``KEY_NOTE_REACTION``), pins, edits and deletions."""
    key_reaction = normalise_reaction(reaction)

    def reaction_listener(on: bool) -> Any:
        async def listener(ack: Any, event: dict[str, Any], body: dict[str, Any]) -> None:
            await ack()
            item = _dict(event.get("item"))
            if (normalise_reaction(_text(event.get("reaction"))) != key_reaction
                    or item.get("type") != "message" or not _text(item.get("channel"))
                    or not _text(item.get("ts")) or not _text(event.get("user"))):
                return
            ctx.after_ack(_mark(ctx, notes, item["channel"], item["ts"],
                                reaction_mark(event["user"]), on, event, body, None),
                          key=f"channel:{item['channel']}")
        return listener

    def pin_listener(on: bool) -> Any:
        async def listener(ack: Any, event: dict[str, Any], body: dict[str, Any]) -> None:
            await ack()
            item = _dict(event.get("item"))
            message = _dict(item.get("message"))
            channel = _text(item.get("channel")) or _text(event.get("channel_id"))
            if item.get("type") != "message" or not channel or not _text(message.get("ts")):
                return
            ctx.after_ack(_mark(ctx, notes, channel, message["ts"], PIN, on, event, body,
                                message), key=f"channel:{channel}")
        return listener

    app.event("reaction_added")(reaction_listener(True))
    app.event("reaction_removed")(reaction_listener(False))
    app.event("pin_added")(pin_listener(True))
    app.event("pin_removed")(pin_listener(False))

    @app.event({"type": "message", "subtype": "message_changed"})
    async def changed(ack: Any, event: dict[str, Any], body: dict[str, Any]) -> None:
        await ack()
        message = _dict(event.get("message"))
        channel = _text(event.get("channel"))
        if not channel or not _text(message.get("ts")) or is_bot(message):
            return
        ctx.after_ack(_changed(ctx, notes, channel, message, event, body),
                      key=f"channel:{channel}")

    @app.event({"type": "message", "subtype": "message_deleted"})
    async def deleted(ack: Any, event: dict[str, Any], body: dict[str, Any]) -> None:
        await ack()
        channel = _text(event.get("channel"))
        ts = _text(event.get("deleted_ts")) or _text(_dict(event.get("previous_message")).get("ts"))
        if not channel or not ts:
            return
        ctx.after_ack(_deleted(ctx, notes, channel, ts, event, body), key=f"channel:{channel}")


async def _mark(ctx: SlackContext, notes: CapturedNotes, channel: str, ts: str, mark: str,
                on: bool, event: dict[str, Any], body: dict[str, Any],
                message: dict[str, Any] | None) -> None:
    """Mark or unmark; fetch the message from Slack when it was not captured yet."""
    user = _text(event.get("user"))
    actor = await ctx.actor(user) if user else SLACK
    request = MarkRequest(message_ref(channel, ts), channel, mark, on,
                          _text(event.get("event_ts")), actor, _text(body.get("event_id")) or None)
    try:
        seen = await _seen(ctx, message) if message else None
        outcome = await notes.mark(request, seen)
        if outcome is MarkOutcome.NEEDS_MESSAGE:
            fetched = await fetch_message(ctx, channel, ts)
            if fetched is not None:
                outcome = await notes.mark(request, await _seen(ctx, fetched))
        log.info("note.key_mark", outcome=outcome.value, mark=mark.split(":", 1)[0], on=on)
    except DomainError as exc:
        log.warning("note.key_mark_refused", error=str(exc))


async def _changed(ctx: SlackContext, notes: CapturedNotes, channel: str,
                   message: dict[str, Any], event: dict[str, Any], body: dict[str, Any]) -> None:
    ref = message_ref(channel, message["ts"])
    if message.get("subtype") == "tombstone":  # a thread's first message deleted, replies kept
        previous = _dict(event.get("previous_message")) or message  # the tombstone names Slackbot
        await notes.delete(ref, await _author(ctx, previous), _text(body.get("event_id")) or None)
        return
    edited = _dict(message.get("edited"))
    editor = _text(edited.get("user")) or _text(message.get("user"))
    actor = await ctx.actor(editor) if editor else SLACK
    version = _text(edited.get("ts")) or _text(event.get("event_ts")) or _text(event.get("ts"))
    await notes.edit(ref, _text(message.get("text")), version, actor,
                     _text(body.get("event_id")) or None)


async def _deleted(ctx: SlackContext, notes: CapturedNotes, channel: str, ts: str,
                   event: dict[str, Any], body: dict[str, Any]) -> None:
    previous = _dict(event.get("previous_message"))
    await notes.delete(message_ref(channel, ts), await _author(ctx, previous),
                       _text(body.get("event_id")) or None)


async def _author(ctx: SlackContext, message: dict[str, Any]) -> Actor:
    """The message's author (Slack's deletions name no one else)."""
    user = _text(message.get("user"))
    return await ctx.actor(user) if user and not is_bot(message) else SLACK


async def _seen(ctx: SlackContext, message: dict[str, Any]) -> SeenMessage:
    ts = _text(message.get("ts"))
    if is_bot(message):
        profile = _dict(message.get("bot_profile"))
        author = Actor(_text(message.get("bot_id")) or _text(message.get("user")) or "bot",
                       _text(profile.get("name")) or _text(message.get("username")) or "bot")
    else:
        author = await ctx.actor(_text(message.get("user")) or "unknown")
    thread = _text(message.get("thread_ts"))
    return SeenMessage(_text(message.get("text")), author, sent_at(ts or "") or ctx.clock.now(),
                       thread if thread and thread != ts else None)


async def fetch_message(ctx: SlackContext, channel: str, ts: str) -> dict[str, Any] | None:
    """The message ``ts`` of ``channel``: a channel message through ``conversations.history``,
    else a thread reply through ``conversations.replies`` (None when Slack will not say)."""
    try:
        page = await ctx.client.conversations_history(channel=channel, latest=ts,
                                                      inclusive=True, limit=1)
        found = _with_ts(page.get("messages"), ts)
        if found is None:
            page = await ctx.client.conversations_replies(channel=channel, ts=ts, oldest=ts,
                                                          latest=ts, inclusive=True, limit=2)
            found = _with_ts(page.get("messages"), ts)
        return found
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else None
        log.warning("note.fetch_failed", error=str(error or exc)[:200])
        return None


def _with_ts(messages: Any, ts: str) -> dict[str, Any] | None:
    return next((m for m in messages or [] if isinstance(m, dict) and m.get("ts") == ts), None)

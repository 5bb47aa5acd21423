"""Message events: human messages in an incident channel or in the announcement's thread
become ``note`` timeline events. Bot messages, joins, edits and deletions do not; a retried
event (``X-Slack-Retry-Num``) or a message seen twice is one note (unique source_ref).
Edits and deletions are not matched here: ``handlers/note_changes.py`` listens for them."""

from __future__ import annotations

from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp

from domain.message_shortcuts import message_ref, sent_at
from domain.model import DomainError
from domain.services import IncidentRef
from handlers.slack_context import SlackContext

log = structlog.get_logger("handlers.events")

NOTE_SUBTYPES = {None, "thread_broadcast", "file_share", "me_message"}
# Bolt runs the first listener that matches: these go on to handlers/note_changes.py
CHANGE_SUBTYPES = frozenset({"message_changed", "message_deleted"})


async def _not_a_change(event: dict[str, Any]) -> bool:
    return event.get("subtype") not in CHANGE_SUBTYPES


def is_human_message(event: dict[str, Any]) -> bool:
    return (event.get("subtype") in NOTE_SUBTYPES and not event.get("bot_id")
            and bool(event.get("user")) and bool((event.get("text") or "").strip()))


def register(app: AsyncApp, ctx: SlackContext) -> None:
    @app.event("message", matchers=[_not_a_change])
    async def message(ack: Any, event: dict[str, Any]) -> None:
        if not is_human_message(event):
            return
        await ack()
        # Slack has its answer; the lookup and the note follow, in order per conversation
        ctx.after_ack(note(event), key=f"channel:{event.get('channel')}")

    async def note(event: dict[str, Any]) -> None:
        channel = event.get("channel", "")
        ts = event.get("ts", "")
        thread_ts = event.get("thread_ts")
        incident_id = await _incident_for(ctx, channel, thread_ts)
        if incident_id is None:
            return
        actor = await ctx.actor(event["user"])
        occurred = sent_at(ts) or ctx.clock.now()  # no ts, or not a Slack one: now
        try:
            await ctx.service.add_note(IncidentRef(incident_id=incident_id), actor,
                                       event["text"].strip(), occurred_at=occurred,
                                       source_ref=message_ref(channel, ts))
        except DomainError as exc:
            log.warning("note.refused", error=str(exc))

    @app.event("app_mention")
    async def mention(event: dict[str, Any]) -> None:
        return None  # mentions arrive as message events too; nothing extra to do


async def _incident_for(ctx: SlackContext, channel: str, thread_ts: str | None) -> Any:
    async with ctx.service.read_uow_factory() as uow:
        link = await uow.slack_links.by_channel(channel)
        if link is None and thread_ts:
            link = await uow.slack_links.by_announcement(channel, thread_ts)
        return link.incident_id if link else None

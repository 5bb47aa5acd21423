"""Slack's ``channel_archive`` / ``channel_unarchive`` events (``group_archive`` /
``group_unarchive`` for private channels): somebody archived an incident channel by hand, or
brought it back. Recorded (audited with the Slack actor), so the bot stops posting there, or
posts again (issue 19 item 8)."""

from __future__ import annotations

from typing import Any

import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp

from domain.channel_lifecycle import ChannelLifecycle
from domain.model import Actor, DomainError
from handlers.slack_context import SlackContext

log = structlog.get_logger("handlers.channels")

SLACK = Actor("slack", "Slack")  # an event without a user
ARCHIVE_EVENTS = {"channel_archive": True, "group_archive": True,
                  "channel_unarchive": False, "group_unarchive": False}


def register(app: AsyncApp, ctx: SlackContext, lifecycle: ChannelLifecycle) -> None:
    for event_type, archived in ARCHIVE_EVENTS.items():
        app.event(event_type)(_listener(ctx, lifecycle, archived))


def _listener(ctx: SlackContext, lifecycle: ChannelLifecycle, archived: bool) -> Any:
    async def channel_archive(ack: AsyncAck, event: dict[str, Any]) -> None:
        await ack()
        channel = event.get("channel")
        if isinstance(channel, dict):  # some payloads carry the channel object
            channel = channel.get("id")
        if not channel:
            return
        ctx.after_ack(record(str(channel), str(event.get("user") or "")),
                      key=f"channel:{channel}")

    async def record(channel: str, user: str) -> None:
        try:
            # the bot archiving its own channel also sends this event: it is already recorded
            actor = await ctx.actor(user) if user else SLACK
            changed = await lifecycle.record_archived(channel, actor, archived)
            log.info("channel.archive_event", channel=channel, archived=archived, recorded=changed)
        except DomainError as exc:
            log.warning("channel.archive_event_refused", error=str(exc))

    channel_archive.__name__ = "channel_archive" if archived else "channel_unarchive"
    return channel_archive

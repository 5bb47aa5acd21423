"""Message shortcuts (issue 19 item 2): *Add to timeline* and *Declare incident* on any message.

Thin: read the message from Slack's ``message_action`` payload, ask its permalink
(``chat.getPermalink``), call one use case of ``domain/message_shortcuts.py``, and answer the
user ephemerally through the payload's ``response_url`` (which reaches them in any
conversation, even one the bot is not in). The declare form's own listener
(``handlers/slack_interactions.py``) links the message through :func:`declare_from_form`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace
from typing import Any

import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.context.respond.async_respond import AsyncRespond as Respond

from bot.slack_ui import shortcuts as ui
from bot.slack_ui.commands import FAILED
from bot.slack_ui.ids import CallbackId, InputId
from domain.message_shortcuts import MessageNotes, SlackMessage, declare_from
from domain.model import Actor, DomainError, Incident
from domain.services import DeclareIncident, IncidentRef
from handlers.slack_context import SlackContext

log = structlog.get_logger("handlers.shortcuts")

PERMALINK_SECONDS = 2.0  # the trigger_id lasts 3 s: a slow permalink must not cost the form


def message_in(body: dict[str, Any]) -> SlackMessage | None:
    """The message a shortcut was used on, from the payload (None when Slack sent none)."""
    channel, message = body.get("channel"), body.get("message")
    if not isinstance(channel, dict) or not isinstance(message, dict):
        return None
    channel_id, ts = channel.get("id"), message.get("ts") or body.get("message_ts")
    if not (isinstance(channel_id, str) and channel_id and isinstance(ts, str) and ts):
        return None
    profile = _obj(message.get("bot_profile"))
    author = message.get("user") or profile.get("name") or message.get("username") or \
        message.get("bot_id") or ""
    thread_ts = message.get("thread_ts")
    return SlackMessage(channel_id, ts, str(author), _text(message),
                        thread_ts if isinstance(thread_ts, str) and thread_ts != ts else None)


def _text(message: dict[str, Any]) -> str:
    """The words of a message: its ``text``, else (an integration's post) its attachments'."""
    text = message.get("text")
    if isinstance(text, str) and text.strip():
        return text
    attachments = message.get("attachments")
    parts = [_obj(a).get("fallback") or _obj(a).get("text")
             for a in (attachments if isinstance(attachments, list) else [])]
    return "\n".join(p for p in parts if isinstance(p, str) and p.strip())


def _obj(value: Any) -> dict[str, Any]:
    """A payload's object, or an empty one where Slack (or a forger) sent something else."""
    return value if isinstance(value, dict) else {}


def _metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except (json.JSONDecodeError, TypeError):
        return {}
    return data if isinstance(data, dict) else {}


async def declare_from_form(ctx: SlackContext, view: dict[str, Any], cmd: DeclareIncident,
                            actor: Actor) -> Incident:
    """For the declare form's listener: a form opened from a message declares and links that
    message in one transaction; any other form declares."""
    message = ui.message_from(_metadata(view))
    if message is None:
        return await ctx.service.declare(cmd, actor)
    return await declare_from(ctx.service, ui.ShortcutTexts(), cmd, message, actor)


class Shortcuts:
    """The two shortcuts and the incident picker, over the message-note use cases."""

    def __init__(self, ctx: SlackContext, notes: MessageNotes, private_label: str) -> None:
        self.ctx = ctx
        self.notes = notes
        self.private_label = private_label  # incidents with it are listed without their title

    async def add_to_timeline(self, body: dict[str, Any], respond: Any) -> None:
        """Note the message on its incident, or ask which one when it is not in one."""
        message = message_in(body)
        if message is None:
            await self.ctx.reply(body, respond, ui.NO_MESSAGE)
            return
        try:
            placement = await self.notes.place(message)
        except DomainError as exc:
            await self.ctx.reply(body, respond, ui.refused(str(exc)))
            return
        message = replace(message, permalink=await self._permalink(message))
        if placement.incident is not None:
            await self.add(body, respond, IncidentRef(incident_id=placement.incident.id), message)
            return
        await self.ctx.open_modal(body, respond, body.get("trigger_id"), ui.pick_incident_modal(
            placement.choices, message, body.get("response_url"), self.private_label))

    async def add(self, body: dict[str, Any], respond: Any, ref: IncidentRef,
                  message: SlackMessage) -> None:
        """Add the note as the user who used the shortcut; tell them how it went."""
        user = _obj(body.get("user"))
        try:
            actor = await self.ctx.actor(str(user.get("id") or ""),
                                         user.get("username") or user.get("name"))
            outcome = await self.notes.add(ref, message, actor)
            text = ui.added_reply(outcome.incident.key)
        except DomainError as exc:
            text = ui.refused(str(exc))
        except Exception:  # e.g. the database is away: say so rather than drop the request
            log.exception("shortcut.add_failed")
            text = FAILED
        await self.ctx.reply(body, respond, text)

    async def declare(self, body: dict[str, Any], respond: Any) -> None:
        """Open the declare form pre-filled from the message."""
        message = message_in(body)
        if message is None:
            await self.ctx.reply(body, respond, ui.NO_MESSAGE)
            return
        message = replace(message, permalink=await self._permalink(message))
        names = [m.name for m in await self.ctx.service.list_models()]
        await self.ctx.open_modal(body, respond, body.get("trigger_id"),
                                  ui.declare_from_message_modal(message, names))

    async def _permalink(self, message: SlackMessage) -> str | None:
        """The message's link; None when Slack will not give it (a conversation the bot cannot
        see): the note is kept all the same, identified by channel and ts."""
        try:
            response = await asyncio.wait_for(self.ctx.client.chat_getPermalink(
                channel=message.channel, message_ts=message.ts), PERMALINK_SECONDS)
            link = response.get("permalink")
            return link if isinstance(link, str) and link.startswith("https://") else None
        except Exception as exc:  # SlackApiError (channel_not_found...), a timeout
            log.info("shortcut.no_permalink", channel=message.channel, error=str(exc)[:200])
            return None


def register(app: AsyncApp, ctx: SlackContext, notes: MessageNotes,
             private_label: str = "private") -> None:
    shortcuts = Shortcuts(ctx, notes, private_label)

    @app.message_shortcut(CallbackId.ADD_TO_TIMELINE)
    async def add_to_timeline(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        where = f"{_obj(body.get('channel')).get('id')}:{_obj(body.get('message')).get('ts')}"
        ctx.after_ack(shortcuts.add_to_timeline(body, respond), key=f"message:{where}")

    @app.message_shortcut(CallbackId.DECLARE_FROM_MESSAGE)
    async def declare_from_message(ack: AsyncAck, body: dict[str, Any],
                                   respond: AsyncRespond) -> None:
        await ack()
        ctx.after_ack(shortcuts.declare(body, respond))

    @app.view(CallbackId.PICK_INCIDENT)
    async def incident_picked(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        state = _obj(_obj(_obj(view.get("state")).get("values")).get(InputId.INCIDENT))
        picked = _obj(_obj(next(iter(state.values()), None)).get("selected_option"))
        try:
            incident_id = uuid.UUID(str(picked.get("value")))
        except ValueError:
            await ack(response_action="errors", errors={InputId.INCIDENT: ui.NO_PICK})
            return
        await ack()
        data = _metadata(view)
        message = ui.message_from(data)
        url = data.get("response_url")
        url = url if isinstance(url, str) and url.startswith(("https://", "http://")) else None
        reply_to = {"response_url": url, "user": body.get("user"),
                    "channel": {"id": message.channel if message else None}}
        respond = Respond(response_url=url)
        if message is None:
            ctx.after_ack(ctx.reply(reply_to, respond, ui.NO_MESSAGE))
            return
        ctx.after_ack(shortcuts.add(reply_to, respond, IncidentRef(incident_id=incident_id),
                                    message), key=f"message:{message.channel}:{message.ts}")

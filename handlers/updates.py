"""Stakeholder updates from Slack: ``/incident update <text>``, the reminder's *Post update*
button and the form it opens. Parse, call ``StakeholderUpdates.post``, reply."""

from __future__ import annotations

import json
import uuid
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.slack_ui import timers as ui
from bot.slack_ui.ids import ActionId, CallbackId, InputId
from bot.slack_ui.modals import submitted_text
from domain.commands import Parsed
from domain.model import DomainError
from domain.services import IncidentRef
from domain.updates import StakeholderUpdates
from handlers.slack_context import SlackContext


def _incident_of(view: dict[str, Any]) -> uuid.UUID | None:
    try:
        return uuid.UUID(json.loads(view.get("private_metadata") or "{}").get("incident_id", ""))
    except (ValueError, TypeError, AttributeError):
        return None


def register(bolt: AsyncApp, ctx: SlackContext, updates: StakeholderUpdates) -> None:
    """The ``update`` verb and the button and form listeners."""

    async def update_command(ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                             respond: AsyncRespond) -> None:
        actor = await ctx.actor(body.get("user_id", ""), body.get("user_name"))
        ref = IncidentRef(number=parsed.number, channel_id=body.get("channel_id"))
        incident = await updates.post(ref, actor, parsed.rest)
        await ctx.reply(body, respond, ui.update_posted_reply(incident))

    ctx.verbs.add("update", update_command, help=ui.UPDATE_HELP)

    @bolt.action(ActionId.POST_UPDATE)
    async def update_button(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        incident_id = (body.get("actions") or [{}])[0].get("value", "")
        ctx.after_ack(ctx.client.views_open(trigger_id=body["trigger_id"],
                                            view=ui.update_modal(incident_id)))

    @bolt.view(CallbackId.POST_UPDATE)
    async def update_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        text = submitted_text(view, InputId.UPDATE)
        if not text:
            await ack(response_action="errors", errors={InputId.UPDATE: ui.EMPTY_UPDATE})
            return
        incident_id = _incident_of(view)
        if incident_id is None:
            await ack(response_action="errors", errors={InputId.UPDATE: ui.LOST_INCIDENT})
            return
        await ack()
        ctx.after_ack(post(body["user"], incident_id, text))

    async def post(user: dict[str, Any], incident_id: uuid.UUID, text: str) -> None:
        actor = await ctx.actor(user["id"], user.get("username") or user.get("name"))
        try:
            await updates.post(IncidentRef(incident_id=incident_id), actor, text)
        except DomainError as exc:
            await ctx.client.chat_postMessage(channel=user["id"], text=f":warning: {exc}")

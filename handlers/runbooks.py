"""Runbooks from Slack: the checklist's *Done* button and ``/incident runbook [name]``.
Parse, call one ``Checklists`` use case, reply."""

from __future__ import annotations

import json
import uuid
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.slack_ui import runbooks as ui
from bot.slack_ui.ids import ActionId
from domain.checklists import Checklists
from domain.commands import Parsed
from domain.model import DomainError
from domain.services import IncidentRef
from handlers.slack_context import SlackContext


def register(bolt: AsyncApp, ctx: SlackContext, checklists: Checklists) -> None:
    """The Done button listener and the ``runbook`` verb."""

    @bolt.action(ActionId.RUNBOOK_STEP_DONE)
    async def step_done(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        ctx.after_ack(mark_done(body, respond))

    async def mark_done(body: dict[str, Any], respond: AsyncRespond) -> None:
        user = body.get("user") or {}
        try:
            value = json.loads((body.get("actions") or [{}])[0].get("value") or "{}")
            incident_id = uuid.UUID(value["i"])
            actor = await ctx.actor(user["id"], user.get("username") or user.get("name"))
            outcome = await checklists.complete_step(incident_id, str(value["r"]), str(value["v"]),
                                                     str(value["s"]), actor)
            if not outcome.recorded:
                await ctx.reply(body, respond, ui.step_already_done(outcome))
        except DomainError as exc:
            await ctx.reply(body, respond, f":warning: {exc}")
        except (KeyError, ValueError, TypeError):
            await ctx.reply(body, respond, ui.NOT_A_STEP)

    async def runbook_command(ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                              respond: AsyncRespond) -> None:
        ref = IncidentRef(number=parsed.number, channel_id=body.get("channel_id"))
        wanted = parsed.rest.strip().lower().removesuffix(".md")
        if wanted:
            actor = await ctx.actor(body.get("user_id", ""), body.get("user_name"))
            incident, runbook = await checklists.select(ref, wanted, actor)
            await ctx.reply(body, respond, ui.selected_reply(incident, runbook))
            return
        view = await ctx.service.view(ref)
        checklist = await checklists.checklist(view.incident.id)
        await ctx.reply(body, respond, ui.checklist_reply(view.incident.key, checklist,
                                                          list(checklists.shelf.by_name)))

    ctx.verbs.add("runbook", runbook_command, help=ui.RUNBOOK_HELP)

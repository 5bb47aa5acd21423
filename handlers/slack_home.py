"""The App Home tab: active incidents (yours first) and a Declare button, published on open."""

from __future__ import annotations

import uuid
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.slack_ui import incident as rendering
from bot.slack_ui.ids import ActionId
from domain.commands import parse
from handlers.slack_commands import declare_modal
from handlers.slack_context import SlackContext


def register(app: AsyncApp, ctx: SlackContext) -> None:
    @app.event("app_home_opened")
    async def home_opened(ack: AsyncAck, event: dict[str, Any]) -> None:
        await ack()
        if event.get("tab", "home") == "home" and event.get("user"):
            ctx.after_ack(publish(event["user"]))

    async def publish(user_id: str) -> None:
        views = await ctx.shown_to(await ctx.service.list_incidents(limit=200, with_links=True),
                                   user_id)
        notes: dict[uuid.UUID, list[str]] = {}
        for note in ctx.home_notes:  # features' lines under each incident (roles: issue 19)
            for incident_id, lines in (await note([v.incident.id for v in views])).items():
                notes.setdefault(incident_id, []).extend(lines)
        view = rendering.home_view(user_id, [(v.incident, v.model, v.link) for v in views],
                                   ctx.clock.now(), notes)
        await ctx.client.views_publish(user_id=user_id, view=view)

    @app.action(ActionId.HOME_DECLARE)
    async def declare_from_home(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        ctx.after_ack(open_form(body, respond))

    async def open_form(body: dict[str, Any], respond: AsyncRespond) -> None:
        names = [m.name for m in await ctx.service.list_models()]
        await ctx.open_modal(body, respond, body.get("trigger_id"),
                             declare_modal(parse("declare"), names, None))

"""``/incident postmortem`` and ``/incident action``: parse, call one postmortem use case, reply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.slack_ui import postmortems as ui
from bot.slack_ui.mrkdwn import mentioned_user
from domain.action_items import parse_action
from domain.commands import Parsed
from domain.model import Actor, DomainError
from domain.postmortems import Postmortems
from domain.services import IncidentRef
from handlers.slack_context import SlackContext
from handlers.verbs import VerbTable


def _ref(parsed: Parsed, body: dict[str, Any]) -> IncidentRef:
    return IncidentRef(number=parsed.number, channel_id=body.get("channel_id"))


@dataclass
class PostmortemVerbs:
    """The two verbs over the postmortem use cases."""

    postmortems: Postmortems

    async def postmortem(self, ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                         respond: Any) -> None:
        """Post the draft to the incident channel, or ``factors <text>``: record the analysis."""
        sub, _, text = (parsed.rest or "").strip().partition(" ")
        if sub.lower() == "factors":
            actor = await ctx.actor(body.get("user_id", ""), body.get("user_name"))
            incident = await self.postmortems.record_factors(_ref(parsed, body), actor, text.strip())
            await ctx.reply(body, respond, ui.factors_recorded(incident.key))
            return
        draft = await self.postmortems.draft(_ref(parsed, body))
        if not draft.channel_id:
            await ctx.reply(body, respond, ui.NO_CHANNEL)
            return
        key = draft.view.incident.key
        filename, title = ui.draft_file(key)
        await ctx.client.files_upload_v2(channel=draft.channel_id, content=draft.markdown.encode(),
                                         filename=filename, title=title)
        user_id = body.get("user_id", "")  # recorded before the reply: "posted", then `close` works
        await self.postmortems.record_draft(draft.view.incident,
                                            Actor(user_id, body.get("user_name") or user_id))
        await ctx.reply(body, respond, ui.draft_posted(key, draft.has_factors))

    async def action(self, ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                     respond: Any) -> None:
        """``action add ...`` | ``action list`` | ``action done <n>``."""
        sub, _, rest = parsed.rest.strip().partition(" ")
        ref = _ref(parsed, body)
        actor = await ctx.actor(body.get("user_id", ""), body.get("user_name"))
        if sub == "add":
            item = parse_action(rest, ctx.clock.now().date(), mentioned_user)
            incident, number = await self.postmortems.add_action_item(ref, actor, item)
            text = ui.action_added(incident, number, item)
        elif sub in ("list", ""):
            incident, items = await self.postmortems.action_items(ref)
            text = ui.action_list(incident, items)
        elif sub == "done" and rest.strip().isdigit():
            number = int(rest.strip())
            incident, done = await self.postmortems.complete_action_item(ref, actor, number)
            text = ui.action_done(incident, number, done)
        else:
            raise DomainError(ui.unknown_action(sub))
        await ctx.reply(body, respond, text)


def register(verbs: VerbTable, postmortems: Postmortems) -> None:
    handlers = PostmortemVerbs(postmortems)
    verbs.add("postmortem", handlers.postmortem, help=ui.POSTMORTEM_HELP)
    verbs.add("action", handlers.action, help=ui.ACTION_HELP)

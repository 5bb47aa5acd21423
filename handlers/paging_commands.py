"""``/incident oncall [team]`` and ``/incident page <team|@user> [message]``: parse, call the
on-call query or the page use case (domain/paging/), reply ephemerally. Both run after the ack
(the verb table's contract), so PagerDuty's reads may take their time; a PagerDuty that cannot be
asked is a ``DomainError`` the command runner turns into an ephemeral warning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.slack_ui import paging as ui
from bot.slack_ui.mrkdwn import mentioned_user
from domain.commands import Parsed
from domain.paging.oncall import OnCall
from domain.paging.pages import Paging
from domain.services import IncidentRef
from handlers.slack_context import SlackContext
from handlers.verbs import VerbTable


@dataclass
class PagingVerbs:
    oncall: OnCall
    paging: Paging

    async def oncall_command(self, ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                             respond: Any) -> None:
        team = parsed.rest.strip().split(" ")[0] or None
        await ctx.reply(body, respond, ui.oncall_text(await self.oncall.who(team)))

    async def page_command(self, ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                           respond: Any) -> None:
        target, message = await self.paging.target(parsed.rest, mentioned_user)
        actor = await ctx.actor(body.get("user_id", ""), body.get("user_name"))
        ref = IncidentRef(number=parsed.number, channel_id=body.get("channel_id"))
        outcome = await self.paging.page(ref, actor, target, message)
        await ctx.reply(body, respond, ui.page_reply(outcome, ui.PagingTexts().target(target)))


def register(verbs: VerbTable, oncall: OnCall, paging: Paging) -> None:
    handlers = PagingVerbs(oncall, paging)
    verbs.add("oncall", handlers.oncall_command, help=ui.ONCALL_HELP, aliases=("on-call",),
              scoped=False)
    verbs.add("page", handlers.page_command, help=ui.PAGE_HELP)

"""Ways in for insights (issue 21): ``/incident stats [30d]`` (the report's headline figures,
as an ephemeral reply) and the trackers' webhooks (a ticket closed there closes its item).

Thin: parse, one use case (the report source in SQL; the tracker sync's close), reply.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from bot.slack_ui.insights import stats_text
from domain.insights import ReportSource, parse_window
from domain.model import DomainError
from domain.trackers import SIGNATURE_HEADERS, closed_ticket, signature_valid

if TYPE_CHECKING:
    from domain.commands import Parsed
    from handlers.slack_context import SlackContext
    from handlers.verbs import VerbHandler

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def stats_verb(reports: ReportSource) -> VerbHandler:
    """The ``stats`` verb's handler over ``reports``."""

    async def stats(ctx: SlackContext, parsed: Parsed, body: dict[str, Any], respond: Any) -> None:
        # `/incident stats 30` reaches us as an incident number 30: read it as 30 days
        text = f"{parsed.number}d" if parsed.number is not None and not parsed.rest else parsed.rest
        try:
            window = parse_window(text)
        except ValueError as exc:
            raise DomainError(f"{exc}. Usage: `/incident stats [30d]`.") from None
        now = ctx.clock.now()
        report = await reports.report(now - window, now, now, breach_limit=5)
        await ctx.reply(body, respond, stats_text(report, window))

    return stats




class TicketCloser(Protocol):
    async def close(self, tracker: str, key: str) -> bool: ...


def tracker_webhook(closer: TicketCloser, secret: str | None) -> Handler:
    """``POST /webhooks/trackers/{jira|github|linear}``: the tracker says a ticket is done (its
    webhook, signed with TRACKER_WEBHOOK_SECRET); the action item closes at once instead of at
    the next periodic check. Anything else the tracker sends is acknowledged and ignored."""

    async def webhook(request: web.Request) -> web.StreamResponse:
        kind = request.match_info.get("kind", "")
        if kind not in SIGNATURE_HEADERS:
            return web.json_response({"error": f"unknown tracker '{kind[:20]}'; use jira, github or "
                                      "linear"}, status=404)
        if not secret:
            return web.json_response({"error": "tracker webhooks are not enabled: set "
                                      "TRACKER_WEBHOOK_SECRET"}, status=503)
        body = await request.read()
        if not signature_valid(kind, secret, body, request.headers):
            return web.json_response({"error": f"bad or missing {SIGNATURE_HEADERS[kind]}"}, status=401)
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return web.json_response({"error": "not JSON"}, status=400)
        key = closed_ticket(kind, request.headers.get("X-GitHub-Event", ""), payload)
        closed = bool(key) and await closer.close(kind, key or "")
        return web.json_response({"ticket": key, "closed": closed})

    return webhook

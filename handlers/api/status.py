"""``GET /status``: the status page, public (stakeholders without Slack or an API account).
Titles of incidents labelled private are hidden when STATUS_PAGE_HIDE_PRIVATE_TITLES is on."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from bot.slack_ui.status_page import StatusRow, render, row
from domain.api.ports import IncidentFilter
from handlers.api.http import ApiContext, endpoint

DAYS = 30
STATUS_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


def routes(ctx: ApiContext) -> list[web.RouteDef]:
    settings = ctx.container.settings
    private = settings.status_page_private_label.lower()

    async def page(_request: web.Request) -> web.StreamResponse:
        now = ctx.clock.now()
        queries = ctx.queries
        active = sorted(await queries.incident_rows(IncidentFilter(  # most severe first
            statuses=["open", "investigating", "mitigated"]), 200),
            key=lambda r: (str(r["severity"]), -r["number"]))
        recent = [r for r in await queries.incident_rows(IncidentFilter(
            since=now - timedelta(days=DAYS)), 500) if r["status"] in ("resolved", "closed")]
        updates = await queries.last_stakeholder_updates([r["id"] for r in active])

        def shown(r: dict[str, Any]) -> StatusRow:
            hide = settings.status_page_hide_private_titles and private in [
                str(label).lower() for label in (r.get("labels") or [])]
            return row(r["number"], r["title"], str(r["severity"]), r["model"], str(r["status"]),
                       r["assigned_to"], r["created_at"], r["resolved_at"] or r["closed_at"],
                       updates.get(r["id"]), now, hide)

        html = render([shown(r) for r in active], [shown(r) for r in recent], now, DAYS)
        return web.Response(text=html, content_type="text/html", charset="utf-8",
                            headers={"Content-Security-Policy": STATUS_CSP,
                                     "Cache-Control": "no-cache"})

    return [web.get("/status", endpoint(ctx, page))]

"""``/incident stats [30d]`` (issue 21): the report's headline figures, as an ephemeral reply.

Thin: parse the window, ask the report source (SQL, storage/reports.py), reply with the
words of bot/slack_ui/insights.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.slack_ui.insights import stats_text
from domain.insights import ReportSource, parse_window
from domain.model import DomainError

if TYPE_CHECKING:
    from domain.commands import Parsed
    from handlers.slack_context import SlackContext
    from handlers.verbs import VerbHandler


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


__all__ = ["stats_verb"]

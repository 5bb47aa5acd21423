"""Slack texts of the paging integrations (PagerDuty, Alertmanager)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from bot.slack_ui.ids import ActionId
from domain.model import Incident
from domain.paging.oncall import OnCallShift, TeamOnCall
from domain.paging.pages import RESPONDERS, USER, PageOutcome, PageTarget


def resolve_prompt(incident: Incident) -> dict[str, Any]:
    """The channel message once an alert group's alerts have all resolved: resolve it too?"""
    text = (f":large_green_circle: The alerts behind *{incident.key}* have resolved. "
            "Resolve the incident?")
    button = {"type": "button", "action_id": ActionId.RESOLVE.value, "value": str(incident.id),
              "style": "primary", "text": {"type": "plain_text", "text": "Resolve"}}
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}},
                                     {"type": "actions", "elements": [button]}]}


# -- on call and paging from Slack (issue 19, item 7) --------------------------------------------

ONCALL_HELP = "`/incident oncall [team]`: who is on call now in PagerDuty, per escalation policy"
PAGE_HELP = ("`/incident page <team|@user> [message]`: page a team's on-call or a person; they "
             "are invited to the channel when they acknowledge")


def _person(shift: OnCallShift, chat_users: dict[str, str]) -> str:
    chat_user = chat_users.get(shift.user.id)
    return f"<@{chat_user}>" if chat_user else shift.user.name


def _shift_line(shift: OnCallShift, chat_users: dict[str, str]) -> str:
    where = f" ({shift.schedule}" if shift.schedule else " (direct"
    until = f", until {shift.end.astimezone(UTC):%a %H:%M} UTC)" if shift.end else ")"
    return f"  • Level {shift.level}: {_person(shift, chat_users)}{where}{until}"


def oncall_text(teams: Sequence[TeamOnCall]) -> str:
    """Level 1 first under each team; a person is a mention when their e-mail is in Slack."""
    if not teams:
        return ":information_source: PagerDuty has no escalation policies to show."
    lines = [":pager: *On call now* (PagerDuty)"]
    for team in teams:
        lines.append(f"*{team.team}*: escalation policy _{team.policy.name}_")
        if not team.shifts:
            lines.append("  • nobody is on call")
        lines.extend(_shift_line(s, team.chat_users) for s in team.shifts)
    return "\n".join(lines)


class PagingTexts:
    """The words of a page (domain/paging/pages.py ``PageTexts``)."""

    def target(self, target: PageTarget) -> str:
        return f"<@{target.name}>" if target.kind == USER else target.name

    def paged(self, incident: Incident, actor_mention: str, target: str, message: str) -> str:
        return f":pager: {actor_mention} paged {target}" + (f": {message}" if message else "")


def page_reply(outcome: PageOutcome, target: str) -> str:
    """What the person who paged is told (ephemeral)."""
    how = ("added as responders to the linked PagerDuty incident"
           if outcome.page.method == RESPONDERS else "paged through PagerDuty")
    text = (f":pager: {target} {how} for *{outcome.incident.key}*; they are invited to the "
            "channel when they acknowledge.")
    if outcome.repeat and outcome.page.method != RESPONDERS:
        text += (f"\n{target} was paged for {outcome.incident.key} before: while that page is "
                 "open PagerDuty counts this one as the same page.")
    return text

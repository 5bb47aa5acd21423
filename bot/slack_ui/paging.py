"""Slack texts of the paging integrations (PagerDuty, Alertmanager)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from bot.slack_ui.ids import ActionId
from bot.slack_ui.mrkdwn import escape, mention, mention_of
from domain.model import Actor, Incident
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
ONCALL_MAX_CHARS = 3500  # an answer to read at a glance (and far below Slack's limits)


def _person(shift: OnCallShift, chat_users: dict[str, str]) -> str:
    chat_user = chat_users.get(shift.user.id)
    return f"<@{chat_user}>" if chat_user else escape(shift.user.name)  # PagerDuty's words


def _shift_line(shift: OnCallShift, chat_users: dict[str, str]) -> str:
    where = f" ({escape(shift.schedule)}" if shift.schedule else " (direct"
    until = f", until {shift.end.astimezone(UTC):%a %H:%M} UTC)" if shift.end else ")"
    return f"  • Level {shift.level}: {_person(shift, chat_users)}{where}{until}"


def oncall_text(teams: Sequence[TeamOnCall]) -> str:
    """Level 1 first under each team; a person is a mention when their e-mail is in Slack."""
    if not teams:
        return ":information_source: PagerDuty has no escalation policies to show."
    lines = [":pager: *On call now* (PagerDuty)"]
    for shown, team in enumerate(teams):
        block = [f"*{escape(team.team)}*: escalation policy _{escape(team.policy.name)}_"]
        block += [_shift_line(s, team.chat_users) for s in team.shifts] or ["  • nobody is on call"]
        if sum(len(line) + 1 for line in lines + block) > ONCALL_MAX_CHARS:
            lines.append(f"… and {len(teams) - shown} more: `/incident oncall <team>` shows one.")
            break
        lines += block
    return "\n".join(lines)


class PagingTexts:
    """The words of a page (domain/paging/pages.py ``PageTexts``)."""

    def target(self, target: PageTarget) -> str:
        return f"<@{target.name}>" if target.kind == USER else escape(target.name)

    def no_account(self, user_id: str, teams: str) -> str:
        return (f"{mention_of(user_id)} has no PagerDuty account (no PagerDuty user has their "
                f"Slack e-mail). Page a team instead: {teams}.")

    def paged(self, incident: Incident, actor: Actor, target: str, message: str) -> str:
        return f":pager: {mention(actor)} paged {target}" + (f": {escape(message)}" if message else "")


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

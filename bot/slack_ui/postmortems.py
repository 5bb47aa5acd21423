"""What the bot says about postmortems and action items (Slack mrkdwn)."""

from __future__ import annotations

from datetime import datetime

from bot.slack_ui.mrkdwn import escape
from domain.action_items import USAGE, ActionItem
from domain.governance.postmortem import ActionItemRow
from domain.model import Incident

ACTION_HELP = ("`/incident action add \"text\" owner:@user due:YYYY-MM-DD severity:p2 ticket:JIRA-1` "
               "| `action list` | `action done <n>`: postmortem action items")
POSTMORTEM_HELP = ("`/incident postmortem`: draft the postmortem from the timeline | "
                   "`postmortem factors <text>`: record the contributing factors (needed to close)")
NO_CHANNEL = ":warning: This incident has no channel yet; try again shortly."


def _commander(incident: Incident) -> str:
    return f"<@{incident.assigned_to}>" if incident.assigned_to else "Incident Commander"


class PostmortemTexts:
    """The channel messages of ``domain.postmortems.Postmortems`` (its ``PostmortemTexts`` port)."""

    def required(self, incident: Incident, due_at: datetime | None) -> str:
        return (f":page_facing_up: {_commander(incident)}: a postmortem is required for *{incident.key}* "
                f"({incident.severity.label})" + (f" by {due_at:%Y-%m-%d %H:%M} UTC" if due_at else "")
                + ". Draft it with `/incident postmortem` and record action items with "
                "`/incident action add ...`; the incident can be closed once both exist.")

    def waived(self, incident: Incident, survivor: Incident) -> str:
        return (f":page_facing_up: No postmortem of its own for *{incident.key}*: it is a duplicate "
                f"of *{survivor.key}*, whose postmortem covers it; it can be closed as it is.")

    def overdue(self, incident: Incident, due_at: datetime, has_draft: bool) -> str:
        return (f":alarm_clock: {_commander(incident)}: the postmortem of *{incident.key}* was due "
                f"{due_at:%Y-%m-%d %H:%M} UTC and is not done yet: "
                + ("its draft has no contributing factors. Record them with "
                   "`/incident postmortem factors ...` and post the draft again." if has_draft
                   else "it has no draft. Run `/incident postmortem`."))


def draft_file(key: str) -> tuple[str, str]:
    """The uploaded draft's file name and title."""
    return f"postmortem-{key}.md", f"Postmortem draft: {key}"


def draft_posted(key: str, has_factors: bool) -> str:
    missing = "" if has_factors else (
        " It has no contributing factors yet: record them with `/incident postmortem factors "
        "<what made this possible>`, then post the draft again.")
    return f":page_facing_up: Postmortem draft for *{key}* posted to the channel.{missing}"


def factors_recorded(key: str) -> str:
    return (f":memo: Contributing factors of *{key}* recorded. Post the "
            "draft again (`/incident postmortem`) so the document carries them.")


def action_added(incident: Incident, number: int, item: ActionItem) -> str:
    return (f":white_check_mark: Action item {number} on {incident.key}: {escape(item.text)} · "
            f"owner <@{item.owner}> · due {item.due} · {item.severity.label} · {escape(item.ticket)}")


def action_list(incident: Incident, items: list[ActionItemRow]) -> str:
    if not items:
        return f"{incident.key} has no action items. Add one: {USAGE}"
    lines = []
    for r in items:
        strike = "~" if r.done else ""
        lines.append(f"{strike}{r.number}. {escape(r.text)} · <@{r.owner}> · due {r.due} · "
                     f"{r.severity.upper()} · {escape(r.ticket)}{strike}")
    return f"*Action items of {incident.key}*\n" + "\n".join(lines)


def action_done(incident: Incident, number: int, done: bool) -> str:
    if not done:
        return f":information_source: {incident.key} has no open action item {number}."
    return f":white_check_mark: Action item {number} on {incident.key} is done."


def unknown_action(sub: str) -> str:
    return f"Unknown action command `{sub}`. Use {USAGE}."

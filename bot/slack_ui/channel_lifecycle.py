"""Slack words of the channel lifecycle (issue 19 item 8): the private announcement, the last
message before archiving, the declare form's *Private* box."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.slack_ui.incident import controls, slo_lines
from bot.slack_ui.mrkdwn import STATUS_EMOJI
from domain.messages import hhmm
from domain.model import Incident
from domain.policy import Policy
from domain.ports import SlackLink

PRIVATE_BLOCK = "private"  # the declare form's checkbox block (and action) id
PRIVATE_FLAGS = ("--private", "\u2014private")  # Slack may turn "--" into an em dash


def private_announcement(incident: Incident, link: SlackLink | None, policy: Policy,
                         now: datetime) -> tuple[str, list[dict[str, Any]]]:
    """The incidents-channel message of a private incident: its key and severity, never its
    title, model or description (those are for members of its private channel)."""
    head = f"{incident.key} (private) [{incident.severity.label}]"
    text = f"{STATUS_EMOJI[incident.status]} {head} ({incident.status.value})"
    commander = f"<@{incident.assigned_to}>" if incident.assigned_to else "_unassigned_"
    fields = [
        f"*Severity*\n{incident.severity.label}",
        f"*Status*\n{STATUS_EMOJI[incident.status]} {incident.status.value}",
        f"*Commander*\n{commander}",
        f"*Declared*\n{hhmm(incident.created_at)}",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": head}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            ":lock: A private incident: its details are shown to the members of its channel.")}]},
    ]
    slo = slo_lines(incident, policy, now)
    if slo:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": "*SLO* · " + " · ".join(slo)}]})
    blocks += controls(incident, policy)  # a role names no title: the menu is offered here too
    return text, blocks


def last_words(incident: Incident, days: int) -> str:
    """The channel's last message before the bot archives it (the postmortem link follows)."""
    closed = f" on {incident.closed_at:%Y-%m-%d}" if incident.closed_at else ""
    return (f":file_cabinet: {incident.key} was closed{closed}; its channel is archived "
            f"{days} days after close. Its record stays: `/incident status {incident.number}`, "
            f"`/incident timeline {incident.number}`.")


def last_message_heading(incident: Incident) -> str:
    """How a retry recognises a last message an interrupted attempt already posted."""
    return f":file_cabinet: {incident.key} was closed"


def postmortem_line(permalink: str | None) -> str:
    if permalink:
        return f"\nPostmortem: <{permalink}|the postmortem draft>"
    return "\nNo postmortem draft was posted in this channel."


def private_checkbox(checked: bool = False) -> dict[str, Any]:
    """The declare form's optional *Private* box."""
    option = {"text": {"type": "plain_text", "text": "Private incident"},
              "description": {"type": "plain_text", "text": (
                  "A private channel; the title is shown only to its members")},
              "value": "private"}
    element: dict[str, Any] = {"type": "checkboxes", "action_id": PRIVATE_BLOCK,
                               "options": [option]}
    if checked:
        element["initial_options"] = [option]
    return {"type": "input", "block_id": PRIVATE_BLOCK, "optional": True,
            "label": {"type": "plain_text", "text": "Private"}, "element": element}


def is_checked(view: dict[str, Any]) -> bool:
    """Whether the submitted declare form's *Private* box is ticked."""
    block = view.get("state", {}).get("values", {}).get(PRIVATE_BLOCK, {})
    return any(o.get("value") == "private" for element in block.values()
               for o in element.get("selected_options") or [])

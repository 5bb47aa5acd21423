"""What the bot says when a clock fires, and about stakeholder updates (Slack mrkdwn and Block Kit).
Pure functions of the action and the incident."""

from __future__ import annotations

from typing import Any

from bot.slack_ui.ids import ActionId, CallbackId, InputId
from bot.slack_ui.modals import text_modal
from domain.messages import escape
from domain.model import Incident, Severity, format_duration
from domain.timers import TimerAction, TimerKind

_MILESTONE = {TimerKind.ACK_BREACH: "acknowledged", TimerKind.MITIGATE_BREACH: "mitigated",
              TimerKind.RESOLVE_BREACH: "resolved"}

UPDATE_ACTION = ActionId.POST_UPDATE  # the reminder's "Post update" button


def breach_text(incident: Incident, action: TimerAction) -> str:
    milestone = _MILESTONE[action.kind]
    return (f":rotating_light: *SLO breach on {incident.key}* [{action.severity.label}]: not "
            f"{milestone} within {format_duration(action.target.total_seconds())} "
            f"(due {action.due_at:%H:%M:%S} UTC).")


def escalation_text(incident: Incident, severity: Severity, reason: str, after_seconds: float,
                    mentions: list[str]) -> str:
    who = ", ".join(mentions) if mentions else "nobody configured"
    return (f":loudspeaker: *{incident.key} escalated* [{severity.label}] to {who}: "
            f"{reason} after {format_duration(after_seconds)}. "
            "You have been invited to the incident channel.")


def no_commander_text(incident: Incident, action: TimerAction) -> str:
    return (f":warning: *{incident.key} has no Incident Commander* "
            f"{format_duration(action.target.total_seconds())} after it was declared "
            f"({action.severity.label} needs one). Take it with `/incident assign @you`.")


def update_due_text(incident: Incident, action: TimerAction) -> str:
    who = f"<@{incident.assigned_to}>" if incident.assigned_to else "Incident Commander (none assigned)"
    return (f":memo: {who}: a stakeholder update on *{incident.key}* is due "
            f"(every {format_duration(action.target.total_seconds())} for "
            f"{action.severity.label}). Post it with `/incident update <text>` or the button.")


def update_posted_text(incident: Incident, author_mention: str, text: str) -> str:
    quoted = "\n".join(f"> {escape(line)}" for line in text.splitlines() or [""])
    return f":mega: *Stakeholder update on {incident.key}* from {author_mention}:\n{quoted}"


def update_due_blocks(incident: Incident, action: TimerAction) -> list[dict[str, object]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": update_due_text(incident, action)}},
        {"type": "actions", "elements": [{
            "type": "button", "action_id": UPDATE_ACTION, "value": str(incident.id),
            "style": "primary", "text": {"type": "plain_text", "text": "Post update"}}]},
    ]


def update_modal(incident_id: str) -> dict[str, Any]:
    """The form behind the reminder's "Post update" button."""
    return text_modal(CallbackId.POST_UPDATE, InputId.UPDATE, title="Stakeholder update",
                      submit="Post update", label="What changed, impact, next steps",
                      metadata={"incident_id": incident_id})


def update_posted_reply(incident: Incident) -> str:
    return (f":mega: Update on {incident.key} posted in its announcement's thread; "
            "the update clock starts again.")


UPDATE_HELP = "`/incident update <text>`: post a stakeholder update (resets the update cadence)"
EMPTY_UPDATE = "Write the update first."
LOST_INCIDENT = "This form lost its incident; use `/incident update <text>`."


class UpdateTexts:
    """The thread message of ``domain.updates.StakeholderUpdates`` (its ``UpdateTexts`` port)."""

    def posted(self, incident: Incident, author_mention: str, text: str) -> str:
        return update_posted_text(incident, author_mention, text)

"""What the bot says when a clock fires, and about stakeholder updates (Slack mrkdwn and Block Kit).
Pure functions of the action and the incident."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.slack_ui.ids import ActionId, CallbackId, InputId
from bot.slack_ui.modals import text_modal
from bot.slack_ui.mrkdwn import escape, mention
from domain.messages import hhmm
from domain.model import Actor, Incident, Severity, format_duration
from domain.reminders import SnoozeLimit
from domain.timers import TimerAction, TimerKind

_MILESTONE = {TimerKind.ACK_BREACH: "acknowledged", TimerKind.MITIGATE_BREACH: "mitigated",
              TimerKind.RESOLVE_BREACH: "resolved"}

UPDATE_ACTION = ActionId.POST_UPDATE  # the reminder's "Post update" button
_SLA_WORDS = {"ack": "acknowledge", "mitigate": "mitigate", "resolve": "resolve"}


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


def unknown_group_mention(handle: str) -> str:
    """How an escalation names a ``notify`` entry that is no user group of the workspace."""
    return f"@{handle} (no such user group in this workspace)"


def reminder_who(mentions: list[str], why: str) -> str:
    """Who the update reminder pings and why (issue 19): ``<@U1> (Communications lead)``."""
    return f"{', '.join(mentions)} ({why})" if mentions else f"Nobody to ping ({why})"


def update_due_text(incident: Incident, severity: Severity, cadence_seconds: float, who: str) -> str:
    return (f":memo: {who}: a stakeholder update on *{incident.key}* is due "
            f"(every {format_duration(cadence_seconds)} for "
            f"{severity.label}). Post it with `/incident update <text>` or the button.")


def update_posted_text(incident: Incident, author_mention: str, text: str) -> str:
    quoted = "\n".join(f"> {escape(line)}" for line in text.splitlines() or [""])
    return f":mega: *Stakeholder update on {incident.key}* from {author_mention}:\n{quoted}"


SNOOZES = ((ActionId.SNOOZE_UPDATE_15M, "15m", timedelta(minutes=15)),
           (ActionId.SNOOZE_UPDATE_30M, "30m", timedelta(minutes=30)),
           (ActionId.SNOOZE_UPDATE_1H, "1h", timedelta(hours=1)))
SNOOZE_FOR = {action_id: length for action_id, _label, length in SNOOZES}


def update_due_blocks(incident: Incident, text: str, note: str | None = None) -> list[dict[str, object]]:
    """The reminder: its text, a line on its snooze (once snoozed), *Post update* and *Snooze*."""
    buttons: list[dict[str, object]] = [{
        "type": "button", "action_id": UPDATE_ACTION, "value": str(incident.id),
        "style": "primary", "text": {"type": "plain_text", "text": "Post update"}}]
    buttons += [{"type": "button", "action_id": action_id, "value": str(incident.id),
                 "text": {"type": "plain_text", "text": f"Snooze {label}"}}
                for action_id, label, _length in SNOOZES]
    blocks: list[dict[str, object]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}]
    if note:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note[:3000]}]})
    blocks.append({"type": "actions", "elements": buttons})
    return blocks


def snoozed_note(actor_id: str, until: datetime, cut: SnoozeLimit | None) -> str:
    why = (f" (cut to the {_SLA_WORDS[cut.kind]} SLA: a snooze never goes past it)" if cut else "")
    return f":zzz: Snoozed by <@{actor_id}> until {hhmm(until)}{why}."


def snoozed_reply(incident: Incident, until: datetime, cut: SnoozeLimit | None) -> str:
    if cut is None:
        return (f":zzz: The update reminder of {incident.key} is snoozed until {hhmm(until)}; "
                "the next one comes then.")
    return (f":zzz: Snoozed until {hhmm(until)} only, not the full time: the {_SLA_WORDS[cut.kind]} "
            f"SLA of {incident.key} is due then, and a snooze never goes past the SLA.")


class SnoozeTexts:
    """The reminder as a snooze edits it (``domain.reminders.SnoozeTexts``)."""

    def snoozed_message(self, incident: Incident, original: str, actor: Actor, until: datetime,
                        cut: SnoozeLimit | None) -> dict[str, Any]:
        first = original.split("\n")[0] if original else f":memo: Update reminder of {incident.key}"
        note = snoozed_note(actor.id, until, cut)
        return {"text": f"{first}\n{note}", "blocks": update_due_blocks(incident, first, note)}


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

    def posted(self, incident: Incident, author: Actor, text: str) -> str:
        return update_posted_text(incident, mention(author), text)

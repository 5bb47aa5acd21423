"""What the bot says in Slack about an incident change (mrkdwn): the renderer the incident
service is composed with in ``bot/app.py`` (the ``Messages`` port of ``domain/messages.py``).

Outside text (a reason, a note, a name that is not a Slack user) is escaped, so a typed
``<!channel>`` or disguised link is shown, never interpreted; the bot's own mentions stay live.
"""

from __future__ import annotations

from datetime import datetime

from bot.slack_ui.mrkdwn import STATUS_EMOJI, escape, mention_of, who
from domain.messages import hhmm
from domain.model import Actor, Incident, Severity, Status, format_duration
from domain.state_machine import AlreadyInState, IllegalTransition

VERB_PAST = {
    Status.INVESTIGATING: "acknowledged",
    Status.MITIGATED: "mitigated",
    Status.RESOLVED: "resolved",
    Status.CLOSED: "closed",
}


class SlackMessages:
    """The ``domain.messages.Messages`` port in Slack mrkdwn."""

    def status_changed(self, incident: Incident, previous: Status, actor: Actor, at: datetime,
                       reason: str | None) -> str:
        if incident.status is Status.INVESTIGATING and previous is not Status.OPEN:
            verb = "reopened" if previous is Status.RESOLVED else "moved back to investigating"
        else:
            verb = VERB_PAST[incident.status]
        parts = [f"{STATUS_EMOJI[incident.status]} *{incident.key} {verb}* by {who(actor)} "
                 f"at {hhmm(at)}"]
        figures = _figures(incident, previous)
        if figures:
            parts.append(" · ".join(figures))
        if reason:
            parts.append(f"> {escape(reason)}")
        return "\n".join(parts)

    def note_echo(self, incident: Incident, actor: Actor, text: str) -> str:
        return f":memo: Note on {incident.key} by {who(actor)}:\n>{escape(text)}"

    def assigned(self, incident: Incident, actor: Actor, commander_id: str) -> str:
        return (f":bust_in_silhouette: {mention_of(commander_id)} is now Incident Commander of "
                f"{incident.key} (set by {who(actor)})")

    def severity_changed(self, incident: Incident, previous: Severity, actor: Actor) -> str:
        return (f":arrows_counterclockwise: {incident.key} severity changed "
                f"{previous.label} → *{incident.severity.label}* by {who(actor)}")

    def commander_note(self, commander_id: str) -> str:
        return f"Incident Commander set to {mention_of(commander_id)}"

    def already_commands(self, incident: Incident, commander_id: str) -> str:
        return f"{mention_of(commander_id)} already commands {incident.key}."

    def illegal_transition(self, refusal: IllegalTransition) -> str:
        return refusal.said(_bold)

    def already_in_state(self, refusal: AlreadyInState) -> str:
        return refusal.said(_bold)


def _bold(word: str) -> str:
    return f"*{word}*"


def _figures(incident: Incident, previous: Status) -> list[str]:
    """The response times a status change completes."""
    if incident.status is Status.INVESTIGATING and previous is Status.OPEN:
        return [f"time to acknowledge {format_duration(incident.time_to_acknowledge())}"]
    if incident.status is Status.MITIGATED:
        return [f"time to mitigate {format_duration(incident.time_to_mitigate())}"]
    if incident.status is Status.RESOLVED:
        return [f"time to acknowledge {format_duration(incident.time_to_acknowledge())}",
                f"time to resolve {format_duration(incident.time_to_resolve())}"]
    return []

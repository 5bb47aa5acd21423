"""What the incident service says about a change: the :class:`Messages` port, rendered for Slack
by ``bot/slack_ui/messages.py`` (composed in ``bot/app.py``), and :class:`PlainMessages`, the
same facts in plain words, for a service built without a renderer (scripts, unit tests).

Slack markup (escaping, mentions, status emoji) is ``bot/slack_ui/mrkdwn.py``'s.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from domain.model import Actor, Incident, Severity, Status
from domain.state_machine import AlreadyInState, IllegalTransition


class Messages(Protocol):
    """Port: the text of a change, said in the incident's thread and channel and answered to
    whoever made it; what the timeline keeps of a change of commander; and the state machine's
    refusals, answered to whoever asked."""

    def status_changed(self, incident: Incident, previous: Status, actor: Actor, at: datetime,
                       reason: str | None) -> str: ...

    def note_echo(self, incident: Incident, actor: Actor, text: str) -> str: ...

    def assigned(self, incident: Incident, actor: Actor, commander_id: str) -> str: ...

    def severity_changed(self, incident: Incident, previous: Severity, actor: Actor) -> str: ...

    def commander_note(self, commander_id: str) -> str: ...

    def already_commands(self, incident: Incident, commander_id: str) -> str: ...

    def illegal_transition(self, refusal: IllegalTransition) -> str: ...

    def already_in_state(self, refusal: AlreadyInState) -> str: ...


class PlainMessages:
    """:class:`Messages` without chat markup."""

    def status_changed(self, incident: Incident, previous: Status, actor: Actor, at: datetime,
                       reason: str | None) -> str:
        text = f"{incident.key} {previous.value} -> {incident.status.value} by {actor.name} at {hhmm(at)}"
        return f"{text}: {reason}" if reason else text

    def note_echo(self, incident: Incident, actor: Actor, text: str) -> str:
        return f"Note on {incident.key} by {actor.name}: {text}"

    def assigned(self, incident: Incident, actor: Actor, commander_id: str) -> str:
        return f"{commander_id} is now Incident Commander of {incident.key} (set by {actor.name})"

    def severity_changed(self, incident: Incident, previous: Severity, actor: Actor) -> str:
        return (f"{incident.key} severity changed {previous.label} -> {incident.severity.label} "
                f"by {actor.name}")

    def commander_note(self, commander_id: str) -> str:
        return f"Incident Commander set to {commander_id}"

    def already_commands(self, incident: Incident, commander_id: str) -> str:
        return f"{commander_id} already commands {incident.key}."

    def illegal_transition(self, refusal: IllegalTransition) -> str:
        return refusal.said()

    def already_in_state(self, refusal: AlreadyInState) -> str:
        return refusal.said()


def hhmm(at: datetime) -> str:
    """A time as the service says it (UTC, to the second)."""
    return at.strftime("%H:%M:%S UTC")

"""What the incident service says about a change: the :class:`Messages` port, rendered for Slack
by ``bot/slack_ui/messages.py`` (composed in ``bot/app.py``), and :class:`PlainMessages`, the
same facts in plain words, for a service built without a renderer (scripts, unit tests).

The helpers below (escaping, mentions, status emoji) are still shared with ``bot/slack_ui/`` and
the model-actions use cases, which compose chat text in ``domain/``; they move with those.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Protocol

from domain.model import Actor, Incident, Severity, Status


class Messages(Protocol):
    """Port: the text of a change, said in the incident's thread and channel and answered to
    whoever made it."""

    def status_changed(self, incident: Incident, previous: Status, actor: Actor, at: datetime,
                       reason: str | None) -> str: ...

    def note_echo(self, incident: Incident, actor: Actor, text: str) -> str: ...

    def assigned(self, incident: Incident, actor: Actor, commander_id: str) -> str: ...

    def severity_changed(self, incident: Incident, previous: Severity, actor: Actor) -> str: ...


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

STATUS_EMOJI = {
    Status.OPEN: ":red_circle:",
    Status.INVESTIGATING: ":large_orange_circle:",
    Status.MITIGATED: ":large_yellow_circle:",
    Status.RESOLVED: ":large_green_circle:",
    Status.CLOSED: ":white_check_mark:",
}


# An ``&`` that already starts an entity: Slack sends typed ``<`` ``>`` ``&`` escaped, so text
# stored from a slash command holds ``&lt;``; escaping it again would show "&lt;" to readers.
_BARE_AMP = re.compile(r"&(?!(?:amp|lt|gt);)")
# The mentions and channel links a mixed text (a timeline body) may keep live: a user or a
# channel, never a broadcast (<!here>, <!channel>, <!subteam^…>) or a disguised link.
_LIVE = re.compile(r"<(?:@[UW][A-Z0-9]{2,}|#C[A-Z0-9]{2,})(?:\|[^<>|]{0,80})?>")


def escape(text: str | None) -> str:
    """User or external text for Slack mrkdwn or ``text``: ``&`` ``<`` ``>`` escaped (issue 14).

    ``<!channel>``, ``<!here>``, ``<!subteam^S1|@oncall>`` or ``<https://evil|grafana>`` typed by
    a user are then shown as typed, never interpreted; the bot's own mentions are added around
    the escaped text, so they stay live.
    """
    if not text:
        return ""
    return _BARE_AMP.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")


def escape_mixed(text: str | None) -> str:
    """:func:`escape`, but user mentions and channel links (``<@U…>``, ``<#C…>``) stay live:
    for stored text that mixes the bot's words with the user's (timeline bodies)."""
    if not text:
        return ""
    out, last = [], 0
    for m in _LIVE.finditer(text):
        out.append(escape(text[last:m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(escape(text[last:]))
    return "".join(out)


def who(actor: Actor) -> str:
    """A Slack user as a live mention; anyone else (PagerDuty, a CLI user) by escaped name."""
    return actor.mention if actor.is_slack_user else escape(actor.name)


def hhmm(at: datetime) -> str:
    return at.strftime("%H:%M:%S UTC")

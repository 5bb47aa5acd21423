"""Texts the bot says (Slack mrkdwn), composed from domain facts. Pure functions."""

from __future__ import annotations

import re
from datetime import datetime

from domain.model import Actor, Incident, Status, format_duration

STATUS_EMOJI = {
    Status.OPEN: ":red_circle:",
    Status.INVESTIGATING: ":large_orange_circle:",
    Status.MITIGATED: ":large_yellow_circle:",
    Status.RESOLVED: ":large_green_circle:",
    Status.CLOSED: ":white_check_mark:",
}

VERB_PAST = {
    Status.INVESTIGATING: "acknowledged",
    Status.MITIGATED: "mitigated",
    Status.RESOLVED: "resolved",
    Status.CLOSED: "closed",
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


def status_change_text(incident: Incident, previous: Status, actor: Actor, at: datetime,
                       reason: str | None) -> str:
    if incident.status is Status.INVESTIGATING and previous is not Status.OPEN:
        verb = "reopened" if previous is Status.RESOLVED else "moved back to investigating"
    else:
        verb = VERB_PAST[incident.status]
    parts = [f"{STATUS_EMOJI[incident.status]} *{incident.key} {verb}* by {who(actor)} "
             f"at {hhmm(at)}"]
    figures = []
    if incident.status is Status.INVESTIGATING and previous is Status.OPEN:
        figures.append(f"time to acknowledge {format_duration(incident.time_to_acknowledge())}")
    if incident.status is Status.MITIGATED:
        figures.append(f"time to mitigate {format_duration(incident.time_to_mitigate())}")
    if incident.status is Status.RESOLVED:
        figures.append(f"time to acknowledge {format_duration(incident.time_to_acknowledge())}")
        figures.append(f"time to resolve {format_duration(incident.time_to_resolve())}")
    if figures:
        parts.append(" · ".join(figures))
    if reason:
        parts.append(f"> {escape(reason)}")
    return "\n".join(parts)


def declared_text(incident: Incident, model_name: str, actor: Actor) -> str:
    return (f":rotating_light: *{incident.key}* declared by {who(actor)}: "
            f"{incident.severity.label} on `{model_name}`: {escape(incident.title)}")


def note_echo_text(incident: Incident, actor: Actor, text: str) -> str:
    return f":memo: Note on {incident.key} by {who(actor)}:\n>{escape(text)}"


def assigned_text(incident: Incident, actor: Actor, commander: str) -> str:
    return (f":bust_in_silhouette: <@{commander}> is now Incident Commander of {incident.key} "
            f"(set by {who(actor)})")


def severity_text(incident: Incident, previous_label: str, actor: Actor) -> str:
    return (f":arrows_counterclockwise: {incident.key} severity changed "
            f"{previous_label} → *{incident.severity.label}* by {who(actor)}")

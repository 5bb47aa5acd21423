"""Texts the bot says (Slack mrkdwn), composed from domain facts. Pure functions."""

from __future__ import annotations

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


def hhmm(at: datetime) -> str:
    return at.strftime("%H:%M:%S UTC")


def status_change_text(incident: Incident, previous: Status, actor: Actor, at: datetime,
                       reason: str | None) -> str:
    if incident.status is Status.INVESTIGATING and previous is not Status.OPEN:
        verb = "reopened" if previous is Status.RESOLVED else "moved back to investigating"
    else:
        verb = VERB_PAST[incident.status]
    parts = [f"{STATUS_EMOJI[incident.status]} *{incident.key} {verb}* by {actor.mention} "
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
        parts.append(f"> {reason}")
    return "\n".join(parts)


def declared_text(incident: Incident, model_name: str, actor: Actor) -> str:
    return (f":rotating_light: *{incident.key}* declared by {actor.mention}: "
            f"{incident.severity.label} on `{model_name}`: {incident.title}")


def note_echo_text(incident: Incident, actor: Actor, text: str) -> str:
    return f":memo: Note on {incident.key} by {actor.mention}:\n>{text}"


def assigned_text(incident: Incident, actor: Actor, commander: str) -> str:
    return (f":bust_in_silhouette: <@{commander}> is now Incident Commander of {incident.key} "
            f"(set by {actor.mention})")


def severity_text(incident: Incident, previous_label: str, actor: Actor) -> str:
    return (f":arrows_counterclockwise: {incident.key} severity changed "
            f"{previous_label} → *{incident.severity.label}* by {actor.mention}")

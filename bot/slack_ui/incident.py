"""Slack Block Kit rendering of incidents: the announcement, the pinned summary, the topic, the
status and timeline replies, the App Home tab (issue 13)."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.slack_ui.ids import ActionId
from bot.slack_ui.mrkdwn import STATUS_EMOJI, escape, escape_mixed
from bot.slack_ui.roles import take_role_block
from domain.messages import hhmm
from domain.model import Incident, MLModel, Status, TimelineEvent, format_duration
from domain.policy import Policy
from domain.ports import SlackLink
from domain.state_machine import allowed_verbs

# the ids live in bot/slack_ui/ids.py; these names are kept for the modules and tests using them
ACTION_ACK = ActionId.ACK
ACTION_MITIGATE = ActionId.MITIGATE
ACTION_RESOLVE = ActionId.RESOLVE
ACTION_REOPEN = ActionId.REOPEN
ACTION_NOTE = ActionId.NOTE
ACTION_HOME_DECLARE = ActionId.HOME_DECLARE
#: the answer to a click (or a form) whose incident id is missing or not one
NOT_AN_INCIDENT = ":warning: That button is not attached to a known incident."
NOT_AN_INCIDENT_FORM = ":warning: That form is not attached to a known incident."
STATUS_ACTIONS = {"ack": ACTION_ACK, "mitigate": ACTION_MITIGATE, "resolve": ACTION_RESOLVE,
                  "reopen": ACTION_REOPEN}
BUTTON_LABELS = {ACTION_ACK: "Acknowledge", ACTION_MITIGATE: "Mitigate",
                 ACTION_RESOLVE: "Resolve", ACTION_REOPEN: "Reopen", ACTION_NOTE: "Add note"}

MAX_CHANNEL_NAME = 80


# Slack markup in a title: <https://…|label> and <mailto:…> links, <!here>, <@U1|name>, <#C1|name>
_MARKUP = re.compile(r"<([^<>]*)>")


def _plain_word(m: re.Match[str]) -> str:
    """What a channel name keeps of one piece of markup: the word a reader sees, never a URL."""
    inner = m.group(1)
    target, _, label = inner.partition("|")
    if target[:1] == "!":  # <!channel> reads "@channel"; <!subteam^S1|@oncall> reads "@oncall"
        return f" {(label or target[1:].split('^')[0]).lstrip('@')} "
    if target[:1] in ("@", "#"):
        return f" {label.lstrip('@')} " if label else " "
    return " "  # a link: its URL and its (possibly disguising) label are not the incident's words


def _readable(m: re.Match[str]) -> str:
    """One piece of markup as a reader sees it, as plain text: ``@channel``, ``@bob``, a label."""
    target, _, label = m.group(1).partition("|")
    if target[:1] == "!":
        return label or "@" + target[1:].split("^")[0]
    if target[:1] in ("@", "#"):
        return label if label.startswith(("@", "#")) else target[:1] + (label or target[1:])
    return label or target


def plain_text(text: str) -> str:
    """Slack markup spelt out as plain words: for places that do not format (a channel topic)."""
    return _MARKUP.sub(_readable, text)


def title_words(title: str) -> str:
    """A title's plain words for a channel name: markup and links are not words (issue 14)."""
    plain = _MARKUP.sub(_plain_word, title.replace("&lt;", "<").replace("&gt;", ">"))
    return plain.replace("&amp;", "&")


def channel_name(number: int, title: str, suffix: int = 0) -> str:
    """``inc-<number>-<slug>`` within Slack's rules: lowercase, digits, ``-``/``_``, <= 80.

    Built from the title's plain words: markup and links are not words (issue 14).
    """
    plain = title_words(title)
    ascii_title = unicodedata.normalize("NFKD", plain).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_-]+", "-", ascii_title.lower()).strip("-_")
    slug = re.sub(r"-{2,}", "-", slug)
    prefix = f"inc-{number}"
    tail = f"-{suffix}" if suffix else ""
    room = MAX_CHANNEL_NAME - len(prefix) - len(tail) - 1
    slug = slug[:max(room, 0)].rstrip("-_")
    return f"{prefix}-{slug}{tail}" if slug else f"{prefix}{tail}"


def slo_lines(incident: Incident, policy: Policy, now: datetime) -> list[str]:
    """One line per SLO target: deadline and met / breached / pending."""
    rule = policy.rule(incident.severity)
    lines = []
    for kind, label, reached in (("ack", "Acknowledge", incident.acknowledged_at),
                                 ("mitigate", "Mitigate", incident.mitigated_at),
                                 ("resolve", "Resolve", incident.resolved_at)):
        deadline = rule.deadline(kind, incident.created_at)  # type: ignore[arg-type]
        if deadline is None:
            continue
        if reached is not None:
            state = ":white_check_mark: met" if reached <= deadline else ":x: breached"
            state += f" ({format_duration((reached - incident.created_at).total_seconds())})"
        elif not incident.status.is_active:
            state = ""
        elif now > deadline:
            state = ":x: breached"
        else:
            state = "pending"
        lines.append(f"{label} by {hhmm(deadline)} {state}".rstrip())
    return lines


def announcement(incident: Incident, model: MLModel | None, link: SlackLink | None,
                 policy: Policy, now: datetime, extras: list[str] | None = None,
                 same_as: Incident | None = None) -> tuple[str, list[dict[str, Any]]]:
    """The incidents-channel message; ``chat.update`` re-renders it on every change.

    ``same_as``: an older active incident on the same model, offered as *This is the same*
    (clicking it resolves this one as its duplicate: ``domain/related.py``)."""
    model_name = model.name if model else "unknown model"
    text = (f"{STATUS_EMOJI[incident.status]} {incident.key} [{incident.severity.label}] "
            f"{escape(incident.title)} ({incident.status.value})")
    commander = f"<@{incident.assigned_to}>" if incident.assigned_to else "_unassigned_"
    channel = f"<#{link.channel_id}>" if link and link.channel_id else "_creating…_"
    fields = [
        f"*Severity*\n{incident.severity.label}",
        f"*Status*\n{STATUS_EMOJI[incident.status]} {incident.status.value}",
        f"*Model*\n`{model_name}`",
        f"*Commander*\n{commander}",
        f"*Channel*\n{channel}",
        f"*Declared*\n{hhmm(incident.created_at)} by {_who(incident.created_by)}",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                    "text": f"{incident.key} [{incident.severity.label}] "
                                            f"{plain_text(incident.title)}"[:150]}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    if incident.description:
        blocks.append({"type": "section",
                       "text": {"type": "mrkdwn", "text": escape(incident.description[:2900])}})
    slo = slo_lines(incident, policy, now)
    if slo:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": "*SLO* · " + " · ".join(slo)}]})
    if incident.labels:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": " ".join(f"`{escape(label)}`" for label in incident.labels)}]})
    for line in extras or []:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": line[:3000]}]})
    blocks += controls(incident, policy)
    if same_as is not None and incident.status.is_active:
        blocks.append(same_as_block(incident, same_as))
    return text, blocks


def same_as_block(incident: Incident, other: Incident) -> dict[str, Any]:
    """*This is the same as INC-n*: offered while another active incident exists on the model."""
    return {"type": "section", "block_id": f"same_as:{incident.id}",
            "text": {"type": "mrkdwn", "text": (  # no title: the other may be private
                f":link: {other.key} is also open on this model ({other.status.value}).")},
            "accessory": {"type": "button", "action_id": ActionId.SAME_AS,
                          "value": f"{incident.id}:{other.id}",
                          "text": {"type": "plain_text", "text": f"This is the same as {other.key}"},
                          "confirm": {
                              "title": {"type": "plain_text", "text": "Mark as duplicate?"},
                              "text": {"type": "mrkdwn", "text": (
                                  f"{incident.key} will be resolved as a duplicate of "
                                  f"{other.key}, and its responders invited there.")},
                              "confirm": {"type": "plain_text", "text": "Mark duplicate"},
                              "deny": {"type": "plain_text", "text": "Cancel"}}}}


def controls(incident: Incident, policy: Policy) -> list[dict[str, Any]]:
    """The announcement's Take a role menu (issue 19) and its status buttons, public or private."""
    blocks: list[dict[str, Any]] = []
    menu = take_role_block(incident, policy)
    if menu is not None:
        blocks.append(menu)
    buttons = action_buttons(incident)
    if buttons:
        blocks.append({"type": "actions", "block_id": f"incident:{incident.id}",
                       "elements": buttons})
    return blocks


def action_buttons(incident: Incident) -> list[dict[str, Any]]:
    if incident.status is Status.CLOSED:
        return []
    allowed = allowed_verbs(incident.status)
    buttons = []
    for verb in ("ack", "mitigate", "resolve", "reopen"):
        if verb in allowed:
            action_id = STATUS_ACTIONS[verb]
            button: dict[str, Any] = {
                "type": "button", "action_id": action_id, "value": str(incident.id),
                "text": {"type": "plain_text", "text": BUTTON_LABELS[action_id]}}
            if verb == "resolve":
                button["style"] = "primary"
            elif verb == "ack" and incident.status is Status.OPEN:
                button["style"] = "danger"
            buttons.append(button)
    buttons.append({"type": "button", "action_id": ACTION_NOTE, "value": str(incident.id),
                    "text": {"type": "plain_text", "text": BUTTON_LABELS[ACTION_NOTE]}})
    return buttons


def summary_heading(incident: Incident) -> str:
    return f":pushpin: *{incident.key}: {escape(incident.title)}*"


def summary(incident: Incident, model: MLModel | None, link: SlackLink | None) -> str:
    """Pinned in the incident channel."""
    model_name = model.name if model else "unknown model"
    lines = [
        summary_heading(incident),
        f"*Severity:* {incident.severity.label} · *Model:* `{model_name}` · "
        f"*Trigger:* {incident.trigger_source.value}",
        f"*Declared:* {incident.created_at:%Y-%m-%d %H:%M UTC} by {_who(incident.created_by)}",
    ]
    if incident.description:
        lines.append(f"*Description:* {escape(incident.description)}")
    if link and link.announcement_channel:
        lines.append(f"*Announcement:* <#{link.announcement_channel}>")
    lines.append("Every message here is recorded on the timeline. `/incident help` for commands.")
    return "\n".join(lines)


def topic(incident: Incident, model: MLModel | None) -> str:
    model_name = model.name if model else "?"
    return (f"{incident.severity.label} · {incident.status.value} · {model_name} · "
            f"{plain_text(incident.title)}")[:250]


def status_text(incident: Incident, model: MLModel | None, link: SlackLink | None,
                policy: Policy, now: datetime) -> str:
    model_name = model.name if model else "unknown model"
    commander = f"<@{incident.assigned_to}>" if incident.assigned_to else "unassigned"
    lines = [
        f"{STATUS_EMOJI[incident.status]} *{incident.key}* [{incident.severity.label}] "
        f"{escape(incident.title)}",
        f"Status *{incident.status.value}* · model `{model_name}` · commander {commander}",
        f"Open for {format_duration((now - incident.created_at).total_seconds())}"
        if incident.status.is_active else
        f"Resolved after {format_duration(incident.time_to_resolve())}"
        if incident.resolved_at else "",
    ]
    lines += slo_lines(incident, policy, now)
    if link and link.channel_id:
        lines.append(f"Channel: <#{link.channel_id}>")
    verbs = allowed_verbs(incident.status)
    if verbs:
        lines.append("Next: " + ", ".join(f"`{v}`" for v in verbs))
    return "\n".join(line for line in lines if line)


def timeline_text(incident: Incident, events: list[TimelineEvent]) -> str:
    lines = [f"*Timeline of {incident.key}* ({len(events)} events)"]
    for event in events:
        who = escape(event.author_name or event.author)
        body = event.body.replace("\n", " ")
        if len(body) > 300:
            body = body[:297] + "…"
        body = escape_mixed(body)  # the user's words shown, a user's <!channel> not relayed
        lines.append(f"`{event.occurred_at:%Y-%m-%d %H:%M:%S}` *{event.event_type.value}* "
                     f"{who}: {body}")
    return "\n".join(lines)[:39000]


def _who(actor_id: str) -> str:
    return f"<@{actor_id}>" if re.fullmatch(r"[UW][A-Z0-9]{2,}", actor_id) else escape(actor_id)


def home_view(user_id: str, incidents: list[tuple[Incident, MLModel | None, SlackLink | None]],
              now: datetime, notes: Mapping[uuid.UUID, list[str]] | None = None) -> dict[str, Any]:
    """The App Home tab: the incidents this user commands, then every active one.

    ``notes``: lines features add under an incident (its roles: issue 19)."""
    def line(incident: Incident, model: MLModel | None, link: SlackLink | None) -> dict[str, Any]:
        where = f" · <#{link.channel_id}>" if link and link.channel_id else ""
        commander = f"<@{incident.assigned_to}>" if incident.assigned_to else "_no commander_"
        text = (f"{STATUS_EMOJI[incident.status]} *{incident.key}* [{incident.severity.label}] "
                f"{escape(incident.title)}\n{incident.status.value} · `{model.name if model else '?'}` · "
                f"{commander} · open {format_duration((now - incident.created_at).total_seconds())}"
                f"{where}")
        text = "\n".join([text, *(notes or {}).get(incident.id, [])])
        return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}

    mine = [i for i in incidents if i[0].assigned_to == user_id]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "ML incidents"}},
        {"type": "actions", "elements": [{
            "type": "button", "action_id": ACTION_HOME_DECLARE, "style": "danger",
            "text": {"type": "plain_text", "text": "Declare an incident"}}]},
        {"type": "header", "text": {"type": "plain_text", "text": f"You command ({len(mine)})"}},
    ]
    blocks += [line(*i) for i in mine[:20]] or [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Nothing assigned to you."}]}]
    blocks.append({"type": "divider"})
    blocks.append({"type": "header", "text": {"type": "plain_text",
                                              "text": f"All active ({len(incidents)})"}})
    blocks += [line(*i) for i in incidents[:40]] or [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": ":sunny: No active incidents."}]}]
    if len(incidents) > 40:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
            f"…and {len(incidents) - 40} more: `/incident list`.")}]})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
        f"As of {hhmm(now)}; refreshed each time you open this tab.")}]})
    return {"type": "home", "blocks": blocks}

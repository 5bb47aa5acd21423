"""The message shortcuts' Slack side (issue 19 item 2): the incident picker of *Add to timeline*,
the declare form pre-filled from a message (the message's markup read as plain words), and what
the bot posts about a noted message."""

from __future__ import annotations

import json
import re
from typing import Any

from bot.slack_ui.commands import declare_modal
from bot.slack_ui.ids import CallbackId, InputId
from bot.slack_ui.mrkdwn import escape_mixed, unescape, who
from domain import text_boundary
from domain.commands import Parsed
from domain.message_shortcuts import SlackMessage
from domain.model import Actor, Incident

METADATA_MAX = 3000  # Slack's limit on a view's private_metadata
QUOTE_MAX = 1500  # how much of a message the channel echo quotes
OPTION_TEXT_MAX = 75  # a select option's text
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
TITLE_MAX = text_boundary.CAPS["title"]
DESCRIPTION_MAX = text_boundary.CAPS["description"]
# Slack's markup: <@U1>, <@U1|name>, <#C1|name>, <!here>, <!subteam^S1|@team>, <url|label>, <url>
_MARKUP = re.compile(r"<([@#!])?([^<>|]*)(?:\|([^<>]*))?>")


def plain(text: str) -> str:
    """Slack's markup as a person reads it: ``<@U1|ann>`` -> ``@ann``, ``<url|label>`` -> ``label``,
    ``<#C1|ops>`` -> ``#ops``, ``<!here>`` -> ``@here``, entities decoded (for a form's field)."""

    def readable(m: re.Match[str]) -> str:
        sigil, target, label = m.group(1), m.group(2), m.group(3)
        if sigil == "!":
            return label or "@" + target.split("^")[0]
        if sigil in ("@", "#"):
            return (label if label and label[:1] in "@#" else sigil + (label or target))
        return label or target

    text = _MARKUP.sub(readable, text)
    return unescape(text)


def title_from(text: str) -> str:
    """A declare form's title from a message: its first line with words, markup read as
    plain text, spaces collapsed, cut to the title's limit."""
    for line in plain(text).splitlines():
        words = " ".join(line.split())
        if words:
            return words if len(words) <= TITLE_MAX else words[:TITLE_MAX - 1].rstrip() + "…"
    return ""


def description_from(text: str) -> str:
    """The declare form's description: the message's words, within the description's limit."""
    words = plain(text).strip()
    return words if len(words) <= DESCRIPTION_MAX else words[:DESCRIPTION_MAX - 1].rstrip() + "…"


def quote(text: str, limit: int = QUOTE_MAX) -> str:
    """The message's words as a Slack quote (every line), mentions live, ``<!channel>`` not."""
    text = text.strip()
    if len(text) > limit:
        text = text[:limit - 1].rstrip() + "…"
    return "\n".join(f">{line}" for line in escape_mixed(text).splitlines())


def _link(message: SlackMessage, label: str) -> str:
    if not message.permalink:
        return label
    url = message.permalink.replace("|", "%7C").replace(">", "%3E")
    return f"<{url}|{label}>"


def author_mention(message: SlackMessage) -> str:
    """The author as Slack shows them: a live mention for a user, else the bot's name."""
    return (f"<@{message.author}>" if _USER_ID.fullmatch(message.author)
            else (message.author or "someone"))


def _where(message: SlackMessage) -> str:
    return f"{author_mention(message)} in <#{message.channel}>"


class ShortcutTexts:
    """``domain.message_shortcuts.MessageNoteTexts``: the incident channel's posts."""

    def added(self, incident: Incident, message: SlackMessage, actor: Actor) -> str:
        return (f":memo: {who(actor)} added {_link(message, 'a message')} by {_where(message)} "
                f"to {incident.key}'s timeline:\n{quote(message.text)}")

    def declared_from(self, incident: Incident, message: SlackMessage) -> str:
        head = (f":link: {incident.key} was declared from {_link(message, 'this message')} "
                f"by {_where(message)}")
        return f"{head}:\n{quote(message.text)}" if message.has_text else head + "."

    def note(self, message: SlackMessage) -> str:
        body = _where(message)
        body += f": {message.text.strip()}" if message.has_text else ""
        return f"{body}\n{message.permalink}" if message.permalink else body

    def no_active_incident(self) -> str:
        return ("There is no active incident to add that message to. Declare one from the "
                "message (its *Declare incident* shortcut) or with `/incident declare`.")


def metadata(data: dict[str, Any], message: SlackMessage) -> str:
    """``data`` and the message as a view's private_metadata, the message's text cut so the
    whole stays within Slack's 3000 characters (the rest of a very long message is lost)."""
    fields = {"channel": message.channel, "ts": message.ts, "author": message.author,
              "thread_ts": message.thread_ts, "permalink": message.permalink}
    text = message.text
    while True:
        encoded = json.dumps({**data, "message": {**fields, "text": text}}, ensure_ascii=False)
        if len(encoded) <= METADATA_MAX or not text:
            return encoded
        text = text[:max(0, len(text) - (len(encoded) - METADATA_MAX) - 1)].rstrip() + "…"
        if len(text) <= 1:
            text = ""


def message_from(data: Any) -> SlackMessage | None:
    """The message a view's private_metadata carries (None when it carries none, or a bad one)."""
    if not isinstance(data, dict) or not isinstance(data.get("message"), dict):
        return None
    raw = data["message"]
    parts = [raw.get(k) for k in ("channel", "ts", "author", "text")]
    optional = [raw.get(k) for k in ("thread_ts", "permalink")]
    if not all(isinstance(p, str) for p in parts) or not all(
            p is None or isinstance(p, str) for p in optional) or not parts[0] or not parts[1]:
        return None
    return SlackMessage(parts[0], parts[1], parts[2], parts[3], optional[0], optional[1])


def _option(incident: Incident, private_label: str) -> dict[str, Any]:
    """``INC-4 [SEV-2] title``; a private incident's title is not shown to whoever picks."""
    private = private_label.lower() in (label.lower() for label in incident.labels)
    title = "(private incident)" if private else incident.title
    text = f"{incident.key} [{incident.severity.label}] {title}"
    if len(text) > OPTION_TEXT_MAX:
        text = text[:OPTION_TEXT_MAX - 1].rstrip() + "…"
    return {"text": {"type": "plain_text", "text": text}, "value": str(incident.id)}


def pick_incident_modal(choices: list[Incident], message: SlackMessage, response_url: str | None,
                        private_label: str) -> dict[str, Any]:
    """*Add to timeline* outside an incident: which active incident gets the message."""
    preview = f"A message by {_where(message)}:\n{quote(message.text, 500)}"
    return {
        "type": "modal", "callback_id": CallbackId.PICK_INCIDENT,
        "private_metadata": metadata({"response_url": response_url}, message),
        "title": {"type": "plain_text", "text": "Add to timeline"},
        "submit": {"type": "plain_text", "text": "Add"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": preview}},
            {"type": "input", "block_id": InputId.INCIDENT,
             "label": {"type": "plain_text", "text": "Incident"},
             "element": {"type": "static_select", "action_id": InputId.INCIDENT,
                         "placeholder": {"type": "plain_text", "text": "Pick the incident"},
                         "options": [_option(i, private_label) for i in choices[:100]]}},
        ],
    }


def declare_from_message_modal(message: SlackMessage, model_names: list[str]) -> dict[str, Any]:
    """The declare form (the one ``/incident declare`` opens), pre-filled from the message:
    its first line as the title, its words as the description, the message as the trigger
    (in private_metadata, read back by the form's listener) and linked at the top."""
    view = declare_modal(Parsed(verb="declare", title=title_from(message.text) or None),
                         model_names, message.channel)
    description = description_from(message.text)
    for block in view["blocks"]:
        if block.get("block_id") == "description" and description:
            block["element"]["initial_value"] = description
    view["blocks"].insert(0, {"type": "context", "elements": [{"type": "mrkdwn", "text": (
        f"Declaring from {_link(message, 'a message')} by {_where(message)}; "
        "the new incident links it.")}]})
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        data = {}
    view["private_metadata"] = metadata(data if isinstance(data, dict) else {}, message)
    return view


def added_reply(key: str) -> str:
    return f":memo: Added to {key}'s timeline."


def refused(reason: str) -> str:
    return f":warning: {reason}"


NO_MESSAGE = (":warning: Slack sent no message with that shortcut; use it from a message's "
              "*More actions* menu.")
NO_PICK = "Pick the incident the message belongs to."

"""Slack mrkdwn primitives every ``bot/slack_ui`` renderer shares: escaping outside text, a
person as a live mention, a status as an emoji; and the reverse for what users type: a mention
(``<@U1|bob>``) read as the user id the domain takes, Slack's entities decoded.

They were in ``domain/messages.py``; the domain speaks in plain words and leaves markup to the
renderers (issue 13).
"""

from __future__ import annotations

import re

from domain.model import Actor, Status

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


def mention_of(user_id: str) -> str:
    """A Slack user id as a live mention."""
    return f"<@{user_id}>"


def mention(actor: Actor) -> str:
    """A Slack user as a live mention; anyone else by name, as given."""
    return mention_of(actor.id) if actor.is_slack_user else actor.name


def who(actor: Actor) -> str:
    """A Slack user as a live mention; anyone else (PagerDuty, a CLI user) by escaped name."""
    return mention_of(actor.id) if actor.is_slack_user else escape(actor.name)


# A user mention as Slack sends it in a command's text (``should_escape: true`` in manifest.yml):
# ``<@U123>`` or ``<@U123|name>``.
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


def mentioned_user(word: str) -> str | None:
    """The user id a word of a command mentions (``<@U1|bob>`` -> ``U1``), or None: the
    ``domain.commands.UserReader`` the Slack edge gives the domain's parsers."""
    match = _MENTION.match(word)
    return match.group(1) if match else None


def unescape(text: str) -> str:
    """Slack's escaping of a message's text undone (``&lt;`` ``&gt;`` ``&amp;``)."""
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    return text

"""Parsing of ``/incident`` texts into typed commands. Pure, total: never raises on any text.

How the chat writes a person is the edge's to read: the parsers take a :data:`UserReader`
(Slack's, ``bot.slack_ui.mrkdwn.mentioned_user``, reads ``<@U123|name>``) and get user ids.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from domain.model import InvalidSeverity, Severity

_NUMBER_RE = re.compile(r"(?i)^(?:inc-?|#)?(\d{1,9})$")
_SEVERITY_LIKE = re.compile(r"(?i)^(?:p|sev[-_]?)\d+$")
# `declare --private` (issue 19 item 8); Slack clients may turn "--" into an em dash
PRIVATE_FLAGS = ("--private", "\u2014private")

# The user id a word of a command names (in Slack, a mention), or None when it names no one.
UserReader = Callable[[str], str | None]


def no_users(word: str) -> str | None:
    """A :data:`UserReader` for callers without a chat: no word names a user."""
    return None


@dataclass(frozen=True)
class Grammar:
    """The verbs the parser accepts and the aliases it maps to them, and how a user is named
    (``user``). The running bot passes its verb table's (``handlers.verbs.VerbTable.grammar``,
    with Slack's mentions), so feature verbs are known exactly when their feature is installed;
    every verb other than ``declare`` gets an optional incident number and ``rest``."""

    verbs: tuple[str, ...]
    aliases: dict[str, str] = field(default_factory=dict)
    user: UserReader = no_users


# The core verbs, for callers without a verb table (the App Home, unit tests); handlers'
# core registrations must match (tests/unit/handlers/test_verbs.py checks it).
CORE_GRAMMAR = Grammar(
    verbs=("declare", "ack", "mitigate", "resolve", "reopen", "close", "note", "assign",
           "severity", "status", "list", "timeline", "models", "help"),
    aliases={"acknowledge": "ack", "sev": "severity", "notes": "note", "ls": "list",
             "show": "status", "?": "help", "open": "declare", "new": "declare",
             "ic": "assign", "commander": "assign"})


@dataclass
class Parsed:
    verb: str
    number: int | None = None
    rest: str = ""
    severity: Severity | None = None
    model: str | None = None
    title: str | None = None
    user_id: str | None = None
    error: str | None = None
    missing: list[str] = field(default_factory=list)
    private: bool = False  # `declare --private`


def parse(text: str, grammar: Grammar = CORE_GRAMMAR) -> Parsed:
    """Parse the text after ``/incident``; errors are carried in ``Parsed.error``."""
    text = (text or "").replace("\u00a0", " ").strip()
    if not text:
        return Parsed(verb="help")
    head, _, tail = text.partition(" ")
    verb = head.lower()
    verb = grammar.aliases.get(verb, verb)
    tail = tail.strip()
    if verb == "declare":
        return _parse_declare(tail)
    if verb not in grammar.verbs:
        known = ", ".join(f"`{v}`" for v in grammar.verbs)
        return Parsed(verb="unknown", rest=text,
                      error=f"Unknown command `{head[:40]}`. Known commands: {known}. "
                            "Try `/incident help`.")
    number, tail = _take_number(tail)
    parsed = Parsed(verb=verb, number=number, rest=tail)
    if verb == "note" and not tail:
        parsed.error = "Say what to note: `/incident note <text>`."
    elif verb == "assign":
        parsed.user_id = grammar.user(tail.split(" ")[0]) if tail else None
        if parsed.user_id is None:
            parsed.error = ("Mention the new Incident Commander: `/incident assign @user` "
                            "(pick the user from Slack's @ list so it becomes a link).")
    elif verb == "severity":
        try:
            parsed.severity = Severity.parse(tail.split(" ")[0]) if tail else None
        except InvalidSeverity as exc:
            parsed.error = str(exc)
        if parsed.severity is None and not parsed.error:
            parsed.error = "Give the new severity: `/incident severity P2` (P1..P4)."
    return parsed


def _take_number(tail: str) -> tuple[int | None, str]:
    first, _, rest = tail.partition(" ")
    match = _NUMBER_RE.match(first)
    if match:
        return int(match.group(1)), rest.strip()
    return None, tail


def _parse_declare(tail: str) -> Parsed:
    parsed = Parsed(verb="declare")
    tokens = tail.split()
    parsed.private = any(t.lower() in PRIVATE_FLAGS for t in tokens)
    tokens = [t for t in tokens if t.lower() not in PRIVATE_FLAGS]
    if tokens and _SEVERITY_LIKE.match(tokens[0]):
        try:
            parsed.severity = Severity.parse(tokens.pop(0))
        except InvalidSeverity as exc:
            parsed.error = str(exc)
            return parsed
    if tokens:
        parsed.model = tokens.pop(0)
    if tokens:
        parsed.title = " ".join(tokens)[:500]
    parsed.missing = [name for name, value in
                      (("severity", parsed.severity), ("model", parsed.model),
                       ("title", parsed.title)) if value is None]
    return parsed

"""Parsing of ``/incident`` texts into typed commands. Pure, total: never raises on any text.

Slack sends user mentions escaped as ``<@U123|name>`` when the command is declared with
``should_escape: true`` (see manifest.yml).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from domain.model import InvalidSeverity, Severity

_NUMBER_RE = re.compile(r"(?i)^(?:inc-?|#)?(\d{1,9})$")
_MENTION_RE = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|([^>]*))?>$")
_SEVERITY_LIKE = re.compile(r"(?i)^(?:p|sev[-_]?)\d+$")

STATUS_VERBS = {"ack", "acknowledge", "mitigate", "resolve", "reopen", "close"}
VERB_ALIASES = {"acknowledge": "ack", "sev": "severity", "notes": "note", "ls": "list",
                "show": "status", "?": "help", "open": "declare", "new": "declare",
                "declare": "declare", "ic": "assign", "commander": "assign"}
CORE_VERBS = ("declare", "ack", "mitigate", "resolve", "reopen", "close", "note", "assign",
              "severity", "status", "list", "timeline", "models", "help")
# Verbs served by feature modules (handlers registered in ``SlackContext.extensions["commands"]``);
# each maps to its line in the help text. The parser gives them ``number`` and ``rest``.
FEATURE_VERBS: dict[str, str] = {
    "update": "`/incident update <text>`: post a stakeholder update (resets the update cadence)",
    "runbook": "`/incident runbook`: show the matched runbook and its checklist",
    "postmortem": "`/incident postmortem`: draft the postmortem from the timeline | "
                  "`postmortem factors <text>`: record the contributing factors (needed to close)",
    "drift": "`/incident drift <model>`: run the drift checks for a model now",
    "action": "`/incident action add \"text\" owner:@user due:YYYY-MM-DD severity:p2 ticket:JIRA-1` "
              "| `action list` | `action done <n>`: postmortem action items",
}
KNOWN_VERBS = CORE_VERBS + tuple(FEATURE_VERBS)

HELP_TEXT = """*`/incident` commands*
• `/incident declare P1 credit-risk-v3 Null predictions since 14:02`: declare at once
• `/incident declare`: open the declare form
• `/incident ack | mitigate | resolve [reason] | reopen [reason] | close`: change status
• `/incident note <text>`: add a timeline note
• `/incident assign @user`: set the Incident Commander
• `/incident severity P2`: change severity
• `/incident status | timeline`: show this incident / its timeline
• `/incident list`: open incidents · `/incident models`: registered models
Inside an incident channel the incident is implied; elsewhere give its number first:
`/incident resolve 42 fixed by rollback`.
Severity: P1..P4 (also p1, sev1, SEV-1).
""" + "\n".join(f"• {line}" for line in FEATURE_VERBS.values())


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


def parse(text: str) -> Parsed:
    """Parse the text after ``/incident``; errors are carried in ``Parsed.error``."""
    text = (text or "").replace("\u00a0", " ").strip()
    if not text:
        return Parsed(verb="help")
    head, _, tail = text.partition(" ")
    verb = head.lower()
    verb = VERB_ALIASES.get(verb, verb)
    tail = tail.strip()
    if verb == "declare":
        return _parse_declare(tail)
    if verb not in KNOWN_VERBS:
        known = ", ".join(f"`{v}`" for v in KNOWN_VERBS)
        return Parsed(verb="unknown", rest=text,
                      error=f"Unknown command `{head[:40]}`. Known commands: {known}. "
                            "Try `/incident help`.")
    number, tail = _take_number(tail)
    parsed = Parsed(verb=verb, number=number, rest=tail)
    if verb == "note" and not tail:
        parsed.error = "Say what to note: `/incident note <text>`."
    elif verb == "assign":
        match = _MENTION_RE.match(tail.split(" ")[0]) if tail else None
        if not match:
            parsed.error = ("Mention the new Incident Commander: `/incident assign @user` "
                            "(pick the user from Slack's @ list so it becomes a link).")
        else:
            parsed.user_id = match.group(1)
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

"""Postmortem action items (GOV-001 section 8): parsed from ``/incident action add ...``. Pure.

Every action item carries an owner, a due date, a severity and a ticket reference::

    /incident action add "Alert on null rate" owner:@dana due:2026-12-01 severity:p2 ticket:JIRA-123
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from datetime import date

from domain.commands import UserReader
from domain.model import DomainError, InvalidSeverity, Severity
from domain.text_boundary import clean

_TICKET = re.compile(r"^[A-Za-z][A-Za-z0-9_]*-\d+$|^https?://\S+$")
USAGE = ('`/incident action add "what to do" owner:@user due:YYYY-MM-DD severity:p2 ticket:JIRA-123`, '
         "`/incident action list`, `/incident action done <n>`")


@dataclass(frozen=True)
class ActionItem:
    text: str
    owner: str  # Slack user id
    due: date
    severity: Severity
    ticket: str


def parse_action(text: str, today: date, user: UserReader) -> ActionItem:
    """Parse the part after ``action add``; a :class:`DomainError` names every missing piece.
    ``owner:`` is a word ``user`` reads as a user id (in Slack, a mention)."""
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise DomainError(f"Could not read that action item ({exc}). Use {USAGE}.") from None
    fields: dict[str, str] = {}
    words: list[str] = []
    for token in tokens:
        key, sep, value = token.partition(":")
        if sep and key.lower() in ("owner", "due", "severity", "ticket") and value:
            fields[key.lower()] = value
        else:
            words.append(token)
    problems = [f"`{k}:`" for k in ("owner", "due", "severity", "ticket") if k not in fields]
    if not words:
        problems.insert(0, "the action itself (in quotes)")
    if problems:
        raise DomainError(f"An action item needs {', '.join(problems)}. Use {USAGE}.")
    owner = user(fields["owner"])
    if owner is None:
        raise DomainError("`owner:` must be a Slack mention, e.g. `owner:@dana` picked from the @ list.")
    try:
        due = date.fromisoformat(fields["due"])
    except ValueError:
        raise DomainError(f"`due:{fields['due']}` is not a date; use YYYY-MM-DD.") from None
    if due < today:
        raise DomainError(f"`due:{due}` is in the past.")
    try:
        severity = Severity.parse(fields["severity"])
    except InvalidSeverity as exc:
        raise DomainError(str(exc)) from None
    if not _TICKET.match(fields["ticket"]):
        raise DomainError(f"`ticket:{fields['ticket']}` is not a ticket reference (e.g. JIRA-123 or a URL).")
    return ActionItem(clean(" ".join(words), "action"), owner, due, severity,
                      clean(fields["ticket"], "title"))

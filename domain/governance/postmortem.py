"""The facts a blameless postmortem draft (GOV-001 section 8) is made of: the incident, its
timeline and its action items, and whether a section says something.

The draft itself is a chat document (Markdown, owners mentioned): ``bot/slack_ui/
postmortem_template.py`` renders it, through the ``DraftRenderer`` of ``domain/postmortems.py``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

# What people type when they have nothing to say yet; not an analysis.
# Punctuation and list bullets around the word change nothing ("TBD.", "- _to be filled in_",
# the draft's own placeholder).
_NOT_CONTENT = re.compile(
    r"(?i)[\s\-*•.:;,!?]*(_?to be filled in_?|tbd|tba|todo|n/?a|none)?[\s\-*•.:;,!?]*")


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    text: str
    key: bool = False  # marked key in the chat (reaction or pin): also listed under "Key moments"


@dataclass(frozen=True)
class IncidentFacts:
    number: int
    title: str
    severity: str
    model: str | None
    description: str | None
    declared_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None


@dataclass(frozen=True)
class ActionItemRow:
    """One recorded action item (GOV-001 section 8: owner, due date, severity, ticket)."""

    number: int
    text: str
    owner: str
    due: date
    severity: str
    ticket: str
    done: bool = False


def is_real_content(text: str | None) -> bool:
    """True when a postmortem section says something: not blank, not a placeholder or "TBD"."""
    return bool(text) and not _NOT_CONTENT.fullmatch(text or "")

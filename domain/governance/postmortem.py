"""Blameless postmortem draft (GOV-001 section 8) generated from an incident and its timeline."""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

PLACEHOLDER = "_to be filled in_"
# What people type when they have nothing to say yet; not an analysis.
# Punctuation and list bullets around the word change nothing ("TBD.", "- _to be filled in_").
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


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _dur(start: datetime, end: datetime | None) -> str:
    if end is None:
        return "n/a"
    secs = int((end - start) / timedelta(seconds=1))
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def _key_moments(timeline: Sequence[TimelineEntry]) -> list[str]:
    """The notes marked key, first in the draft (issue 19); nothing when none is."""
    key = sorted((e for e in timeline if e.key), key=lambda e: e.at)
    if not key:
        return []
    return ["## Key moments", *(f"- {e.at.strftime('%Y-%m-%d %H:%M:%S')} — {e.text}" for e in key), ""]


def postmortem_markdown(inc: IncidentFacts, timeline: Sequence[TimelineEntry],
                        action_items: Sequence[ActionItemRow] = (),
                        contributing_factors: str | None = None) -> str:
    """Render summary, impact, timeline with UTC times, SLO figures, the contributing factors and
    the action items recorded so far (placeholders only where nothing was recorded)."""
    lines = [
        f"# Postmortem: incident #{inc.number} — {inc.title}",
        "",
        "_Blameless format: describe systems and decisions, not people._",
        "",
        *_key_moments(timeline),
        "## Summary",
        f"{inc.severity} incident on model `{inc.model or 'n/a'}`: {inc.description or inc.title}",
        "",
        "## Impact",
        f"- Severity: {inc.severity}",
        f"- Model: {inc.model or 'n/a'}",
        f"- Duration (declared to resolved): {_dur(inc.declared_at, inc.resolved_at)}",
        "",
        "## SLO figures",
        "| measure | value |",
        "|---|---|",
        f"| time to acknowledge | {_dur(inc.declared_at, inc.acknowledged_at)} |",
        f"| time to mitigate | {_dur(inc.declared_at, inc.mitigated_at)} |",
        f"| time to resolve | {_dur(inc.declared_at, inc.resolved_at)} |",
        "",
        "## Timeline (UTC)",
    ]
    for e in sorted(timeline, key=lambda e: e.at):
        lines.append(f"- {e.at.strftime('%Y-%m-%d %H:%M:%S')} — {e.kind}: {e.text}")
    factors = contributing_factors if is_real_content(contributing_factors) else f"- {PLACEHOLDER}"
    lines += ["", "## Contributing factors", str(factors), "",
              "## Action items", "| action | owner | due | severity | ticket |", "|---|---|---|---|---|"]
    for item in sorted(action_items, key=lambda i: i.number):
        text = f"~~{_cell(item.text)}~~ (done)" if item.done else _cell(item.text)
        lines.append(f"| {item.number}. {text} | <@{item.owner}> | {item.due.isoformat()} | "
                     f"{item.severity.upper()} | {_cell(item.ticket)} |")
    if not action_items:
        lines.append(f"| {PLACEHOLDER} | | | | |")
    lines.append("")
    return "\n".join(lines)

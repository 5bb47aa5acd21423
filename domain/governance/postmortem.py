"""Blameless postmortem draft (GOV-001 section 8) generated from an incident and its timeline."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    text: str


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


def _dur(start: datetime, end: datetime | None) -> str:
    if end is None:
        return "n/a"
    secs = int((end - start) / timedelta(seconds=1))
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def postmortem_markdown(inc: IncidentFacts, timeline: Sequence[TimelineEntry]) -> str:
    """Render summary, impact, timeline with UTC times, SLO figures and the blank analysis sections."""
    lines = [
        f"# Postmortem: incident #{inc.number} — {inc.title}",
        "",
        "_Blameless format: describe systems and decisions, not people._",
        "",
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
    lines += ["", "## Contributing factors", "- _to be filled in_", "",
              "## Action items", "| action | owner | due | severity | ticket |", "|---|---|---|---|---|",
              "| _to be filled in_ | | | | |", ""]
    return "\n".join(lines)

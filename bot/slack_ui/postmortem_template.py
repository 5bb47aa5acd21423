"""The postmortem draft: the built-in Markdown (:func:`postmortem_markdown`, owners as Slack
mentions), and the same from a Jinja2 template the organisation can own (issue 21).

``POSTMORTEM_TEMPLATE`` names a template file; unset, the shipped ``postmortem_draft.md`` (Jinja2)
renders the built-in layout exactly (tests/unit/bot/slack_ui/test_postmortem_template.py holds the
two equal).
The template sees the same facts as the built-in renderer, plus the tracker tickets of the
action items (``tickets``), which the default shows beside the reference given in Slack.

A template that does not parse, or that names something the renderer does not pass, is refused
when it is loaded (at start-up), naming the file and the line.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import jinja2

from domain.governance.postmortem import (
    ActionItemRow,
    IncidentFacts,
    TimelineEntry,
    is_real_content,
)

PLACEHOLDER = "_to be filled in_"  # what the draft shows where nothing was recorded yet
DEFAULT_TEMPLATE = Path(__file__).resolve().parent / "postmortem_draft.md"  # packaged as *.md


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


async def markdown_draft(facts: IncidentFacts, timeline: Sequence[TimelineEntry],
                         items: Sequence[ActionItemRow], factors: str | None,
                         incident_id: uuid.UUID) -> str:
    """:func:`postmortem_markdown` as the postmortem use cases' ``DraftRenderer`` (the insights
    feature replaces it with the template, which links the tracker tickets)."""
    return postmortem_markdown(facts, timeline, items, factors)


@dataclass(frozen=True)
class TicketLink:
    key: str
    url: str


class TemplateProblem(ValueError):
    """The template cannot be used; the message names the file and the line."""


class PostmortemTemplate:
    """One loaded template; :meth:`render` is called for every draft."""

    def __init__(self, source: str, name: str = "<template>") -> None:
        self.name = name
        # The draft is Markdown, not HTML: HTML escaping would mangle it (user text in it is
        # escaped for Slack by the renderer's own filters). HTML/XML templates would be escaped.
        env = jinja2.Environment(
            autoescape=jinja2.select_autoescape(enabled_extensions=("html", "htm", "xml"),
                                                default_for_string=False, default=False),
            trim_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
        try:
            self.template = env.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateProblem(f"{name}:{exc.lineno}: {exc.message}") from None

    @classmethod
    def load(cls, path: str | Path | None = None) -> PostmortemTemplate:
        """The template at ``path`` (POSTMORTEM_TEMPLATE), or the shipped default."""
        file = Path(path) if path else DEFAULT_TEMPLATE
        try:
            source = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateProblem(f"POSTMORTEM_TEMPLATE {file}: cannot read it: {exc}") from None
        template = cls(source, str(file))
        template.check()
        return template

    def check(self) -> None:
        """Render a sample draft: a name the renderer does not pass fails now, not at the
        first postmortem."""
        from datetime import UTC, date, datetime

        at = datetime(2026, 1, 1, tzinfo=UTC)
        sample = IncidentFacts(1, "sample", "SEV-2", "model", None, at, at, at, at)
        item = ActionItemRow(1, "sample", "U0SAMPLE", date(2026, 1, 2), "p2", "OPS-1")
        self.render(sample, [TimelineEntry(at, "note", "sample")], [item], "sample",
                    tickets={1: TicketLink("OPS-1", "https://tracker.example/OPS-1")})

    def render(self, inc: IncidentFacts, timeline: Sequence[TimelineEntry],
               action_items: Sequence[ActionItemRow] = (), contributing_factors: str | None = None,
               *, tickets: Mapping[int, TicketLink] | None = None) -> str:
        links = dict(tickets or {})

        def ticket(item: ActionItemRow) -> str:
            link = links.get(item.number)
            given = _cell(item.ticket)
            return f"{given} · [{_cell(link.key)}]({link.url})" if link else given

        factors = contributing_factors if is_real_content(contributing_factors) else f"- {PLACEHOLDER}"
        try:
            return self.template.render(
                inc=inc, timeline=sorted(timeline, key=lambda e: e.at),
                action_items=sorted(action_items, key=lambda i: i.number), factors=str(factors),
                tickets=links, dur=_dur, cell=_cell, ticket=ticket, placeholder=PLACEHOLDER)
        except jinja2.UndefinedError as exc:
            raise TemplateProblem(f"{self.name}: {exc.message}") from None

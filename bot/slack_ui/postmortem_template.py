"""The postmortem draft from a Jinja2 template the organisation can own (issue 21).

``POSTMORTEM_TEMPLATE`` names a template file; unset, the shipped ``postmortem_draft.md`` (Jinja2)
renders today's layout exactly (tests/unit/bot/slack_ui/test_postmortem_template.py holds the two equal).
The template sees the same facts as the built-in renderer, plus the tracker tickets of the
action items (``tickets``), which the default shows beside the reference given in Slack.

A template that does not parse, or that names something the renderer does not pass, is refused
when it is loaded (at start-up), naming the file and the line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2

from domain.governance.postmortem import (
    PLACEHOLDER,
    ActionItemRow,
    IncidentFacts,
    TimelineEntry,
    _cell,
    _dur,
    is_real_content,
)

DEFAULT_TEMPLATE = Path(__file__).resolve().parent / "postmortem_draft.md"  # packaged as *.md


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

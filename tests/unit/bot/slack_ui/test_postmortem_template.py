"""POSTMORTEM_TEMPLATE (issue 21): the shipped Jinja2 template renders exactly today's draft
(postmortem_markdown, beside it), and an organisation's own template is used,
with the action items' tracker tickets linked."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.slack_ui.postmortem_template import (
    PostmortemTemplate,
    TemplateProblem,
    TicketLink,
    postmortem_markdown,
)
from domain.governance.postmortem import ActionItemRow, IncidentFacts, TimelineEntry

T = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
DEFAULT = PostmortemTemplate.load()
FACTS = IncidentFacts(7, "Null predictions", "SEV-1", "credit-risk-v3", "Scores were null", T,
                      T + timedelta(minutes=3), T + timedelta(minutes=25), T + timedelta(hours=2, seconds=5))
TIMELINE = [TimelineEntry(T + timedelta(minutes=25), "status_change", "mitigated"),
            TimelineEntry(T, "status_change", "declared | SEV-1")]
ITEMS = [ActionItemRow(2, "Backfill | scores", "U0DANA", date(2026, 12, 1), "p2", "JIRA-9", done=True),
         ActionItemRow(1, "Alert on null rate\nfor every model", "U0ERIN", date(2026, 12, 5), "p1", "OPS-3")]


@pytest.mark.parametrize(("facts", "timeline", "items", "factors"), [
    (FACTS, TIMELINE, ITEMS, "A release skipped the null check"),
    (FACTS, [], [], None),
    (IncidentFacts(1, "t", "SEV-4", None, None, T, None, None, None), [], [], "TBD"),
    (FACTS, TIMELINE, ITEMS[:1], "line one\nline two"),
])
def test_the_default_template_is_todays_layout(facts: IncidentFacts, timeline: list[TimelineEntry],
                                               items: list[ActionItemRow], factors: str | None) -> None:
    assert DEFAULT.render(facts, timeline, items, factors) == postmortem_markdown(
        facts, timeline, items, factors)


texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)


@given(title=texts, description=st.none() | texts, text=texts, ticket=texts, factors=st.none() | texts,
       minutes=st.none() | st.integers(0, 10_000), done=st.booleans())
def test_the_default_template_matches_on_any_text(title: str, description: str | None, text: str,
                                                  ticket: str, factors: str | None,
                                                  minutes: int | None, done: bool) -> None:
    resolved = None if minutes is None else T + timedelta(minutes=minutes)
    facts = IncidentFacts(3, title, "SEV-2", "m", description, T, resolved, resolved, resolved)
    items = [ActionItemRow(1, text, "U0X", date(2026, 12, 1), "p3", ticket, done)]
    timeline = [TimelineEntry(T, "note", text)]
    assert DEFAULT.render(facts, timeline, items, factors) == postmortem_markdown(
        facts, timeline, items, factors)


def test_tracker_tickets_are_linked_beside_the_given_reference() -> None:
    draft = DEFAULT.render(FACTS, TIMELINE, ITEMS, "x",
                           tickets={1: TicketLink("OPS-12", "https://acme.atlassian.net/browse/OPS-12")})
    assert "| P1 | OPS-3 · [OPS-12](https://acme.atlassian.net/browse/OPS-12) |" in draft
    assert "| P2 | JIRA-9 |" in draft  # no ticket filed for item 2


def test_an_organisations_own_template(tmp_path: Path) -> None:
    own = tmp_path / "pm.md.j2"
    own.write_text("# {{ inc.title }} ({{ inc.severity }})\n{% for i in action_items %}"
                   "- {{ i.text }}: {{ ticket(i) }}\n{% endfor %}", encoding="utf-8")
    draft = PostmortemTemplate.load(own).render(FACTS, [], ITEMS, None,
                                                tickets={2: TicketLink("ML-4", "https://linear.app/x/ML-4")})
    assert draft == ("# Null predictions (SEV-1)\n- Alert on null rate\nfor every model: OPS-3\n"
                     "- Backfill | scores: JIRA-9 · [ML-4](https://linear.app/x/ML-4)\n")


def test_a_broken_template_is_refused_at_load_naming_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.j2"
    broken.write_text("# {{ inc.title }}\n{% for x in %}\n", encoding="utf-8")
    with pytest.raises(TemplateProblem, match=rf"{broken}:2: "):
        PostmortemTemplate.load(broken)
    unknown = tmp_path / "unknown.j2"
    unknown.write_text("{{ incident.title }}", encoding="utf-8")
    with pytest.raises(TemplateProblem, match="'incident' is undefined"):
        PostmortemTemplate.load(unknown)
    with pytest.raises(TemplateProblem, match="cannot read it"):
        PostmortemTemplate.load(tmp_path / "missing.j2")

"""The Slack wording of postmortems and action items (``bot/slack_ui/postmortems.py``), pinned
once here; the end-to-end tests build these texts with the renderer."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.slack_ui.postmortems import PostmortemTexts, draft_posted
from tests.unit.bot.slack_ui.samples import incident

DUE = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)


def test_required_names_the_commander_or_the_role() -> None:
    texts = PostmortemTexts()
    assert texts.required(incident(1, assigned_to="U0DANA"), DUE) == (
        ":page_facing_up: <@U0DANA>: a postmortem is required for *INC-1* (SEV-2) by "
        "2026-12-02 14:00 UTC. Draft it with `/incident postmortem` and record action items with "
        "`/incident action add ...`; the incident can be closed once both exist.")
    assert texts.required(incident(1), None).startswith(
        ":page_facing_up: Incident Commander: a postmortem is required for *INC-1* (SEV-2). Draft")


def test_waived_for_a_duplicate() -> None:
    assert PostmortemTexts().waived(incident(2), incident(1)) == (
        ":page_facing_up: No postmortem of its own for *INC-2*: it is a duplicate of *INC-1*, "
        "whose postmortem covers it; it can be closed as it is.")


def test_overdue_says_what_is_missing() -> None:
    texts = PostmortemTexts()
    assert texts.overdue(incident(1, assigned_to="U0DANA"), DUE, has_draft=False) == (
        ":alarm_clock: <@U0DANA>: the postmortem of *INC-1* was due 2026-12-02 14:00 UTC and is "
        "not done yet: it has no draft. Run `/incident postmortem`.")
    assert texts.overdue(incident(1), DUE, has_draft=True).endswith(
        "not done yet: its draft has no contributing factors. Record them with "
        "`/incident postmortem factors ...` and post the draft again.")


def test_draft_posted() -> None:
    assert draft_posted("INC-1", has_factors=True) == (
        ":page_facing_up: Postmortem draft for *INC-1* posted to the channel.")
    assert draft_posted("INC-1", has_factors=False) == (
        ":page_facing_up: Postmortem draft for *INC-1* posted to the channel. It has no "
        "contributing factors yet: record them with `/incident postmortem factors <what made "
        "this possible>`, then post the draft again.")

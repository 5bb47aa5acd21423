"""The Slack wording of the insights (``bot/slack_ui/insights.py``): the ``/incident stats``
reply and the weekly digest, pinned once here; their figures are specified in
``tests/unit/domain/test_insights.py``."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bot.slack_ui.insights import digest_text, stats_text
from domain.insights import Followups, OverdueAction, Report

NOW = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)


def empty(days: int) -> Report:
    return Report(since=NOW - timedelta(days=days), until=NOW, as_of=NOW, policy_name="GOV-001",
                  groups=[])


def test_stats_of_a_window_without_incidents() -> None:
    assert stats_text(empty(30), timedelta(days=30)) == (
        "*Incidents in the last 30d* (2026-10-23 14:00 to 2026-11-22 14:00 UTC, policy GOV-001)\n"
        "No incidents were declared in this period.")


def test_a_quiet_weeks_digest_still_lists_the_overdue_action_items() -> None:
    followups = Followups([], [OverdueAction(3, 1, "Fix <!channel> alerts", "U0DANA",
                                             date(2026, 11, 1), "OPS-1")])
    assert digest_text(empty(7), empty(14), followups) == (
        ":bar_chart: *Weekly incident digest* (2026-11-15 to 2026-11-22)\n"
        "No incidents this week (the week before: 0).\n"
        "*Overdue action items*\n"
        "• INC-3 #1 Fix &lt;!channel&gt; alerts: <@U0DANA>, due 2026-11-01 (OPS-1)")
    assert digest_text(empty(7), empty(14), Followups([], [])).endswith(
        "\nNo overdue postmortems or action items. :tada:")

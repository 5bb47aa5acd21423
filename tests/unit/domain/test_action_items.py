"""``/incident action add ...`` parsed (domain/action_items.py): every piece named, the owner a
user as the chat names one (Slack's mention, read at the edge by ``mentioned_user``)."""

from __future__ import annotations

from datetime import date

import pytest

from bot.slack_ui.mrkdwn import mentioned_user
from domain.action_items import parse_action
from domain.commands import no_users
from domain.model import DomainError, Severity

TODAY = date(2026, 11, 22)


def test_an_action_item_names_owner_due_severity_and_ticket() -> None:
    item = parse_action('"Alert on null rate" owner:<@U0DANA|dana> due:2026-12-01 severity:p2 '
                        "ticket:JIRA-123", TODAY, mentioned_user)
    assert (item.text, item.owner, item.due, item.severity, item.ticket) == (
        "Alert on null rate", "U0DANA", date(2026, 12, 1), Severity.P2, "JIRA-123")


@pytest.mark.parametrize(("text", "refusal"), [
    ('"Fix it"', "needs `owner:`, `due:`, `severity:`, `ticket:`"),
    ('"x" owner:<@U1> due:2026-01-01 severity:p2 ticket:J-1', "is in the past"),
    ('"x" owner:dana due:2026-12-01 severity:p2 ticket:J-1', "must be a Slack mention"),
    ('"x" owner:<@U1> due:2026-12-01 severity:p2 ticket:soon', "not a ticket reference"),
])
def test_a_missing_or_wrong_piece_is_named(text: str, refusal: str) -> None:
    with pytest.raises(DomainError, match=refusal):
        parse_action(text, TODAY, mentioned_user)


def test_the_owner_is_whoever_the_reader_names() -> None:
    text = '"x" owner:<@U0DANA> due:2026-12-01 severity:p2 ticket:J-1'
    with pytest.raises(DomainError, match="must be a Slack mention"):
        parse_action(text, TODAY, no_users)

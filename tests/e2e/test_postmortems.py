"""Postmortems (GOV-001 section 8): the clock opens at resolve, action items carry owner, due date,
severity and ticket, and close is refused until the draft and an action item exist."""

from __future__ import annotations

from datetime import date

import pytest

from bot.local.stack import LocalStack
from bot.slack_ui.mrkdwn import mentioned_user
from bot.slack_ui.postmortems import PostmortemTexts, draft_posted, factors_recorded
from domain.action_items import ActionItem, parse_action
from domain.model import DomainError, Severity, Status
from domain.services import IncidentRef
from tests.e2e.conftest import wait_response
from tests.fakes import FakeClock

IC = "U0RESPOND"


def test_action_items_must_name_owner_due_severity_and_ticket() -> None:
    def parse(text: str) -> ActionItem:
        return parse_action(text, date(2026, 11, 22), mentioned_user)

    item = parse('"Alert on null rate" owner:<@U0DANA|dana> due:2026-12-01 severity:p2 ticket:JIRA-123')
    assert (item.text, item.owner, item.due, item.severity, item.ticket) == (
        "Alert on null rate",
        "U0DANA",
        date(2026, 12, 1),
        Severity.P2,
        "JIRA-123",
    )
    with pytest.raises(DomainError, match="needs `owner:`, `due:`, `severity:`, `ticket:`"):
        parse('"Fix it"')
    with pytest.raises(DomainError, match="is in the past"):
        parse('"x" owner:<@U1> due:2026-01-01 severity:p2 ticket:J-1')
    with pytest.raises(DomainError, match="must be a Slack mention"):
        parse('"x" owner:dana due:2026-12-01 severity:p2 ticket:J-1')
    with pytest.raises(DomainError, match="not a ticket reference"):
        parse('"x" owner:<@U1> due:2026-12-01 severity:p2 ticket:soon')


async def test_close_waits_for_the_postmortem_draft_and_an_action_item(stack: LocalStack) -> None:
    n = 0

    async def run(text: str) -> str:
        nonlocal n
        await stack.driver.slash_command(text, user_id=IC)
        n += 1
        return await wait_response(stack, n)

    await run("declare P1 credit-risk-v3 Null predictions")
    await stack.settle()
    await run("resolve 1 rolled back")
    await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1))
    channel = view.link.channel_id
    rule = stack.container.policy.rule(Severity.P1)
    assert view.incident.resolved_at and rule.postmortem_within
    required = PostmortemTexts().required(view.incident, view.incident.resolved_at + rule.postmortem_within)
    assert required in [m["text"] for m in stack.slack.messages(channel)]

    refused = await run("close 1")
    assert "INC-1 cannot be closed yet" in refused
    assert "the postmortem draft" in refused and "at least one action item" in refused
    assert "`due:`" in await run('action 1 add "Alert on null rate" owner:<@U0DANA|dana>')
    assert "Action item 1 on INC-1" in await run(
        f'action 1 add "Alert on null rate" owner:<@U0DANA|dana> due:{date.today().year + 1}-01-15 '
        "severity:p2 ticket:JIRA-123"
    )
    assert "the postmortem draft" in await run("close 1")
    assert await run("postmortem 1") == draft_posted("INC-1", has_factors=False)
    assert "contributing factors" in await run("close 1")  # a draft of placeholders (issue 15)
    assert await run("postmortem 1 factors No alert on the null rate of scores") == factors_recorded("INC-1")
    assert await run("postmortem 1") == draft_posted("INC-1", has_factors=True)
    assert "INC-1 closed" in await run("close 1")
    assert "1. Alert on null rate" in await run("action 1 list")
    view = await stack.container.service.view(IncidentRef(number=1))
    assert view.incident.status is Status.CLOSED
    async with stack.container.uow_factory() as uow:
        actions = [a.action for a in await uow.audit.list(str(view.incident.id))]
    assert "incident.action_item_added" in actions and "incident.postmortem_drafted" in actions


async def test_a_sev3_needs_no_postmortem_to_close(stack: LocalStack) -> None:
    await stack.driver.slash_command("declare P3 credit-risk-v3 Slight skew", user_id=IC)
    await wait_response(stack, 1)
    await stack.driver.slash_command("resolve 1", user_id=IC)
    await wait_response(stack, 2)
    await stack.driver.slash_command("close 1", user_id=IC)
    assert "INC-1 closed" in await wait_response(stack, 3)


async def test_an_overdue_postmortem_is_reminded_once(database_url: str) -> None:
    clock = FakeClock()
    async with LocalStack(database_url, clock=clock, settings_overrides={"tick_seconds": 0}) as stack:
        await stack.driver.slash_command("declare P1 credit-risk-v3 Null predictions", user_id=IC)
        await wait_response(stack, 1)
        await stack.driver.slash_command(f"assign 1 <@{IC}|bob>", user_id=IC)
        await wait_response(stack, 2)
        await stack.driver.slash_command("resolve 1", user_id=IC)
        await wait_response(stack, 3)
        remind = stack.container.features.postmortem_reminders
        clock.advance(hours=47)
        assert await remind() == 0
        clock.advance(hours=2)  # past the SEV-1 48 h clock
        assert await remind() == 1
        assert await remind() == 0  # once
        await stack.settle()
        view = await stack.container.service.view(IncidentRef(number=1))
        [reminder] = [
            m["text"] for m in stack.slack.messages(view.link.channel_id) if ":alarm_clock:" in m["text"]
        ]
        rule = stack.container.policy.rule(Severity.P1)
        assert view.incident.resolved_at and rule.postmortem_within
        assert reminder == PostmortemTexts().overdue(
            view.incident, view.incident.resolved_at + rule.postmortem_within, has_draft=False)

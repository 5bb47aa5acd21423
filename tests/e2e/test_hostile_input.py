"""Hostile input through the real Bolt app (issue 14), on SQLite and PostgreSQL: signed requests
against the Slack stand-in. User markup is posted escaped and channel names are plain words;
PII in reasons and updates is stored scrubbed in the timeline and the audit trail; a request
from another workspace is refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.cli.audit import rows
from bot.local.slack_standin import TEAM_ID
from bot.local.stack import LocalStack
from bot.slack_ui.incident import ACTION_ACK
from domain.model import Status
from domain.services import IncidentRef
from tests.e2e.conftest import command_reply

IC = "U0DECLARER"
LIVE_MARKUP = ("<!channel>", "<!here>", "<!subteam^", "<https://evil", "<!everyone>")
RAW_PII = ("jane.doe@example.com", "415 555 0100", "hunter2")


def everything_posted(stack: LocalStack) -> list[str]:
    """Every text and block the bot put in Slack, in every channel and thread."""
    out: list[str] = []
    for channel in stack.slack.channels:
        for message in stack.slack.messages(channel["id"]):
            out.append(str(message.get("text", "")) + str(message.get("blocks", "")))
        out.append(stack.slack.topic(channel["id"]))
    return out


async def command(stack: LocalStack, text: str, user: str = IC) -> str:
    return await command_reply(stack, text, user)


async def test_user_markup_is_posted_escaped_and_the_channel_name_is_plain(stack: LocalStack) -> None:
    await command(stack, "declare P1 credit-risk-v3 <!channel> scores all zero "
                         "<https://evil.example|grafana>")
    [announcement] = stack.slack.top_level("ml-incidents")
    assert "&lt;!channel&gt; scores all zero &lt;https://evil.example|grafana&gt;" in announcement["text"]
    channel = stack.slack.channel_by_name("inc-1-channel-scores-all-zero")
    assert channel is not None, [c["name"] for c in stack.slack.channels()]
    [pinned] = stack.slack.pinned(channel["id"])
    summary = stack.slack.message(channel["id"], pinned)
    assert summary is not None and "&lt;!channel&gt;" in summary["text"]
    await command(stack, "note 1 <!here> look <!subteam^S0TEAM01|@oncall> & <https://evil.example|runbook>")
    await command(stack, "update 1 <!everyone> impact is <!channel> wide")
    await command(stack, "resolve 1 <!here> rolled back, see <https://evil.example|grafana>")
    posted = everything_posted(stack)
    for text in posted:
        for markup in LIVE_MARKUP:
            assert markup not in text, (markup, text[:400])
    joined = "\n".join(posted)
    assert "&lt;!here&gt; rolled back" in joined  # shown, not interpreted
    assert f"<@{IC}>" in joined  # the bot's own mention of the actor stays live


async def test_reasons_and_updates_are_stored_scrubbed_in_timeline_and_audit(stack: LocalStack) -> None:
    await command(stack, "declare P2 credit-risk-v3 Scores drift")
    await command(stack, "ack 1 paged jane.doe@example.com")
    await command(stack, "update 1 impact: customer jane.doe@example.com, call +1 415 555 0100")
    await command(stack, "resolve 1 rolled back; told jane.doe@example.com at +1 415 555 0100; "
                         "password=hunter2")
    view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
    bodies = "\n".join(e.body for e in view.timeline)
    assert "investigating → resolved: rolled back; told [email] at [phone]; password=[secret]" in bodies
    assert "Stakeholder update: impact: customer [email], call [phone]" in bodies
    audit = await rows(stack.container.engine)
    reasons = [r["details"].get("reason") for r in audit if r["action"] == "incident.status_updated"]
    assert reasons == ["paged [email]", "rolled back; told [email] at [phone]; password=[secret]"]
    stored = bodies + str(audit)
    posted = "\n".join(everything_posted(stack))
    for raw in RAW_PII:
        assert raw not in stored and raw not in posted, raw


@pytest.fixture
def partner_allowed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SLACK_ALLOWED_TEAMS", "T0PARTNER01")
    yield


async def test_a_request_from_another_workspace_is_refused(stack: LocalStack) -> None:
    await command(stack, "declare P1 credit-risk-v3 Null predictions")
    announcement = stack.slack.top_level("ml-incidents")[-1]
    incidents = stack.slack.channel_id("ml-incidents")
    stack.driver.team_id = "T0EVIL99"
    status, body = await stack.driver.slash_command("resolve 1 pwned", user_id="U0EVIL01")
    assert status == 200 and "Declared" not in str(body)
    code, _ = await stack.driver.block_action(ACTION_ACK, message_ts=announcement["ts"],
                                              channel_id=incidents, user_id="U0EVIL01")
    assert code == 200
    await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
    assert view.incident.status is Status.OPEN
    assert all(e.author != "U0EVIL01" for e in view.timeline)
    stack.driver.team_id = TEAM_ID  # the installed workspace is still served
    await command(stack, "ack 1")
    view = await stack.container.service.view(IncidentRef(number=1))
    assert view.incident.status is Status.INVESTIGATING


async def test_an_allow_listed_workspace_is_served(partner_allowed: None, database_url: str) -> None:
    async with LocalStack(database_url) as stack:
        stack.driver.team_id = "T0PARTNER01"
        reply = await command(stack, "declare P3 credit-risk-v3 Slow scoring")
        assert "Declared *INC-1*" in reply
        stack.driver.team_id = "T0OTHER02"
        status, _ = await stack.driver.slash_command("resolve 1 pwned", user_id="U0EVIL01")
        assert status == 200
        await stack.settle()
        view: Any = await stack.container.service.view(IncidentRef(number=1))
        assert view.incident.status is Status.OPEN


async def test_every_audit_log_line_carries_the_chain_head(stack: LocalStack) -> None:
    """The SIEM keeps the head outside the database: a trail cut after it no longer verifies."""
    import logging

    import structlog

    from bot.cli.audit import verify_chain

    saved = structlog.get_config()  # whatever an earlier test left: INFO events, captured
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    try:
        with structlog.testing.capture_logs() as logs:
            await command(stack, "declare P3 credit-risk-v3 Slow scoring")
            await command(stack, "ack 1")
    finally:
        structlog.configure(**saved)
    heads = [e["chain_hash"] for e in logs
             if e.get("log_type") == "audit" and e.get("action") == "incident.status_updated"]
    assert heads and all(len(h) == 64 for h in heads), "no chain_hash in the audit log line"
    audit = await rows(stack.container.engine)
    assert heads[-1] == audit[-1]["row_hash"]
    assert (await verify_chain(stack.container.engine, expect_heads=[heads[-1]]))[1] is None


async def test_action_items_are_stored_scrubbed_and_shown_escaped(stack: LocalStack) -> None:
    await command(stack, "declare P2 credit-risk-v3 Scores drift")
    added = await command(stack, 'action 1 add "<!channel> call jane.doe@example.com" owner:<@U0DANA> '
                                 "due:2099-12-01 severity:p2 ticket:JIRA-123")
    assert "&lt;!channel&gt; call [email]" in added and "<!channel>" not in added
    listed = await command(stack, "action 1 list")
    assert "&lt;!channel&gt; call [email]" in listed and "jane.doe" not in listed


async def test_the_ephemeral_replies_show_user_markup_as_typed(stack: LocalStack) -> None:
    confirmed = await command(stack, "declare P2 fraud-detector <!here> scores all zero")
    listed = await command(stack, "list")
    for reply in (confirmed, listed):
        assert "&lt;!here&gt; scores all zero" in reply
        assert not any(markup in reply for markup in LIVE_MARKUP)

"""Socket Mode: the same incident flow with Slack's payloads arriving as envelopes over a
WebSocket (``apps.connections.open`` → ``wss://``), acked by the real Bolt socket handler, and
the real slack_sdk client posting to the stand-in. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.local.stack import LocalStack
from bot.slack_ui.incident import ACTION_ACK, ACTION_RESOLVE
from domain.model import Status, TimelineEventType
from domain.services import IncidentRef
from tests.e2e.conftest import wait_response

DECLARER, RESPONDER = "U0DECLARER", "U0RESPOND"


@pytest.fixture
async def socket_stack(database_url: str) -> AsyncIterator[LocalStack]:
    async with LocalStack(database_url, socket_mode=True) as stack:
        yield stack


async def test_a_whole_incident_runs_over_socket_mode(socket_stack: LocalStack) -> None:
    stack = socket_stack
    assert stack.slack.socket_connections == 1
    [opened] = stack.slack.calls_to("apps.connections.open")
    assert opened.ok

    code, ack = await stack.driver.slash_command("declare P1 credit-risk-v3 Null predictions",
                                                 user_id=DECLARER)
    assert code == 200 and ack == {}  # acked over the socket at once, the work follows
    assert "Declared *INC-1* [SEV-1]" in await wait_response(stack, 1)
    await stack.settle()
    announcement = stack.slack.top_level("ml-incidents")[-1]
    incidents = stack.slack.channel_id("ml-incidents")

    await stack.driver.block_action(ACTION_ACK, message_ts=announcement["ts"], channel_id=incidents,
                                    user_id=RESPONDER)
    await stack.driver.user_says(incidents, RESPONDER, "rolling back to v2",
                                 thread_ts=announcement["ts"])
    await stack.driver.redeliver_last_event(retry_num=1)  # Slack retries: still one note
    await stack.driver.block_action(ACTION_RESOLVE, message_ts=announcement["ts"],
                                    channel_id=incidents, user_id=RESPONDER)
    await stack.settle()

    view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
    assert view.incident.status is Status.RESOLVED
    notes = [e for e in view.timeline if e.event_type is TimelineEventType.NOTE]
    assert [(n.body, n.author) for n in notes] == [("rolling back to v2", RESPONDER)]
    updated = stack.slack.message(incidents, announcement["ts"])
    assert updated is not None and "(resolved)" in updated["text"]
    assert not stack.slack.anomalies


async def test_help_is_answered_in_the_socket_ack_itself(socket_stack: LocalStack) -> None:
    code, ack = await socket_stack.driver.slash_command("help", user_id=DECLARER)
    assert code == 200
    assert ack["response_type"] == "ephemeral" and "/incident declare" in ack["text"]
    code, ack = await socket_stack.driver.slash_command("frobnicate", user_id=DECLARER)
    assert "Unknown command `frobnicate`" in ack["text"]


async def test_connections_open_refuses_a_bot_token(socket_stack: LocalStack) -> None:
    """Slack wants the app-level token for Socket Mode; a bot token is refused by name."""
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    client = AsyncWebClient(base_url=socket_stack.slack.url)
    with pytest.raises(SlackApiError) as refused:
        await client.apps_connections_open(app_token="xoxb-not-an-app-token")
    assert refused.value.response["error"] == "not_allowed_token_type"

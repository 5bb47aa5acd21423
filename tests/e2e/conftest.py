from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.local.stack import LocalStack


@pytest.fixture
async def stack(database_url: str) -> AsyncIterator[LocalStack]:
    async with LocalStack(database_url) as s:
        yield s


def last_response_text(stack: LocalStack) -> str:
    responses: list[dict[str, Any]] = stack.driver.responses
    assert responses, "the bot sent no response_url reply"
    return str(responses[-1]["body"].get("text", ""))


async def wait_response(stack: LocalStack, count: int) -> str:
    """Wait until the bot has posted ``count`` response_url replies; return the last text."""
    await stack.slack.wait_until(lambda: len(stack.driver.responses) >= count, 5)
    return last_response_text(stack)


async def command_reply(stack: LocalStack, text: str, user: str) -> str:
    """Send ``/incident <text>`` as ``user``; the ephemeral reply it got, once all is settled."""
    before = len(stack.driver.responses)
    status, _ = await stack.driver.slash_command(text, user_id=user)
    assert status == 200
    reply = await wait_response(stack, before + 1)
    await stack.settle()
    return reply


def webhook_settings(pd: Any, *, pd_secret: str, am_token: str, iac_token: str) -> dict[str, Any]:
    """Settings that open every webhook (PagerDuty against its stand-in, Alertmanager, IaC)."""
    return {"pagerduty_api_token": pd.api_token, "pagerduty_api_url": pd.url,
            "pagerduty_events_url": pd.url, "pagerduty_from_email": "bot@example.com",
            "pagerduty_ca_bundle": pd.ca_file, "pagerduty_webhook_secret": pd_secret,
            "pagerduty_service_models": {"PA2P440": "fraud-detector"},
            "alertmanager_token": am_token, "iac_token": iac_token,
            "iac_default_model": "fraud-detector"}

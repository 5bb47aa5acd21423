from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.harness import LocalStack


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

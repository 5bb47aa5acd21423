"""Nothing posted twice when Slack loses its answer after doing the work, and nothing acked
lost when the bot stops: the real slack_sdk client against the stand-in's faults."""

from __future__ import annotations

from typing import Any

import pytest

from bot.rendering import ACTION_ACK
from domain.services import IncidentRef
from tests.e2e.harness import LocalStack

DECLARE = "declare P1 credit-risk-v3 Null predictions since 14:02"
CHANNEL = "inc-1-null-predictions-since-14-02"
FAST = {"outbox_backoff_seconds": 0.05, "outbox_max_backoff_seconds": 0.2}


def texts(messages: list[dict[str, Any]], needle: str) -> list[str]:
    return [m["text"] for m in messages if needle in m.get("text", "")]


@pytest.mark.parametrize("fault", ["fail_after_next", "drop_after_next"])
async def test_thread_and_channel_posts_whose_answer_was_lost_are_not_repeated(
        database_url: str, fault: str) -> None:
    async with LocalStack(database_url, settings_overrides=FAST) as stack:
        await stack.driver.slash_command(DECLARE)
        await stack.settle()
        incidents = stack.slack.channel_id("ml-incidents")
        announcement = stack.slack.top_level("ml-incidents")[-1]
        # the next two posts (thread reply, incident channel) reach Slack; their answers don't
        getattr(stack.slack, fault)(2, method="chat.postMessage")
        await stack.driver.block_action(ACTION_ACK, message_ts=announcement["ts"],
                                        channel_id=incidents, user_id="U0RESPOND")
        await stack.settle()
        thread = stack.slack.thread(incidents, announcement["ts"])[1:]
        assert len(texts(thread, "INC-1 acknowledged")) == 1
        channel = stack.slack.channel_id(CHANNEL)
        assert len(texts(stack.slack.messages(channel), "INC-1 acknowledged")) == 1


@pytest.mark.parametrize("fault", ["fail_after_next", "drop_after_next"])
async def test_an_announcement_whose_answer_was_lost_is_posted_once(
        database_url: str, fault: str) -> None:
    async with LocalStack(database_url, settings_overrides=FAST) as stack:
        await stack.driver.slash_command(DECLARE)  # the first announcement names the channel
        await stack.settle()
        getattr(stack.slack, fault)(1, method="chat.postMessage")
        await stack.driver.slash_command("declare P2 fraud-detector Scores stuck at 0.5")
        await stack.settle()
        assert len(texts(stack.slack.top_level("ml-incidents"), "INC-2")) == 1
        view = await stack.container.service.view(IncidentRef(number=2))
        assert view.link and view.link.announcement_ts


@pytest.mark.parametrize("fault", ["fail_after_next", "drop_after_next"])
async def test_a_channel_created_whose_answer_was_lost_is_adopted_not_duplicated(
        database_url: str, fault: str) -> None:
    async with LocalStack(database_url, settings_overrides=FAST) as stack:
        getattr(stack.slack, fault)(1, method="conversations.create")
        await stack.driver.slash_command(DECLARE)
        await stack.settle()
        names = [c["name"] for c in stack.slack.channels if c["name"].startswith("inc-1-")]
        assert names == [CHANNEL]
        channel = stack.slack.channel_id(CHANNEL)
        assert len(stack.slack.pinned(channel)) == 1
        view = await stack.container.service.view(IncidentRef(number=1))
        assert view.link and view.link.channel_id == channel


async def test_someone_elses_channel_of_the_same_name_is_not_adopted(database_url: str) -> None:
    async with LocalStack(database_url, settings_overrides=FAST) as stack:
        stack.slack.add_channel(CHANNEL, members=["U0DECLARER"], creator="U0DECLARER")  # a human
        await stack.driver.slash_command(DECLARE)
        await stack.settle()
        view = await stack.container.service.view(IncidentRef(number=1))
        assert view.link and view.link.channel_name == CHANNEL + "-1"

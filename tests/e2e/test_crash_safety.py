"""Nothing posted twice when Slack loses its answer after doing the work, and nothing acked
lost when the bot stops: the real slack_sdk client against the stand-in's faults."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.local.stack import LocalStack
from bot.slack_ui.incident import ACTION_ACK
from domain.services import IncidentRef

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


# -- durable intake: what was acked is on disk before the ack, and done exactly once ---------

async def titles(stack: LocalStack) -> list[str]:
    return sorted(v.incident.title for v in await stack.container.service.list_incidents())


def hang_declarations(stack: LocalStack) -> asyncio.Event:
    """The database work of every declaration hangs (a stuck disk) until the event is set."""
    gate = asyncio.Event()
    service = stack.container.service
    real = service.declare

    async def stuck(*args: Any, **kwargs: Any) -> Any:
        await gate.wait()
        return await real(*args, **kwargs)

    service.declare = stuck  # type: ignore[method-assign]
    return gate


async def test_declarations_acked_before_a_crash_are_declared_once_after_the_restart(
        database_url: str) -> None:
    async with LocalStack(database_url) as stack:
        hang_declarations(stack)
        for i in range(5):
            code, body = await stack.driver.slash_command(f"declare P2 fraud-detector Burst {i}")
            assert code == 200 and not body  # acked: the user was told nothing went wrong
        await stack.crash_bot()  # kill -9: the five are in flight
        await stack.settle()
        assert await titles(stack) == [f"Burst {i}" for i in range(5)]
        confirmed = [r["body"]["text"] for r in stack.driver.responses]
        assert sum("Declared *INC-" in t for t in confirmed) == 5
        for _ in range(50):  # the inbox rows are settled shortly after their work
            if await stack.container.intake.store.pending_count() == 0:
                break
            await asyncio.sleep(0.1)
        assert await stack.container.intake.store.pending_count() == 0


async def test_work_cut_off_by_a_shutdown_is_replayed_by_the_next_start(database_url: str) -> None:
    async with LocalStack(database_url) as stack:
        hang_declarations(stack)
        await stack.driver.slash_command("declare P2 fraud-detector Cut off by SIGTERM")
        stack.container.drain_seconds = 0.1  # the drain runs out
        await stack.restart_bot()
        await stack.settle()
        assert await titles(stack) == ["Cut off by SIGTERM"]


async def test_a_crash_after_the_work_committed_does_not_repeat_it(database_url: str) -> None:
    async with LocalStack(database_url) as stack:
        gate = asyncio.Event()

        async def reply_hangs(*_: Any) -> None:
            await gate.wait()  # committed, but the confirmation never goes out

        stack.container.slack.reply = reply_hangs  # type: ignore[method-assign]
        await stack.driver.slash_command("declare P2 fraud-detector Committed then crashed")
        await stack.slack.wait_until(lambda: stack.slack.top_level("ml-incidents"), 5)
        await stack.crash_bot()
        await stack.settle()
        assert await titles(stack) == ["Committed then crashed"]


async def test_the_same_signed_request_sent_twice_is_applied_once(database_url: str) -> None:
    async with LocalStack(database_url) as stack:
        await stack.driver.slash_command("declare P2 fraud-detector Replayed by an attacker")
        first = stack.driver.sent[-1]
        session = await stack.driver._http()
        async with session.post(stack.driver.url, data=first.body, headers=first.headers) as again:
            assert again.status == 200
        await stack.settle()
        assert await titles(stack) == ["Replayed by an attacker"]


async def test_a_full_backlog_says_busy_instead_of_acking_into_the_void(database_url: str) -> None:
    async with LocalStack(database_url, settings_overrides={"intake_max_backlog": 2}) as stack:
        gate = hang_declarations(stack)
        for i in range(2):
            assert await stack.driver.slash_command(f"declare P2 fraud-detector Taken {i}") == (
                200, "")
        code, body = await stack.driver.slash_command("declare P2 fraud-detector One too many")
        assert code == 200 and body["response_type"] == "ephemeral"
        assert "overloaded" in body["text"] and "did *not* record" in body["text"]
        gate.set()
        await stack.settle()
        assert await titles(stack) == ["Taken 0", "Taken 1"]


async def test_with_the_database_unavailable_the_user_is_told_nothing_was_recorded(
        database_url: str) -> None:
    async with LocalStack(database_url) as stack:
        await stack.driver.slash_command(DECLARE)
        await stack.settle()
        announcement = stack.slack.top_level("ml-incidents")[-1]

        async def down(*_: Any, **__: Any) -> Any:
            raise OSError("connection refused")

        stack.container.intake.store.admit = down  # type: ignore[method-assign]
        code, body = await stack.driver.slash_command("declare P2 fraud-detector Lost?")
        assert code == 200 and "cannot reach its database" in body["text"]
        code, _ = await stack.driver.block_action(
            ACTION_ACK, message_ts=announcement["ts"],
            channel_id=stack.slack.channel_id("ml-incidents"))
        assert code == 503  # Slack shows the click failed; nothing half-done
        await stack.settle()
        view = await stack.container.service.view(IncidentRef(number=1))
        assert view.incident.status.value == "open"
        assert await titles(stack) == ["Null predictions since 14:02"]


async def test_a_thread_note_that_met_a_database_outage_is_recorded_once_it_is_back(
        database_url: str) -> None:
    async with LocalStack(database_url) as stack:
        await stack.driver.slash_command(DECLARE)
        await stack.settle()
        announcement = stack.slack.top_level("ml-incidents")[-1]
        service = stack.container.service
        real = service.add_note
        outage = {"calls": 0}

        async def add_note(*args: Any, **kwargs: Any) -> Any:
            outage["calls"] += 1
            if outage["calls"] == 1:
                raise ConnectionRefusedError("the database is restarting")
            return await real(*args, **kwargs)

        service.add_note = add_note  # type: ignore[method-assign]
        code, _ = await stack.driver.user_says(stack.slack.channel_id("ml-incidents"),
                                               "U0RESPOND", "feature store is back",
                                               thread_ts=announcement["ts"])
        assert code == 200  # acked: Slack will not send it again

        async def noted() -> bool:
            view = await service.view(IncidentRef(number=1), with_timeline=True)
            return any(e.body == "feature store is back" for e in view.timeline)

        for _ in range(100):  # the lease keeper replays it within a few seconds
            if await noted():
                break
            await asyncio.sleep(0.1)
        assert await noted() and outage["calls"] == 2


async def test_metrics_answer_while_the_database_is_down(database_url: str) -> None:
    async with LocalStack(database_url) as stack:
        session = await stack.driver._http()
        async with session.get(stack.url + "/metrics") as up:
            assert up.status == 200 and "incident_bot_database_up 1.0" in await up.text()

        async def down(*_: Any) -> Any:
            raise OSError("connection refused")

        stack.container.outbox_store.stats = down  # type: ignore[method-assign]
        async with session.get(stack.url + "/metrics") as scraped:
            text = await scraped.text()
        assert scraped.status == 200
        assert "incident_bot_database_up 0.0" in text and "incident_bot_outbox_depth" in text


async def test_commands_on_one_incident_apply_in_the_order_they_were_sent(
        database_url: str) -> None:
    async with LocalStack(database_url) as stack:
        await stack.driver.slash_command(DECLARE)
        await stack.settle()
        service = stack.container.service
        real = service.add_note

        async def slow_first(ref: Any, actor: Any, text: str, **kwargs: Any) -> Any:
            if text == "first":
                await asyncio.sleep(0.3)  # its database work happens to be slow
            return await real(ref, actor, text, **kwargs)

        service.add_note = slow_first  # type: ignore[method-assign]
        for text in ("first", "second"):
            await stack.driver.slash_command(f"note 1 {text}", user_id="U0RESPOND")
        await stack.settle()
        view = await service.view(IncidentRef(number=1), with_timeline=True)
        notes = [e.body for e in view.timeline if e.event_type.value == "note"]
        assert notes == ["first", "second"]


async def test_on_sqlite_the_declare_form_is_answered_while_a_writer_holds_the_lock(
        tmp_path: Any) -> None:
    """Another process holding SQLite's write lock used to hold up every read behind the bot's
    one-writer lock too: the declare form (which reads the models before its answer) waited
    29.6 s. Reads take no writer's lock now."""
    from tests.databases import sqlite_url

    async with LocalStack(sqlite_url(tmp_path)) as stack:
        lock = stack.container.outbox_store.write_lock
        assert lock is not None
        async with lock:  # a writer is stuck (e.g. behind another process's transaction)
            code, body = await asyncio.wait_for(stack.driver.view_submission(
                "declare_incident", {"title": "Scores all zero", "severity": "p2",
                                     "model": "no-such-model"}), 5)
        assert code == 200 and "Unknown model" in body["errors"]["model"]


@pytest.mark.parametrize("fault", ["fail_after_next", "drop_after_next"])
async def test_the_very_first_announcement_whose_answer_was_lost_is_posted_once(
        database_url: str, fault: str) -> None:
    """No announcement recorded yet, so the incidents channel's id is known only to Slack: the
    retry finds it in the channel list, then its own message in the channel."""
    async with LocalStack(database_url, settings_overrides=FAST) as stack:
        getattr(stack.slack, fault)(1, method="chat.postMessage")
        await stack.driver.slash_command(DECLARE)
        await stack.settle()
        assert len(texts(stack.slack.top_level("ml-incidents"), "INC-1")) == 1

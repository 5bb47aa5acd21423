"""The outbox dispatcher on a real database with a fake clock: order, retries, give-up."""

from __future__ import annotations

import uuid

from aiohttp import ClientConnectionError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.dispatcher import OutboxDispatcher, Permanent, Retry, classify
from domain.ports import OutboxMessage
from storage.outbox_store import OutboxRow, OutboxStore


def slack_error(status: int, error: str, headers: dict[str, str] | None = None) -> SlackApiError:
    response = AsyncSlackResponse(client=None, http_verb="POST", api_url="x", req_args={},  # type: ignore[arg-type]
                                  data={"ok": False, "error": error}, headers=headers or {},
                                  status_code=status)
    return SlackApiError("failed", response)


def test_errors_are_classified_into_retry_or_give_up() -> None:
    limited = classify(slack_error(429, "ratelimited", {"Retry-After": "7"}))
    assert isinstance(limited, Retry) and limited.delay == 7.0
    assert isinstance(classify(slack_error(503, "service_unavailable")), Retry)
    assert isinstance(classify(slack_error(200, "internal_error")), Retry)
    assert isinstance(classify(ClientConnectionError("refused")), Retry)
    assert isinstance(classify(TimeoutError()), Retry)
    assert isinstance(classify(slack_error(200, "channel_not_found")), Permanent)
    assert isinstance(classify(KeyError("x")), Permanent)


async def enqueue(make_uow, n: int, incident_id: uuid.UUID | None = None) -> None:  # type: ignore[no-untyped-def]
    async with make_uow() as uow:
        for i in range(n):
            await uow.outbox.add(OutboxMessage("say", incident_id, {"i": i}))
        await uow.commit()


async def test_a_minute_long_outage_delivers_everything_afterwards_once_in_order(
        engine, make_uow, clock) -> None:  # type: ignore[no-untyped-def]
    incident = uuid.uuid4()
    await enqueue(make_uow, 5, incident)
    delivered: list[int] = []
    slack_up = False

    async def say(row: OutboxRow) -> None:
        if not slack_up:
            raise ClientConnectionError("Slack unreachable")
        delivered.append(row.payload["i"])

    dispatcher = OutboxDispatcher(OutboxStore(engine), clock, {"say": say}, max_backoff=10)
    for _ in range(12):  # one minute of outage, the dispatcher polling every 5 s
        await dispatcher.drain_once()
        clock.advance(seconds=5)
    assert delivered == []
    slack_up = True
    clock.advance(seconds=10)
    while await dispatcher.drain_once():
        pass
    assert delivered == [0, 1, 2, 3, 4]
    assert await OutboxStore(engine).pending_count() == 0
    clock.advance(minutes=5)
    assert await dispatcher.drain_once() == 0 and delivered == [0, 1, 2, 3, 4]


async def test_retry_after_is_honoured_exactly(engine, make_uow, clock) -> None:  # type: ignore[no-untyped-def]
    await enqueue(make_uow, 1)
    attempts: list[float] = []

    async def say(row: OutboxRow) -> None:
        attempts.append(clock.now().timestamp())
        if len(attempts) == 1:
            raise slack_error(429, "ratelimited", {"Retry-After": "30"})

    dispatcher = OutboxDispatcher(OutboxStore(engine), clock, {"say": say})
    await dispatcher.drain_once()
    clock.advance(seconds=29)
    await dispatcher.drain_once()
    assert len(attempts) == 1  # still waiting
    clock.advance(seconds=1)
    assert await dispatcher.drain_once() == 1
    assert attempts[1] - attempts[0] == 30


async def test_a_permanent_failure_is_given_up_and_does_not_block_the_rest(
        engine, make_uow, clock) -> None:  # type: ignore[no-untyped-def]
    incident = uuid.uuid4()
    await enqueue(make_uow, 3, incident)
    delivered: list[int] = []

    async def say(row: OutboxRow) -> None:
        if row.payload["i"] == 0:
            raise slack_error(200, "channel_not_found")
        delivered.append(row.payload["i"])

    dispatcher = OutboxDispatcher(OutboxStore(engine), clock, {"say": say})
    while await dispatcher.drain_once():
        pass
    assert delivered == [1, 2]
    assert await OutboxStore(engine).pending_count() == 0


async def test_incidents_are_delivered_concurrently_but_each_in_order(engine, make_uow, clock) -> None:  # type: ignore[no-untyped-def]
    a, b = uuid.uuid4(), uuid.uuid4()
    await enqueue(make_uow, 3, a)
    await enqueue(make_uow, 3, b)
    seen: dict[uuid.UUID | None, list[int]] = {a: [], b: []}

    async def say(row: OutboxRow) -> None:
        seen[row.incident_id].append(row.payload["i"])

    await OutboxDispatcher(OutboxStore(engine), clock, {"say": say}).drain_once()
    assert seen == {a: [0, 1, 2], b: [0, 1, 2]}

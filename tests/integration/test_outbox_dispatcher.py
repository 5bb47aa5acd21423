"""The outbox dispatcher on a real database with a fake clock: order, retries, give-up."""

from __future__ import annotations

import uuid

from aiohttp import ClientConnectionError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.delivery.dispatcher import OutboxDispatcher, Permanent, Retry, classify
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


# -- crash safety: claims are counted, leased, given back; lanes and slots are independent --

async def wait_for(predicate, within: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_delivery_cut_off_by_a_stop_is_given_back_and_looks_first_next_time(
        engine, make_uow, clock) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    await enqueue(make_uow, 1, uuid.uuid4())
    seen: list[OutboxRow] = []
    hang = asyncio.Event()

    async def say(row: OutboxRow) -> None:
        seen.append(row)
        if len(seen) == 1:
            await hang.wait()  # Slack never answers the first attempt

    store = OutboxStore(engine)
    first = OutboxDispatcher(store, clock, {"say": say}, owner="bot-a", stop_grace=0.05)
    first.start()
    await wait_for(lambda: len(seen) == 1)
    assert not seen[0].maybe_delivered  # a first delivery posts without looking
    await first.stop()  # cut off mid-call: the claim is given back, not left to expire
    second = OutboxDispatcher(store, clock, {"say": say}, owner="bot-b")
    assert await second.drain_once() == 1
    assert seen[1].id == seen[0].id and seen[1].claims == 2 and seen[1].maybe_delivered


async def test_a_restarted_instance_takes_back_at_once_what_it_held_when_it_died(
        engine, make_uow, clock) -> None:  # type: ignore[no-untyped-def]
    store = OutboxStore(engine)
    await enqueue(make_uow, 2, uuid.uuid4())
    [held] = await store.claim(clock.now(), limit=1, owner="host:3000")  # then kill -9
    assert await store.claim(clock.now(), owner="other") == []  # leased: nobody else takes it
    delivered: list[OutboxRow] = []

    async def say(row: OutboxRow) -> None:
        delivered.append(row)

    restarted = OutboxDispatcher(store, clock, {"say": say}, owner="host:3000")
    restarted.start()
    try:
        await wait_for(lambda: len(delivered) == 2)
    finally:
        await restarted.stop()
    assert delivered[0].id == held.id and delivered[0].maybe_delivered


async def test_claims_are_leases_extended_while_the_delivery_runs(
        engine, make_uow, clock) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from storage.outbox_store import CLAIM_SECONDS
    store = OutboxStore(engine)
    await enqueue(make_uow, 1, uuid.uuid4())
    [row] = await store.claim(clock.now(), owner="a")
    later = clock.now() + timedelta(seconds=CLAIM_SECONDS + 1)
    await store.extend([row.id], later + timedelta(seconds=CLAIM_SECONDS), owner="a")
    assert await store.claim(later, owner="b") == []  # still a's: it is still delivering
    clock.advance(seconds=3 * CLAIM_SECONDS)
    [again] = await store.claim(clock.now(), owner="b")  # a died: the lease ran out
    assert again.id == row.id and again.claims == 2


async def test_a_slow_destination_holds_up_only_its_own_lane(
        engine, make_uow, clock) -> None:  # type: ignore[no-untyped-def]
    """PagerDuty answering slowly (or not at all) does not delay the same incident's Slack
    messages, nor any other incident: slots are refilled as deliveries end."""
    import asyncio
    incident, other = uuid.uuid4(), uuid.uuid4()
    async with make_uow() as uow:
        await uow.outbox.add(OutboxMessage("pagerduty_note", incident, {"i": 0}))
        await uow.outbox.add(OutboxMessage("say", incident, {"i": 1}))
        await uow.outbox.add(OutboxMessage("say", other, {"i": 2}))
        await uow.outbox.add(OutboxMessage("say", other, {"i": 3}))
        await uow.commit()
    pagerduty_up = asyncio.Event()
    delivered: list[int] = []

    async def slow_pagerduty(row: OutboxRow) -> None:
        await pagerduty_up.wait()
        delivered.append(row.payload["i"])

    async def say(row: OutboxRow) -> None:
        delivered.append(row.payload["i"])

    dispatcher = OutboxDispatcher(OutboxStore(engine), clock, {
        "pagerduty_note": slow_pagerduty, "say": say}, poll_seconds=0.05, concurrency=2)
    dispatcher.start()
    try:
        await wait_for(lambda: delivered == [1, 2, 3] or sorted(delivered) == [1, 2, 3])
        pagerduty_up.set()
        await wait_for(lambda: len(delivered) == 4)
    finally:
        await dispatcher.stop()
    assert delivered[-1] == 0 and delivered.index(2) < delivered.index(3)

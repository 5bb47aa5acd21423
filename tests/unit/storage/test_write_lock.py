"""SQLite's in-process write lock: one writer at a time, the intake's writers first."""

from __future__ import annotations

import asyncio

from storage.write_lock import WriteLock


async def test_one_writer_at_a_time_in_arrival_order() -> None:
    lock = WriteLock()
    order: list[str] = []

    async def writer(name: str) -> None:
        async with lock:
            order.append(name)
            await asyncio.sleep(0)

    await asyncio.gather(*(writer(n) for n in "abc"))
    assert order == ["a", "b", "c"] and not lock.locked()


async def test_an_urgent_writer_goes_before_those_already_queued() -> None:
    lock = WriteLock()
    order: list[str] = []
    await lock.acquire()  # a use case is writing

    async def writer(name: str, urgent: bool = False) -> None:
        if urgent:
            async with lock.urgent():
                order.append(name)
        else:
            async with lock:
                order.append(name)

    queued = [asyncio.create_task(writer(f"use case {i}")) for i in range(3)]
    await asyncio.sleep(0)
    intake = asyncio.create_task(writer("intake", urgent=True))
    await asyncio.sleep(0)
    lock.release()
    await asyncio.gather(intake, *queued)
    assert order == ["intake", "use case 0", "use case 1", "use case 2"]


async def test_a_cancelled_waiter_neither_keeps_nor_loses_the_lock() -> None:
    lock = WriteLock()
    await lock.acquire()
    waiting = asyncio.create_task(lock.acquire())
    await asyncio.sleep(0)
    lock.release()  # handed to the waiter...
    waiting.cancel()  # ...which is cancelled before it runs: the lock is passed on
    await asyncio.gather(waiting, return_exceptions=True)
    assert not lock.locked()
    assert await asyncio.wait_for(lock.acquire(), 1)

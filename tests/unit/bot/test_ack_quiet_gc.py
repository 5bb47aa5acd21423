"""AckFirst lets the garbage collector's young passes run while no ack waits (bot/ack.py):
after ``freeze_heap`` the collector's own passes come every 50,000 young objects and take
20-55 ms each, stalling every ack in flight; done when the last ack leaves, at 5,000, they
are small and in nobody's way."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from bot.ack import QUIET_GC_OBJECTS, AckFirst


@pytest.fixture
def frozen_heap_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    gc.collect()
    gc.set_threshold(50_000, 20, 20)  # as Container.freeze_heap sets them
    try:
        yield
    finally:
        gc.set_threshold(*before)


def pile_up() -> list[object]:
    return [{"n": i} for i in range(QUIET_GC_OBJECTS + 1_000)]


async def test_young_objects_are_collected_once_no_ack_waits(frozen_heap_thresholds: None) -> None:
    acks = AckFirst()
    acks.enter()
    kept = pile_up()
    acks.leave()
    assert gc.get_count()[0] >= QUIET_GC_OBJECTS  # not inside the ack's own step
    await asyncio.sleep(0)
    assert gc.get_count()[0] < QUIET_GC_OBJECTS
    assert len(kept) > QUIET_GC_OBJECTS


async def test_no_pass_while_an_ack_is_still_in_flight(frozen_heap_thresholds: None) -> None:
    acks = AckFirst()
    acks.enter()
    acks.enter()
    kept = pile_up()
    acks.leave()  # one still in flight
    await asyncio.sleep(0)
    assert gc.get_count()[0] >= QUIET_GC_OBJECTS
    acks.enter()  # and one came in before the scheduled pass ran
    acks.leave()
    acks.leave()
    acks.enter()
    await asyncio.sleep(0)
    assert gc.get_count()[0] >= QUIET_GC_OBJECTS
    acks.leave()
    await asyncio.sleep(0)
    assert gc.get_count()[0] < QUIET_GC_OBJECTS
    assert kept



async def test_work_and_deliveries_asking_for_quiet_collect_too(frozen_heap_thresholds: None) -> None:
    """Work and deliveries make most of the garbage, often while no ack comes: their
    ``wait_quiet`` (every piece of work, every delivery and claim) lets the pass run."""
    acks = AckFirst()
    kept = pile_up()
    await acks.wait_quiet()
    await asyncio.sleep(0)
    assert gc.get_count()[0] < QUIET_GC_OBJECTS and kept

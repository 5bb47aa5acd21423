"""Ack first, work after: Slack gives an ack 3 s, the work behind it can wait (see AckFirst)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
from collections.abc import Coroutine
from typing import Any

import structlog
from opentelemetry.trace import NoOpTracer, Tracer

from bot.intake import AckedRequest, Intake, current_request
from storage.db import is_unavailable

log = structlog.get_logger("bot")

# Young objects the garbage collector is let collect while no ack waits (see AckFirst.leave):
# a pass over 5,000 takes a millisecond or two, over the 50,000 freeze_heap lets pile up 20-55
QUIET_GC_OBJECTS = 5_000


class AckFirst:
    """Slack gives an ack 3 s; the work behind it, and any outbox delivery, can wait.

    Listeners run inline (``process_before_response``): they ack and hand their work to
    ``spawn``, so Bolt answers in the same event-loop step that read the request instead of
    polling every 10 ms for the ack from a task of its own. The work runs in tasks kept here,
    so ``drain`` lets it finish on shutdown. Counts the Slack requests in flight; the work and
    the outbox dispatcher wait (at most ``max_wait``) until none is, and at most ``workers``
    pieces of work run at once, so a burst of clicks is acked before the database work and
    the Slack calls their earlier clicks caused.
    """

    # 32 slots: enough that work stuck on a slow Slack call does not hold up the rest (a test
    # pins it), few enough to keep a burst's work from flooding the event loop
    def __init__(self, max_wait: float = 0.25, workers: int = 32,
                 intake: Intake | None = None, tracer: Tracer | None = None) -> None:
        self.max_wait = max_wait
        self.tracer = tracer or NoOpTracer()  # a span per piece of work: the use case
        self.intake = intake  # the work of an acked request runs once its inbox row is written
        self._workers = asyncio.Semaphore(workers)
        self._inflight = 0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._working: set[asyncio.Task[None]] = set()
        self._tails: dict[str, asyncio.Task[None]] = {}  # the last work spawned per key
        self._collecting = False  # a young-generation pass is scheduled (see leave)

    def enter(self) -> None:
        self._inflight += 1
        self._quiet.clear()

    def leave(self) -> None:
        self._inflight -= 1
        if self._inflight <= 0:
            self._inflight = 0
            self._quiet.set()
            self._collect_soon()

    def _collect_soon(self) -> None:
        """A young-generation pass after this step (which may be writing an ack's answer),
        unless an ack came in meanwhile: called when the last ack leaves, and whenever work
        or a delivery asks ``wait_quiet`` and none is in flight (work and deliveries make
        most of the garbage, often while no ack comes)."""
        if gc.get_count()[0] >= QUIET_GC_OBJECTS and not self._collecting:
            self._collecting = True
            asyncio.get_running_loop().call_soon(self._collect_young)

    def _collect_young(self) -> None:
        """Collect the young generations while no ack waits. ``freeze_heap`` sets the
        collector's own threshold at 50,000 young objects (few passes, each 20-55 ms: a
        pass that came mid-burst stalled every ack in flight, benchmarks/ack_cost.py); doing
        the pass here, at 5,000, keeps them small and out of the acks' way. The collector's
        own passes stay as the backstop (and do the full collections)."""
        self._collecting = False
        if self._inflight or not gc.isenabled():
            return
        young, older, oldest = gc.get_threshold()
        count = gc.get_count()
        if count[0] < QUIET_GC_OBJECTS or young <= QUIET_GC_OBJECTS:
            return  # the collector's own (default) threshold keeps its passes small already
        # the older generations as the collector would (every ``older`` passes), the full
        # collection as often as with its own threshold (passes here are ten times smaller)
        scale = max(1, young // QUIET_GC_OBJECTS)
        gc.collect(2 if count[2] >= oldest * scale else 1 if count[1] >= older else 0)

    async def wait_quiet(self) -> None:
        if self._inflight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._quiet.wait(), self.max_wait)
        if not self._inflight:
            self._collect_soon()

    @property
    def pending(self) -> int:
        """Acked pieces of work not finished yet."""
        return len(self._working)

    def spawn(self, work: Coroutine[Any, Any, object], key: str | None = None) -> None:
        """Run an acked listener's ``work`` once the pending acks are out, in a work slot, and
        (for a Slack request) once the request is on disk; after the work spawned before it
        with the same ``key``, so one incident's clicks and commands apply in arrival order."""
        request = current_request()
        if request is not None and self.intake is not None:
            self.intake.work_started(request)
        before = self._tails.get(key) if key else None
        task = asyncio.create_task(self._run(work, request, before))
        self._working.add(task)
        task.add_done_callback(self._finished)
        if key:
            self._tails[key] = task
            task.add_done_callback(functools.partial(self._untail, key))

    def _untail(self, key: str, task: asyncio.Task[None]) -> None:
        if self._tails.get(key) is task:
            del self._tails[key]

    async def _run(self, work: Coroutine[Any, Any, object], request: AckedRequest | None,
                   before: asyncio.Task[None] | None = None) -> None:
        try:
            admitted = request is None or await request.wait_admitted()
            if before is not None:
                # its outcome is its own; only the order matters. Waited for even when this
                # request is refused: the work queued behind it must not overtake ``before``
                await asyncio.wait([before])
            if not admitted:
                return  # not recorded (busy, database down, a replay): the user was told
            await self.wait_quiet()
            async with self._workers:
                # a child of the request's span (the task copied its context at spawn)
                name = getattr(work, "__name__", "work")
                with self.tracer.start_as_current_span(f"work {name}"):
                    await work
        except asyncio.CancelledError:
            if request is not None:
                request.cut_off = True  # not done: replayed by the next start
            raise
        except Exception as exc:
            if request is not None and self.intake is not None and is_unavailable(exc):
                self.intake.give_back(request)  # replayed once the database is back
            raise
        finally:
            work.close()  # never awaited when cancelled first; closing avoids the warning
            if request is not None and self.intake is not None:
                self.intake.work_ended(request)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._working.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("slack.listener_failed", exc_info=task.exception())

    async def drain(self, timeout: float) -> int:
        """Let acked work finish (bounded); returns how many pieces were cut off."""
        if not self._working:
            return 0
        _, pending = await asyncio.wait(set(self._working), timeout=timeout)
        for task in pending:
            task.cancel()
        return len(pending)

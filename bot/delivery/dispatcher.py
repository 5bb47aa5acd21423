"""The outbox dispatcher: delivers committed intents to Slack, in order, at least once.

Retries connection errors and 5xx with exponential backoff and honours 429 ``Retry-After``;
permanent Slack errors (``channel_not_found``...) are logged and the row marked failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import os
import random
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import structlog
from opentelemetry import context as otel_context
from opentelemetry.trace import NoOpTracer, Span, SpanKind, Status, StatusCode, Tracer
from slack_sdk.errors import SlackApiError

from bot.tracing import link_to
from domain.ports import Clock, SystemClock
from storage.outbox_store import CLAIM_SECONDS, OutboxRow, OutboxStore

log = structlog.get_logger("dispatcher")

TRANSIENT_SLACK_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                          "request_timeout", "team_added_to_org"}
MAX_ATTEMPTS = 500  # at the 60 s cap: about eight hours of outage before giving up
MAX_BACKOFF = 60.0


# An incident's rows go out in order, so a later row that finds no channel (or announcement)
# means Slack refused that earlier step for good: waiting would stall the incident's queue.
NO_CHANNEL = ("no incident channel: Slack refused its creation (`incident-bot outbox retry "
              "--failed` sends both again, in order)")
NO_ANNOUNCEMENT = ("no announcement: Slack refused it (`incident-bot outbox retry --failed` "
                   "sends both again, in order)")


class Retry(Exception):
    """A delivery that should be tried again after ``delay`` seconds."""

    def __init__(self, message: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class Permanent(Exception):
    """A delivery that can never succeed as it stands."""


Handler = Callable[[OutboxRow], Awaitable[None]]


def classify(exc: BaseException) -> Retry | Permanent:
    """Map an exception raised during delivery to retry-or-give-up."""
    if isinstance(exc, Retry | Permanent):
        return exc
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", 200)
        error = exc.response.get("error") if exc.response is not None else None
        if status == 429 or error == "ratelimited":
            retry_after = exc.response.headers.get("Retry-After") or exc.response.headers.get(
                "retry-after")
            try:
                delay = float(retry_after) if retry_after is not None else None
            except ValueError:
                delay = None
            return Retry(f"rate limited by Slack (Retry-After {retry_after})", delay or 1.0)
        if status >= 500 or error in TRANSIENT_SLACK_ERRORS:
            return Retry(f"Slack {status} {error}")
        return Permanent(f"Slack refused: {error} (HTTP {status})")
    if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | ConnectionError | OSError):
        return Retry(f"{type(exc).__name__}: {exc}")
    return Permanent(f"{type(exc).__name__}: {exc}")


@dataclass
class Delivery:
    """The outbox row being delivered, and how many messages it has posted so far."""

    row: OutboxRow
    posts: int = 0


# For the Slack client: it tags each post with the row's id and, on a redelivery, finds what an
# interrupted attempt already posted (bot/delivery/slack_client.py).
CURRENT_DELIVERY: contextvars.ContextVar[Delivery | None] = contextvars.ContextVar(
    "current_delivery", default=None)


class OutboxDispatcher:
    """Delivers outbox rows as slots free up, each the head of its (incident, lane).

    At most ``concurrency`` deliveries run at once, and a new row starts as soon as one ends,
    so one slow call (a 15 s PagerDuty answer) holds up only its own lane. Claims are leases:
    extended while a delivery runs, given back when the dispatcher stops, and taken back at
    start from this instance's previous life (``owner``), so a restart does not stall.
    """

    def __init__(self, store: OutboxStore, clock: Clock, handlers: dict[str, Handler],
                 poll_seconds: float = 1.0, concurrency: int = 16,
                 on_result: Callable[[str, str, float], None] | None = None,
                 base_backoff: float = 0.5, max_backoff: float = MAX_BACKOFF,
                 yield_to: Callable[[], Awaitable[None]] | None = None,
                 owner: str | None = None, stop_grace: float = 2.0,
                 lease_clock: Clock | None = None, tracer: Tracer | None = None) -> None:
        self.store = store
        self.tracer = tracer or NoOpTracer()
        # leases are timed by the wall clock: how long a delivery may run is no business time
        # (a test's clock may jump a minute while a delivery is in flight)
        self.lease_clock = lease_clock or SystemClock()
        self.yield_to = yield_to
        self.clock = clock
        self.handlers = handlers
        self.poll_seconds = poll_seconds
        self.concurrency = concurrency
        self.on_result = on_result
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.stop_grace = stop_grace
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: dict[int, asyncio.Task[str]] = {}

    def wake(self, *_: Any) -> None:
        self._wake.set()

    @property
    def free_slots(self) -> int:
        return self.concurrency - len(self._inflight)

    def _start(self, row: OutboxRow) -> asyncio.Task[str]:
        task = asyncio.create_task(self._run_one(row), name=f"outbox-{row.id}")
        self._inflight[row.id] = task
        task.add_done_callback(functools.partial(self._ended, row.id))
        return task

    def _ended(self, row_id: int, _task: object = None) -> None:
        self._inflight.pop(row_id, None)
        self._wake.set()  # a slot is free, and the next row of that lane may be due

    async def _run_one(self, row: OutboxRow) -> str:
        if self.yield_to is not None:
            await self.yield_to()  # let Slack's requests be acked first
        return await self._deliver(row)

    async def drain_once(self) -> int:
        """Deliver every due row now and wait for them (the CLI, tests); returns how many."""
        delivered = 0
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            while True:
                rows = await self.store.claim(self.clock.now(), limit=self.free_slots,
                                              owner=self.owner, lease_now=self.lease_clock.now())
                if not rows:
                    return delivered
                results = await asyncio.gather(*(self._start(r) for r in rows))
                delivered += results.count("done")
                if all(result == "retry" for result in results):
                    return delivered  # nothing settled: what is left waits for its retry time
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _deliver(self, row: OutboxRow) -> str:
        """Deliver one row in a span of its own: the root of a trace (a delivery may run long
        after, or on another replica than, the request that queued it) linked to that
        request's span; the Slack or PagerDuty calls it makes are its children."""
        with self.tracer.start_as_current_span(
                f"outbox.deliver {row.kind}", context=otel_context.Context(),
                kind=SpanKind.CONSUMER, links=link_to(row.traceparent),
                attributes={"outbox.id": row.id, "outbox.kind": row.kind,
                            "outbox.lane": row.lane, "outbox.attempt": row.attempts + 1,
                            # the lane's destination: a PagerDuty delivery is one PagerDuty call
                            "peer.service": row.lane.split(":")[0],
                            "incident.id": str(row.incident_id or "")}) as span:
            result = await self._deliver_row(row, span)
            span.set_attribute("outbox.result", result)
            if result != "done":
                span.set_status(Status(StatusCode.ERROR, result))
            return result

    async def _deliver_row(self, row: OutboxRow, span: Span) -> str:
        """Deliver one row; returns ``done``, ``failed`` (given up) or ``retry``."""
        handler = self.handlers.get(row.kind)
        started = asyncio.get_running_loop().time()
        if handler is None:
            await self.store.fail(row.id, row.attempts + 1, f"no handler for kind {row.kind!r}")
            log.error("outbox.unknown_kind", kind=row.kind, outbox_id=row.id)
            return "failed"
        token = CURRENT_DELIVERY.set(Delivery(row))
        try:
            await handler(row)
        except Exception as exc:  # every failure is classified; none escapes the loop
            verdict = classify(exc)
            span.set_attribute("outbox.error", str(verdict)[:300])
            attempts = row.attempts + 1
            elapsed = asyncio.get_running_loop().time() - started
            if isinstance(verdict, Retry) and attempts < MAX_ATTEMPTS:
                delay = verdict.delay if verdict.delay is not None else min(
                    self.max_backoff, self.base_backoff * 2 ** min(attempts - 1, 12)
                ) * (0.8 + 0.4 * random.random())
                await self.store.retry(row.id, attempts, self.clock.now() + timedelta(
                    seconds=delay), str(verdict))
                log.warning("outbox.retry", kind=row.kind, outbox_id=row.id, attempts=attempts,
                            delay_s=round(delay, 2), error=str(verdict))
                self._report(row.kind, "retry", elapsed)
                return "retry"
            await self.store.fail(row.id, attempts, str(verdict))
            log.error("outbox.failed", kind=row.kind, outbox_id=row.id, attempts=attempts,
                      error=str(verdict))
            self._report(row.kind, "failed", elapsed)
            return "failed"
        finally:
            CURRENT_DELIVERY.reset(token)
        await self.store.done(row.id, self.clock.now())
        self._report(row.kind, "done", asyncio.get_running_loop().time() - started)
        return "done"

    def _report(self, kind: str, result: str, seconds: float) -> None:
        if self.on_result is not None:
            self.on_result(kind, result, seconds)

    async def _heartbeat(self) -> None:
        """Extend the claims of the deliveries in flight, so no other replica takes them over
        while they run (a claim lasts CLAIM_SECONDS)."""
        while True:
            await asyncio.sleep(CLAIM_SECONDS / 3)
            if self._inflight:
                try:
                    await self.store.extend(list(self._inflight), self.lease_clock.now() + timedelta(
                        seconds=CLAIM_SECONDS), self.owner)
                except Exception:  # the database may be briefly away; the next beat retries
                    log.warning("outbox.extend_failed", exc_info=True)

    async def run_forever(self) -> None:
        with contextlib.suppress(Exception):  # rows this instance held when it last stopped
            taken = await self.store.release_owner(self.owner)
            if taken:
                log.info("outbox.claims_taken_back", count=taken, owner=self.owner)
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            while True:
                if self.yield_to is not None:
                    # a claim is a write transaction; the acks in flight go first (as each
                    # delivery's start does), and the rows that ended meanwhile are claimed
                    # for in one round instead of one each
                    await self.yield_to()
                self._wake.clear()
                try:
                    for row in await self.store.claim(self.clock.now(), limit=self.free_slots,
                                                      owner=self.owner,
                                                      lease_now=self.lease_clock.now()):
                        self._start(row)
                except Exception:  # the database may be briefly unavailable; keep the loop alive
                    log.exception("outbox.drain_error")
                # asyncio.timeout rather than wait_for: no inner task to cancel on stop
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_seconds):
                        await self._wake.wait()
        finally:
            heartbeat.cancel()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run_forever(), name="outbox-dispatcher")

    async def stop(self) -> None:
        """Stop claiming; let deliveries in flight end (``stop_grace``), cut off the rest and
        give their claims back so the next start (or another replica) sends them at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if not self._inflight:
            return
        tasks = dict(self._inflight)
        _, pending = await asyncio.wait(set(tasks.values()), timeout=self.stop_grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        cut = [row_id for row_id, task in tasks.items() if task in pending]
        if cut:
            with contextlib.suppress(Exception):
                await self.store.release(cut, self.owner)
            log.warning("outbox.deliveries_cut_off", count=len(cut))

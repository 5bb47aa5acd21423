"""The outbox dispatcher: delivers committed intents to Slack, in order, at least once.

Retries connection errors and 5xx with exponential backoff and honours 429 ``Retry-After``;
permanent Slack errors (``channel_not_found``...) are logged and the row marked failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError

from domain.ports import Clock
from storage.outbox_store import OutboxRow, OutboxStore

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


class OutboxDispatcher:
    def __init__(self, store: OutboxStore, clock: Clock, handlers: dict[str, Handler],
                 poll_seconds: float = 1.0, concurrency: int = 16,
                 on_result: Callable[[str, str, float], None] | None = None,
                 base_backoff: float = 0.5, max_backoff: float = MAX_BACKOFF,
                 yield_to: Callable[[], Awaitable[None]] | None = None) -> None:
        self.store = store
        self.yield_to = yield_to
        self.clock = clock
        self.handlers = handlers
        self.poll_seconds = poll_seconds
        self.concurrency = concurrency
        self.on_result = on_result
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()

    def wake(self, *_: Any) -> None:
        self._wake.set()

    async def drain_once(self) -> int:
        """Deliver every due row, head of line per incident; return how many were delivered."""
        delivered = 0
        sem = asyncio.Semaphore(self.concurrency)
        while True:
            rows = await self.store.claim(self.clock.now(), limit=self.concurrency * 4)
            if not rows:
                return delivered

            async def one(row: OutboxRow) -> str:
                async with sem:
                    if self.yield_to is not None:
                        await self.yield_to()  # let Slack's requests be acked first
                    return await self._deliver(row)

            results = await asyncio.gather(*(one(r) for r in rows))
            delivered += results.count("done")
            if all(result == "retry" for result in results):
                return delivered  # nothing settled: what is left waits for its retry time

    async def _deliver(self, row: OutboxRow) -> str:
        """Deliver one row; returns ``done``, ``failed`` (given up) or ``retry``."""
        handler = self.handlers.get(row.kind)
        started = asyncio.get_running_loop().time()
        if handler is None:
            await self.store.fail(row.id, row.attempts + 1, f"no handler for kind {row.kind!r}")
            log.error("outbox.unknown_kind", kind=row.kind, outbox_id=row.id)
            return "failed"
        try:
            await handler(row)
        except Exception as exc:  # every failure is classified; none escapes the loop
            verdict = classify(exc)
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
        await self.store.done(row.id, self.clock.now())
        self._report(row.kind, "done", asyncio.get_running_loop().time() - started)
        return "done"

    def _report(self, kind: str, result: str, seconds: float) -> None:
        if self.on_result is not None:
            self.on_result(kind, result, seconds)

    async def run_forever(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.drain_once()
            except Exception:  # the database may be briefly unavailable; keep the loop alive
                log.exception("outbox.drain_error")
            # asyncio.timeout rather than wait_for: no inner task to cancel on stop (a wait_for
            # here once left stop() waiting for ever on a cancelled inner Event.wait task)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run_forever(), name="outbox-dispatcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

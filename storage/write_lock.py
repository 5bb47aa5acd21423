"""SQLite's one writer, in process, with a fast lane for the intake of acked requests.

SQLite cannot upgrade two concurrent read transactions to writers without one failing, so
the embedded default serialises write transactions in process. An acked Slack request's
answer waits for its inbox row to be written (bot/intake.py); queued behind every use case
waiting to write (up to 32 in a burst), that ack took seconds. ``urgent()`` writers go before
the queued ones: an ack waits for at most the one transaction in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator


class WriteLock:
    def __init__(self) -> None:
        self._held = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._queued: deque[asyncio.Future[None]] = deque()

    def locked(self) -> bool:
        return self._held

    async def acquire(self, *, urgent: bool = False) -> bool:
        if not self._held and not self._urgent and not self._queued:
            self._held = True
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._queued
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed the lock as it was cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    queue.remove(waiter)
            raise
        return True

    def release(self) -> None:
        """Hand the lock to the next waiter (urgent ones first), or free it."""
        for queue in (self._urgent, self._queued):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # ownership passes on; still held
                    return
        self._held = False

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    @contextlib.asynccontextmanager
    async def urgent(self) -> AsyncIterator[None]:
        await self.acquire(urgent=True)
        try:
            yield
        finally:
            self.release()

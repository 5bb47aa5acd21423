"""Durable intake: no Slack request is acknowledged before the work behind it is on disk.

Listeners ack and hand their work off (``AckFirst``); that work used to live only in memory,
so a crash or a slow shutdown lost what users had been told was received. Now a request whose
listener handed work off is written to the inbox (``storage.inbox_store``) before its answer
leaves: a burst's requests share one transaction (group commit), so an ack costs one
database round trip shared by the burst. The work starts only once its row is written; the
use case records the request as applied in its own transaction, and what a crash or a shutdown
cut off is replayed through Bolt at the next start (or by another replica once the lease runs
out).

When the backlog is full the bot says so (busy) instead of acking into the void; when the
database cannot take the row, the user is told that nothing was recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import structlog

from domain.ports import Clock, SystemClock
from storage.inbox_store import CURRENT_REQUEST, LEASE_SECONDS, InboxClaim, InboxRow, InboxStore

log = structlog.get_logger("intake")

DEFAULT_MAX_BACKLOG = 300


class NotAdmitted(Exception):
    """The request's work cannot be taken on; ``reason`` says why, for the user."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind  # busy | duplicate | unavailable


BUSY = ("The incident bot is overloaded right now and did *not* record this. "
        "Please try again in a minute.")
UNAVAILABLE = ("The incident bot cannot reach its database right now and did *not* record "
               "this. Please try again in a minute.")


@dataclass(eq=False)
class AckedRequest(InboxClaim):
    """A Slack request in this process, from its ack until the work it started has ended."""

    body: str = ""
    content_type: str = ""
    works: int = 0
    dispatched: bool = False
    refusal: str = ""  # busy | duplicate | unavailable, when not admitted
    cut_off: bool = False  # its work was cancelled (shutdown): to be replayed, not finished
    admitted: asyncio.Future[bool] | None = field(default=None, repr=False)

    async def wait_admitted(self) -> bool:
        """Whether the work may run (its row is written); False: drop it unrun."""
        if self.admitted is None:
            return True
        return await asyncio.shield(self.admitted)


def request_key(signature: str | None, timestamp: str | None, fallback: str) -> str:
    """The same signed request sent twice has the same signature (it covers timestamp+body)."""
    basis = f"{timestamp}:{signature}" if signature else fallback
    return hashlib.sha256(basis.encode()).hexdigest()


class Intake:
    def __init__(self, store: InboxStore, clock: Clock, owner: str,
                 max_backlog: int = DEFAULT_MAX_BACKLOG) -> None:
        self.store = store
        self.clock = clock
        self.owner = owner
        self.max_backlog = max_backlog
        self.lease_clock: Clock = SystemClock()  # leases are wall time, not business time
        self.replay: Callable[[InboxRow, AckedRequest], Awaitable[None]] | None = None
        self._queue: list[AckedRequest] = []
        self._flusher: asyncio.Task[None] | None = None
        self._active: dict[int, AckedRequest] = {}  # admitted, work not ended
        self._finished: list[int] = []
        self._given_back: list[int] = []
        self._settler: asyncio.Task[None] | None = None
        self._maintenance: asyncio.Task[None] | None = None

    @property
    def backlog(self) -> int:
        return len(self._active) + len(self._queue)

    @property
    def busy(self) -> bool:
        return self.backlog >= self.max_backlog

    def begin(self, key: str, body: str, content_type: str) -> AckedRequest:
        request = AckedRequest(key=key, body=body, content_type=content_type)
        request.admitted = asyncio.get_running_loop().create_future()
        return request

    async def admit(self, request: AckedRequest) -> None:
        """Write the request's row (with the burst's others); raises NotAdmitted."""
        self._queue.append(request)
        if self._flusher is None or self._flusher.done():
            # a context of its own: the flush must not carry this request's CURRENT_REQUEST
            self._flusher = asyncio.get_running_loop().create_task(
                self._flush(), context=contextvars.Context())
        assert request.admitted is not None
        if not await asyncio.shield(request.admitted):
            # the busy answer is given before a request is begun; here the database refused it,
            # or the same signed request was already received
            raise NotAdmitted(request.refusal, UNAVAILABLE if request.refusal == "unavailable"
                              else "This request was already received.")

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the rest of the burst join this transaction
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                ids = await self.store.admit([(r.key, r.body, r.content_type) for r in batch],
                                             self.owner, self.clock.now(),
                                             lease_now=self.lease_clock.now())
            except Exception as exc:
                log.error("intake.unavailable", error=str(exc)[:300], requests=len(batch))
                for request in batch:
                    self._settle(request, None, "unavailable")
                continue
            for request, inbox_id in zip(batch, ids, strict=True):
                self._settle(request, inbox_id, "duplicate")

    def _settle(self, request: AckedRequest, inbox_id: int | None, refusal: str) -> None:
        assert request.admitted is not None
        if inbox_id is None:
            request.refusal = refusal
            request.admitted.set_result(False)
            return
        request.inbox_id = inbox_id
        self._active[inbox_id] = request
        request.admitted.set_result(True)
        self._maybe_finished(request)

    # -- the work's life ----------------------------------------------------------------------

    def work_started(self, request: AckedRequest) -> None:
        request.works += 1

    def work_ended(self, request: AckedRequest) -> None:
        request.works -= 1
        self._maybe_finished(request)

    def give_back(self, request: AckedRequest) -> None:
        """The work failed because the database was away: its row goes back to be replayed
        (by the lease keeper, once the database answers again) instead of being dropped."""
        request.cut_off = True
        if request.inbox_id is not None and request.inbox_id in self._active:
            del self._active[request.inbox_id]
            self._given_back.append(request.inbox_id)

    def dispatched(self, request: AckedRequest) -> None:
        request.dispatched = True
        self._maybe_finished(request)

    def _maybe_finished(self, request: AckedRequest) -> None:
        if request.works > 0 or not request.dispatched or request.inbox_id is None:
            return
        if request.cut_off:
            return  # stays active: given back at stop, replayed at the next start
        if self._active.pop(request.inbox_id, None) is not None:
            self._finished.append(request.inbox_id)
            if self._settler is None or self._settler.done():
                self._settler = asyncio.get_running_loop().create_task(
                    self._settle_soon(), context=contextvars.Context())

    async def _settle_soon(self) -> None:
        """Settle finished rows shortly after (a burst's together), off the ack's path."""
        await asyncio.sleep(0.2)
        try:
            await self.flush_finished()
        except Exception as exc:  # the lease keeper tries again
            log.warning("intake.settle_failed", error=str(exc)[:200])

    async def flush_finished(self) -> None:
        ids, self._finished = self._finished, []
        try:
            await self.store.finish(ids, self.clock.now())
        except Exception:
            self._finished.extend(ids)
            raise

    # -- start, the lease keeper, stop -----------------------------------------------------------

    async def resume(self, *, own_too: bool) -> int:
        """Replay what nobody is working on (at start: also this instance's own)."""
        if self.replay is None:
            return 0
        rows = await self.store.take_over(self.owner, self.lease_clock.now(), own_too=own_too)
        applied = await self.store.applied.applied([r.request_key for r in rows])
        if applied:  # their work committed before the crash: settle, never repeat
            await self.store.finish([r.id for r in rows if r.request_key in applied],
                                    self.clock.now())
            rows = [r for r in rows if r.request_key not in applied]
        for row in rows:
            request = AckedRequest(inbox_id=row.id, key=row.request_key, body=row.body,
                                   content_type=row.content_type)
            self._active[row.id] = request
            token = CURRENT_REQUEST.set(request)
            try:
                await self.replay(row, request)
            except Exception:
                log.exception("intake.replay_failed", inbox_id=row.id)
            finally:
                CURRENT_REQUEST.reset(token)
            self.dispatched(request)
        if rows:
            log.warning("intake.replayed", count=len(rows), owner=self.owner)
        return len(rows)

    def start(self) -> None:
        if self._maintenance is None:
            self._maintenance = asyncio.get_running_loop().create_task(
                self._keep(), name="intake-leases", context=contextvars.Context())

    async def _keep(self) -> None:
        """Every few seconds: settle finished rows, extend the leases of running work, and
        take over the requests of a replica that died."""
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            try:
                await self.flush_finished()
                await self.store.extend(list(self._active), self.owner,
                                        self.lease_clock.now() + timedelta(seconds=LEASE_SECONDS))
                if self._given_back:
                    await self.store.release(self._given_back, self.owner)
                    self._given_back = []
                await self.resume(own_too=False)
            except Exception as exc:  # the database may be away for a moment
                log.warning("intake.keep_failed", error=str(exc)[:200])

    async def stop(self) -> None:
        """After the drain: settle what finished, give back what did not (replayed at once by
        the next start or by another replica)."""
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
            self._maintenance = None
        with contextlib.suppress(Exception):
            await self.flush_finished()
        recorded = [i for i, r in self._active.items() if r.recorded]
        if recorded:  # applied already: settled, not replayed
            with contextlib.suppress(Exception):
                await self.store.finish(recorded, self.clock.now())
        unfinished = [i for i, r in self._active.items() if not r.recorded] + self._given_back
        if unfinished:
            with contextlib.suppress(Exception):
                await self.store.release(unfinished, self.owner)
            log.warning("intake.released_for_replay", count=len(unfinished))


def current_request() -> AckedRequest | None:
    request = CURRENT_REQUEST.get()
    return request if isinstance(request, AckedRequest) else None


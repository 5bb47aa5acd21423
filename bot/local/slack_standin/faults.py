"""Fault injection: refused work, outages, slowness, and work done whose answer is lost or late,
as real Slack shows them."""

from __future__ import annotations

import asyncio
import copy

from aiohttp import web

from bot.local.slack_standin.model import (
    _STATUS_ERRORS,
    JSON,
    Call,
    _Fault,
)
from bot.local.slack_standin.workspace import Workspace


class Faults(Workspace):
    """Queue faults and turn them into HTTP answers (or cut connections)."""

    # ------------------------------------------------------------------ fault injection

    def fail_next(self, n: int = 1, status: int = 503, *, method: str | None = None) -> None:
        """The next ``n`` API calls (of ``method``, if given) answer HTTP ``status`` (5xx)."""
        if status == 429:
            self.rate_limit_next(n, method=method)
            return
        self._faults.append(_Fault("status", n, method, status=status,
                                   error=_STATUS_ERRORS.get(status, "internal_error")))

    def rate_limit_next(self, n: int = 1, retry_after: int = 1, *, method: str | None = None) -> None:
        """The next ``n`` API calls answer 429 with ``Retry-After`` like Slack's rate limiter."""
        self._faults.append(_Fault("ratelimit", n, method, status=429, retry_after=retry_after,
                                   error="ratelimited"))

    def error_next(self, method: str, error: str, n: int = 1) -> None:
        """The next ``n`` calls of ``method`` answer HTTP 200 ``{"ok": false, "error": error}``."""
        self._faults.append(_Fault("error", n, method, status=200, error=error))

    def drop_next(self, n: int = 1, *, method: str | None = None) -> None:
        """The next ``n`` API calls have their connection cut before any response is written."""
        self._faults.append(_Fault("drop", n, method))

    def fail_after_next(self, n: int = 1, status: int = 500, *, method: str | None = None) -> None:
        """The next ``n`` API calls (of ``method``, if given) are performed, then answer HTTP
        ``status`` with ``{"ok": false, "error": "internal_error"}``: the answer is lost after the
        work was done (the message is posted, the channel created...), as Slack sometimes does.
        """
        self._after_faults.append(_Fault("fail_after", n, method, status=status, error="internal_error"))

    def drop_after_next(self, n: int = 1, *, method: str | None = None) -> None:
        """The next ``n`` API calls are performed, then their connection is cut with no answer.

        slack_sdk's default ``AsyncConnectionErrorRetryHandler`` retries such a POST by itself,
        so with a default client the call is performed twice.
        """
        self._after_faults.append(_Fault("drop_after", n, method))

    def delay_after_next(self, seconds: float, n: int = 1, *, method: str | None = None) -> None:
        """The next ``n`` API calls are performed at once, then answered only after ``seconds``
        (set it past the client's timeout to make the client give up on work that was done).
        """
        self._after_faults.append(_Fault("delay_after", n, method, delay=seconds))

    def clear_faults(self) -> None:
        """Forget queued faults and bring the service back up."""
        self._faults.clear()
        self._after_faults.clear()
        self._down = ""

    def set_down(self, down: bool = True, *, refuse: bool = False) -> None:
        """Simulate an outage of every route: 503 ``service_unavailable``, or cut connections.

        With ``refuse=True`` each request's connection is closed with no response (the client
        sees a disconnect). For a real ECONNREFUSED use :meth:`go_offline`.
        """
        self._down = ("drop" if refuse else "503") if down else ""

    async def go_offline(self) -> None:
        """Stop listening so new connections are refused; cut requests on kept-alive ones."""
        self._offline = True
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def go_online(self) -> None:
        """Listen again on the same port after :meth:`go_offline`."""
        self._offline = False
        if self._site is None and self._runner is not None:
            self._site = web.TCPSite(self._runner, self._host, self._port, reuse_address=True)
            await self._site.start()

    def set_latency(self, seconds: float, method: str | None = None) -> None:
        """Delay every call (or only ``method``) by ``seconds`` before it is answered."""
        if method is None:
            self.latency = seconds
        else:
            self.method_latency[method] = seconds

    def _take_fault(self, method: str, queue: list[_Fault] | None = None) -> _Fault | None:
        faults = self._faults if queue is None else queue
        for fault in faults:
            if fault.method is None or fault.method == method:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    faults.remove(fault)
                return fault
        return None

    def _outage(self, request: web.Request) -> web.StreamResponse | None:
        """Apply ``set_down`` / ``go_offline`` to any route."""
        if self._offline or self._down == "drop":
            return self._cut(request)
        if self._down == "503":
            return web.json_response({"ok": False, "error": "service_unavailable"}, status=503)
        return None

    async def _after_fault_response(self, call: Call, fault: _Fault, request: web.Request,
                                    body: JSON, status: int) -> web.StreamResponse:
        """The call was performed (``body`` is Slack's real answer); now lose or delay the answer."""
        call.fault, call.performed = fault.kind, copy.deepcopy(body)
        if fault.kind == "fail_after":
            return self._respond(call, {"ok": False, "error": fault.error}, status=fault.status)
        if fault.kind == "drop_after":
            call.status, call.ok, call.error = 0, False, "connection_dropped"
            return self._cut(request)
        call.status, call.ok, call.error = 0, False, "answer_pending"
        self._notify()  # the effect is visible now; only the answer is late
        await asyncio.sleep(fault.delay)
        return self._respond(call, body, status=status)

    @staticmethod
    def _cut(request: web.Request) -> web.Response:
        """Abort the TCP connection; the response object returned is never written."""
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=503)

    def _respond(self, call: Call, body: JSON, status: int = 200,
                 headers: dict[str, str] | None = None) -> web.Response:
        call.status, call.ok, call.error = status, bool(body.get("ok")), body.get("error")
        call.response = body
        # as Slack does on every Web API answer: the scopes the token was granted
        scopes = {"x-oauth-scopes": ",".join(self.granted_scopes)}
        return web.json_response(body, status=status, headers={**scopes, **(headers or {})})

    def _fault_response(self, call: Call, fault: _Fault, request: web.Request) -> web.Response:
        if fault.kind == "drop":
            call.status, call.ok, call.error = 0, False, "connection_dropped"
            return self._cut(request)
        headers = {"Retry-After": str(fault.retry_after)} if fault.kind == "ratelimit" else None
        return self._respond(call, {"ok": False, "error": fault.error}, status=fault.status, headers=headers)

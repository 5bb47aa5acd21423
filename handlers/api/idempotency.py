"""``Idempotency-Key`` on POSTs: a retried request answers what the first one did and does
nothing again, also when the retry arrives while the first is still running.

The key is claimed (a row, unique per caller and key) before the use case runs; a second
request with the key waits for the first's answer. The use case records what it made in its
own transaction (``record_idempotent_resource``), so a crash between its commit and the stored
answer still lets a later retry find the incident instead of declaring another.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiohttp import web

from handlers.api.http import ApiContext, ApiProblem, problem_for

STALE_AFTER = timedelta(seconds=60)  # an in-progress key older than this was abandoned
WAIT_SECONDS = 30.0

# run(key) -> (status, JSON body); recover(resource_id) -> the answer for what a crashed
# request made (None: run again)
Run = Callable[[str | None], Awaitable[tuple[int, Any]]]
Recover = Callable[[str], Awaitable[tuple[int, Any] | None]]


async def idempotent(ctx: ApiContext, request: web.Request, principal: str, body: bytes,
                     run: Run, recover: Recover | None = None) -> web.Response:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        status, answer = await run(None)
        return web.json_response(answer, status=status)
    if not 1 <= len(key) <= 255:
        raise ApiProblem(400, "Bad Idempotency-Key", "Idempotency-Key must be 1-255 characters.")
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode() + body).hexdigest()
    store = ctx.store
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while True:
        held = await store.claim_idempotency(principal, key, digest, ctx.clock.now())
        if held is None:
            return await _first(ctx, principal, key, run)
        if held.request_hash != digest:
            raise ApiProblem(422, "Idempotency-Key reused",
                             "This Idempotency-Key was used with a different request.")
        if held.state == "done":
            status = held.status_code or 200
            return web.json_response(held.response, status=status,
                                     headers={"Idempotent-Replayed": "true"},
                                     content_type="application/problem+json" if status >= 400
                                     else "application/json")
        now = ctx.clock.now()
        if await store.reclaim_idempotency(principal, key, now - STALE_AFTER, now):
            if held.resource_id and recover is not None:
                recovered = await recover(held.resource_id)
                if recovered is not None:
                    await store.finish_idempotency(principal, key, *recovered)
                    return web.json_response(recovered[1], status=recovered[0])
            return await _first(ctx, principal, key, run)
        if loop.time() > deadline:
            raise ApiProblem(409, "Request in progress", "A request with this Idempotency-Key "
                             "is still running; retry later.", headers={"Retry-After": "1"})
        await asyncio.sleep(0.02)  # the first request is running: wait for its answer


async def _first(ctx: ApiContext, principal: str, key: str, run: Run) -> web.Response:
    try:
        status, answer = await run(key)
    except Exception as exc:
        problem = problem_for(exc)
        if problem.status in (409, 422, 404):  # the same request would meet the same refusal
            await ctx.store.finish_idempotency(principal, key, problem.status, problem.body())
        else:  # auth, rate limits, outages: a retry may succeed
            await ctx.store.forget_idempotency(principal, key)
        raise
    await ctx.store.finish_idempotency(principal, key, status, answer)
    return web.json_response(answer, status=status)

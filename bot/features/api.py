"""The platform API (issue 17): REST for machines, webhooks out, a status page for people.

Composes the feature: the token service (bcrypt, JWT, Redis denylist failing closed, the
``redis_denylist_up`` gauge), the HTTP routes (mounted by the web app from
``container.routes``) and webhook delivery through the outbox: one lane per subscriber, so a
dead subscriber delays neither Slack nor the other subscribers. API callers meet the RACI gate
of the incident service as Slack users do: their token's or key's roles come with their actor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiohttp
import structlog
from prometheus_client import Gauge

from bot.delivery.dispatcher import Permanent, Retry
from domain.api.auth import LoginThrottle
from domain.api.webhooks import event_name, signature, wants
from domain.events import IncidentEvent
from domain.model import AuditEvent
from domain.ports import OutboxMessage, UnitOfWork
from handlers.api import auth_routes, drift, incidents, models, openapi, status
from handlers.api.http import ApiContext
from handlers.api.tokens import TokenService
from storage.api_repositories import ApiStore, RedisDenylist, SqlApiQueries, enabled_subscribers_in
from storage.outbox_store import OutboxRow

log = structlog.get_logger("api")

WEBHOOK = "webhook.deliver"  # outbox kind: one incident event to one subscriber
WEBHOOK_NOTICE = "webhook.disabled_notice"  # outbox kind: say in the incidents channel
PROBE_SECONDS = 15.0  # how often Redis is pinged, so the gauge is fresh without traffic


class ApiFeature:
    def __init__(self, container: Any) -> None:
        self.container = container
        settings = container.settings
        self.store = ApiStore(container.engine, container.outbox_store.write_lock)
        registry = container.metrics.registry
        self.denylist: RedisDenylist | None = None
        if settings.redis_url:  # without Redis there is no denylist, and no series to alert on
            self.denylist_up = Gauge("redis_denylist_up", "1 when the last token-denylist check "
                                     "reached Redis, 0 when it did not (tokens are then refused)",
                                     registry=registry)
            self.denylist_size = Gauge("mlplatform_redis_denylist_size",
                                       "Current number of denylisted JWT JTIs in Redis",
                                       registry=registry)
            self.denylist = RedisDenylist(settings.redis_url, on_state=self.denylist_up.set)
        secret = settings.jwt_secret
        if not secret:
            secret = secrets.token_urlsafe(48)
            log.warning("api.jwt_secret_unset", detail="JWT_SECRET is not set: tokens are signed "
                        "with a random per-process secret and die with the process; set it for "
                        "replicas and restarts")
        self.tokens = TokenService(self.store, container.clock, secret, self.denylist,
                                   LoginThrottle(), on_event=self.audit_auth)
        origins = frozenset(o.strip() for o in settings.cors_origins.split(",") if o.strip())
        self.ctx = ApiContext(container, self.tokens, self.store,
                              SqlApiQueries(container.engine), origins)
        self.disable_after = timedelta(days=settings.webhook_disable_after_days)
        self._http: aiohttp.ClientSession | None = None
        self._stopping = False

    async def audit_auth(self, event: str, user: str) -> None:
        """Logins, failed logins, refresh-token reuse and logouts are access-control events
        (GOV-001 7.1): audited like every other action, in a transaction of their own."""
        async with self.container.uow_factory() as uow:
            await uow.audit.add(AuditEvent(
                occurred_at=self.container.clock.now(), actor=f"api:{user}"[:255],
                actor_name=user, action=event, resource_type="api_user", resource_id=user,
                details={}))
            await uow.commit()

    # -- webhooks out ------------------------------------------------------------------------

    async def publish(self, uow: UnitOfWork, event: IncidentEvent) -> None:
        """Reaction to every incident event, in the use case's transaction: one outbox row per
        interested subscriber, in that subscriber's lane, so the event leaves only if the
        change commits."""
        details = event.details()
        name = event_name(event.action, details)
        if name is None:
            return
        subscribers = [s for s in await enabled_subscribers_in(uow)
                       if wants(s.events, name)]
        if not subscribers:
            return
        from handlers.api.incidents import incident_response

        incident = event.incident
        model = await uow.models.get(incident.model_id)
        link = await uow.slack_links.get(incident.id)
        body = {"id": uuid.uuid4().hex, "type": name,
                "occurred_at": self.container.clock.now().isoformat(),
                "actor": event.actor.id,
                "incident": incident_response(incident, model, link).model_dump(mode="json"),
                "details": details}
        for sub in subscribers:
            await uow.outbox.add(OutboxMessage(WEBHOOK, incident.id, {
                "subscriber": sub.id, "event": body}, lane=f"webhook:{sub.id}"))

    async def deliver(self, row: OutboxRow) -> None:
        sub = await self.store.subscriber(str(row.payload.get("subscriber")))
        if sub is None or sub.disabled_at is not None:
            return  # removed or disabled since: nothing to send
        body = json.dumps(row.payload["event"], separators=(",", ":")).encode()
        now = self.container.clock.now()
        headers = {"Content-Type": "application/json", "User-Agent": "incident-bot-webhooks",
                   "X-Incident-Bot-Event": str(row.payload["event"].get("type")),
                   "X-Incident-Bot-Delivery": str(row.payload["event"].get("id")),
                   "X-Incident-Bot-Signature": signature(sub.secret, int(now.timestamp()), body)}
        try:
            async with self._session().post(sub.url, data=body, headers=headers,
                                            allow_redirects=False) as resp:
                status = resp.status
        except RuntimeError as exc:  # the session closed under a delivery cut off at stop
            raise Retry("shutting down") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            await self._failed(sub.id, f"{type(exc).__name__}: {exc}")
            raise Retry(f"webhook {sub.url}: {type(exc).__name__}") from exc
        if 200 <= status < 300:
            await self.store.delivered(sub.id)
            return
        await self._failed(sub.id, f"HTTP {status}")
        raise Retry(f"webhook {sub.url}: HTTP {status}")

    def _session(self) -> aiohttp.ClientSession:
        """One connection pool for every subscriber (made on the serving loop, closed at stop)."""
        if self._stopping:  # the pool is closing: this row goes out at the next start
            raise Retry("shutting down")
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._http

    async def _failed(self, sub_id: str, error: str) -> None:
        now = self.container.clock.now()
        since = await self.store.failed(sub_id, now, error)
        if now - since < self.disable_after:
            return
        reason = f"failing since {since:%Y-%m-%d %H:%M} UTC ({error})"
        if await self.store.disable_subscriber(sub_id, reason, now):
            sub = await self.store.subscriber(sub_id)
            async with self.container.uow_factory() as uow:
                await uow.outbox.add(OutboxMessage(WEBHOOK_NOTICE, None, {
                    "text": f":warning: Webhook subscriber `{sub.url if sub else sub_id}` is "
                            f"disabled: {reason}. `incident-bot webhooks enable {sub_id}` turns "
                            "it back on.", "event_id": f"webhook-{sub_id}"}))
                await uow.audit.add(AuditEvent(
                    occurred_at=now, actor="incident-bot", actor_name="incident-bot",
                    action="webhook.disabled", resource_type="webhook_subscriber",
                    resource_id=sub_id, details={"reason": reason}))
                await uow.commit()
            self.container.dispatcher.wake()
        raise Permanent(f"subscriber disabled: {reason}")

    async def notice(self, row: OutboxRow) -> None:
        await self.container.slack_client.chat_postMessage(
            channel=self.container.settings.incident_channel, text=str(row.payload["text"]))

    # -- Redis health ------------------------------------------------------------------------

    async def probe(self) -> None:
        """Ping the denylist every few seconds: the gauge (and the RedisDenylistUnavailable
        alert) follows Redis even when no request comes."""
        assert self.denylist is not None
        while True:
            with contextlib.suppress(Exception):
                self.denylist_size.set(await self.denylist.size())
                self.denylist_up.set(1)
            await asyncio.sleep(PROBE_SECONDS)


def install(container: Any) -> None:
    feature = ApiFeature(container)
    ctx = feature.ctx
    if container.features.drift is not None:  # drift checks are part of this build
        ctx.run_drift = container.features.drift.run_submitted
    container.routes += [*auth_routes.routes(ctx), *incidents.routes(ctx), *models.routes(ctx),
                         *openapi.routes(ctx), *status.routes(ctx), *drift.routes(ctx)]
    container.service.reactions.on(IncidentEvent, feature.publish)
    container.dispatcher.handlers[WEBHOOK] = feature.deliver
    container.dispatcher.handlers[WEBHOOK_NOTICE] = feature.notice

    async def start(_: Any) -> None:
        if feature.denylist is not None:
            container.background.append(asyncio.create_task(feature.probe(), name="redis-probe"))

    async def stop(_: Any) -> None:
        if feature.denylist is not None:
            await feature.denylist.close()
        feature._stopping = True
        if feature._http is not None:
            await feature._http.close()

    container.on_start.append(start)
    container.on_stop.append(stop)


async def demo_access(stack: Any, flush: Callable[[], None] | None = None) -> None:
    """For ``incident-bot demo`` (``make run`` without Slack credentials): a demo API user and
    key, a token, and the curl lines of the README. Run from a terminal (or with
    DEMO_KEEP_SERVING=1) the demo then keeps serving on 127.0.0.1:PORT until Ctrl-C, printing
    what the bot posts in the Slack stand-in as API calls come in."""
    import os
    import signal
    import sys

    from aiohttp import web

    from domain.api.auth import ALL_SCOPES
    from handlers.api.tokens import create_key, hash_password

    container = stack.container
    store = ApiStore(container.engine, container.outbox_store.write_lock)
    password = secrets.token_urlsafe(12)
    await store.set_user("demo", hash_password(password, rounds=10),
                         ["incident_commander", "ml_platform_sre"], container.clock.now())
    _, api_key = await create_key(store, container.clock, "demo-pipeline",
                                  sorted(s.value for s in ALL_SCOPES), ["ml_platform_sre"])
    wanted = os.environ.get("DEMO_KEEP_SERVING")
    # a person at a terminal; never a test run (pytest -s leaves the terminal attached)
    serve = wanted == "1" if wanted in ("0", "1") else (
        sys.stdin.isatty() and sys.stdout.isatty() and "PYTEST_CURRENT_TEST" not in os.environ)
    base = stack.url
    if serve:
        port = container.settings.port
        try:
            await web.TCPSite(stack.runner, "127.0.0.1", port).start()
            base = f"http://127.0.0.1:{port}"
        except OSError as exc:
            print(f"\n(port {port} is busy: {exc.strerror}; the API stays on {base})")
    async with aiohttp.ClientSession() as http, http.post(
            f"{stack.url}/auth/token", json={"username": "demo", "password": password}) as resp:
        token = (await resp.json())["access_token"]
    print(f"\n\033[1mREST API\033[0m (issue 17) on {base}: user `demo`, password {password}")
    print(f"    export TOKEN={token}")
    print(f"    export API_KEY={api_key}")
    print(f"    curl -s -H \"Authorization: Bearer $TOKEN\" {base}/incidents/1")
    print(f"    curl -s -X POST -H \"Authorization: Bearer $API_KEY\" -H 'Content-Type: "
          f"application/json' -d '{{\"title\": \"Latency over 2 s\", \"severity\": \"p3\", "
          f"\"model\": \"fraud-detector\"}}' {base}/incidents")
    print(f"    open {base}/status (status page), {base}/openapi.json (OpenAPI 3.1)")
    if not serve:
        return
    print("Serving until Ctrl-C; what the bot posts in the Slack stand-in appears below.")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
        if flush is not None:
            flush()

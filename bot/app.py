"""The composition root: the one place where everything is built and wired."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import importlib
import json
import logging
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.logger.messages import (
    warning_client_prioritized_and_token_skipped,
    warning_token_skipped,
)
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.audit_log import log_audit
from bot.dispatcher import OutboxDispatcher
from bot.intake import BUSY, AckedRequest, Intake, NotAdmitted, current_request, request_key
from bot.metrics import Metrics
from bot.settings import Settings
from bot.slack_client import MeteredWebClient
from bot.slack_delivery import SlackDelivery
from domain.model import Severity
from domain.policy import Policy, default_policy
from domain.ports import Clock, SystemClock
from domain.services import IncidentService
from handlers import slack_commands, slack_events, slack_home, slack_interactions
from handlers.slack_context import SlackContext
from storage import migrate
from storage.db import create_engine, is_unavailable
from storage.inbox_store import CURRENT_REQUEST, InboxRow, InboxStore
from storage.outbox_store import OutboxStore
from storage.repositories import open_incident_counts
from storage.uow import SqlUnitOfWork, uow_factory, write_lock_for

log = structlog.get_logger("bot")

Hook = Callable[["Container"], Awaitable[None]]

# Feature modules, each with ``install(container) -> None``: they register their Bolt
# listeners, /incident verbs (``container.slack.extensions["commands"]``), outbox delivery
# handlers (``container.dispatcher.handlers``), service observers, HTTP routes and start/stop
# hooks. A module that is not present is skipped, so features land one at a time.
FEATURES = (
    "scheduler.wiring",  # SLO clocks, update cadences, escalation (issue 3)
    "runbooks.wiring",  # runbook matching and checklists (issue 8)
    "bot.governance_wiring",  # roles, PII scrubbing, audit chain, postmortems (issue 6)
    "bot.postmortem_wiring",  # postmortem clock, action items, close refused without them (issue 6)
    "bot.drift_wiring",  # scheduled drift checks (issue 4)
    "bot.pagerduty_wiring",  # PagerDuty and Alertmanager webhooks (issue 5)
    "bot.iac_wiring",  # IaC drift ingestion (issue 7)
    "scheduler.housekeeping",  # delivered outbox rows and seen event ids kept LOG_RETENTION_DAYS
)


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
                 intake: Intake | None = None) -> None:
        self.max_wait = max_wait
        self.intake = intake  # the work of an acked request runs once its inbox row is written
        self._workers = asyncio.Semaphore(workers)
        self._inflight = 0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._working: set[asyncio.Task[None]] = set()
        self._tails: dict[str, asyncio.Task[None]] = {}  # the last work spawned per key

    def enter(self) -> None:
        self._inflight += 1
        self._quiet.clear()

    def leave(self) -> None:
        self._inflight -= 1
        if self._inflight <= 0:
            self._inflight = 0
            self._quiet.set()

    async def wait_quiet(self) -> None:
        if self._inflight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._quiet.wait(), self.max_wait)

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
            if request is not None and not await request.wait_admitted():
                return  # not recorded (busy, database down, a replay): the user was told
            if before is not None:
                await asyncio.wait([before])  # its outcome is its own; only the order matters
            await self.wait_quiet()
            async with self._workers:
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


@dataclass
class Container:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    policy: Policy
    metrics: Metrics
    service: IncidentService
    slack_client: AsyncWebClient
    bolt: AsyncApp
    slack: SlackContext
    outbox_store: OutboxStore
    dispatcher: OutboxDispatcher
    uow_factory: Callable[[], SqlUnitOfWork]
    intake: Intake
    ack_first: AckFirst = field(default_factory=AckFirst)
    drain_seconds: float = 10.0  # how long a shutdown lets acked work finish before cutting it
    features: dict[str, Any] = field(default_factory=dict)  # what feature modules expose
    # The one metronome (ARCHITECTURE: APScheduler): features add their jobs at install; it runs
    # only when TICK_SECONDS > 0, since tests drive time and jobs themselves.
    scheduler: AsyncIOScheduler = field(default_factory=lambda: AsyncIOScheduler(timezone="UTC"))
    background: list[asyncio.Task[Any]] = field(default_factory=list)
    on_start: list[Hook] = field(default_factory=list)
    on_stop: list[Hook] = field(default_factory=list)
    routes: list[web.RouteDef] = field(default_factory=list)

    async def start(self, migrate_db: bool = True) -> None:
        if migrate_db:
            await migrate.upgrade(self.engine)
        self.dispatcher.start()
        # acked requests whose work a crash or a shutdown cut off: before serving new ones
        replayed = await self.intake.resume(own_too=True)
        if replayed:
            log.warning("start.replayed_acked_requests", count=replayed)
        self.intake.start()
        for hook in self.on_start:
            await hook(self)
        if self.settings.tick_seconds > 0 and self.scheduler.get_jobs():
            self.scheduler.start()

    @staticmethod
    def freeze_heap() -> None:
        """Move everything built at start-up out of the garbage collector's sight.

        A full collection walks every tracked object; with Bolt, slack_sdk, SQLAlchemy and friends
        imported, each took 90-135 ms during benchmarks/ack_latency.py, stalling whichever acks
        were in flight (the p99). Start-up objects live as long as the process, so freezing them
        loses nothing (the pattern CPython documents for ``gc.freeze``).
        """
        gc.collect()
        gc.freeze()
        # Fewer, cheaper collections for the request path: a generation-0 pass every 50k
        # allocations instead of 700 (Instagram's and gunicorn users' common setting).
        gc.set_threshold(50_000, 20, 20)

    async def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        cut_off = await self.ack_first.drain(timeout=self.drain_seconds)
        if cut_off:  # not lost: their requests are in the inbox, replayed at the next start
            log.warning("shutdown.listeners_cut_off", count=cut_off)
        await self.intake.stop()
        for hook in reversed(self.on_stop):
            await hook(self)
        await self.dispatcher.stop()
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        await self.engine.dispose()


def load_policy(settings: Settings) -> Policy:
    if not settings.policy_file:
        return default_policy()
    from bot.policy_loader import load_policy_file  # the policy file loader (issue 3)

    return load_policy_file(settings.policy_file)


def build(settings: Settings, clock: Clock | None = None, policy: Policy | None = None) -> Container:
    clock = clock or SystemClock()
    policy = policy or load_policy(settings)
    metrics = Metrics()
    engine = create_engine(settings.database_url)
    lock = write_lock_for(engine)
    make_uow = uow_factory(engine, clock, lock)
    outbox_store = OutboxStore(engine, lock)

    dispatcher_ref: list[OutboxDispatcher] = []

    def after_commit(uow: Any) -> None:
        for event in getattr(uow, "audit_added", []):
            log_audit(event)
            if event.action == "incident.created":
                metrics.incidents_total.labels(event.details.get("severity", ""),
                                               event.details.get("trigger_source", "")).inc()
        if getattr(getattr(uow, "outbox", None), "added", 0) and dispatcher_ref:
            dispatcher_ref[0].wake()

    service = IncidentService(make_uow, clock, policy, after_commit=after_commit,
                              read_uow_factory=uow_factory(engine, clock, None))
    client = MeteredWebClient(token=settings.slack_bot_token or "xoxb-not-configured",
                              base_url=settings.slack_api_url, metrics=metrics)
    # Bolt gets a tokenless client: the token reaches listeners through BotIdentity's result.
    bolt_client = AsyncWebClient(base_url=settings.slack_api_url)
    logging.getLogger("slack_bolt.AsyncApp").addFilter(_TOKEN_FROM_ENV_UNUSED)
    bolt = AsyncApp(client=bolt_client,
                    signing_secret=settings.slack_signing_secret or "unsigned",
                    authorize=BotIdentity(client, clock,
                                          settings.slack_allowed_teams).authorize_function(),
                    # Listeners run inline: they ack and hand their work to AckFirst.spawn
                    process_before_response=True,
                    raise_error_for_unhandled_request=False)
    ctx = SlackContext(service=service, policy=policy, clock=clock, client=client,
                       incident_channel=settings.incident_channel)
    delivery = SlackDelivery(client, make_uow, clock, policy, settings.incident_channel)
    client.resolve_channel = delivery.channel_id_for
    dispatcher = OutboxDispatcher(
        outbox_store, clock, delivery.handlers(), poll_seconds=settings.outbox_poll_seconds,
        on_result=lambda kind, result, _s: metrics.outbox_deliveries.labels(kind, result).inc(),
        base_backoff=settings.outbox_backoff_seconds,
        max_backoff=settings.outbox_max_backoff_seconds, owner=instance_id(settings))
    dispatcher_ref.append(dispatcher)
    intake = Intake(InboxStore(engine, lock), clock, instance_id(settings),
                    max_backlog=settings.intake_max_backlog)
    ack_first = AckFirst(intake=intake)
    dispatcher.yield_to = ack_first.wait_quiet
    ctx.run_after_ack = ack_first.spawn
    slack_commands.register(bolt, ctx)
    slack_interactions.register(bolt, ctx)
    slack_events.register(bolt, ctx)
    slack_home.register(bolt, ctx)
    container = Container(settings=settings, clock=clock, engine=engine, policy=policy,
                          metrics=metrics, service=service, slack_client=client, bolt=bolt,
                          slack=ctx, outbox_store=outbox_store, dispatcher=dispatcher,
                          uow_factory=make_uow, ack_first=ack_first, intake=intake)
    intake.replay = functools.partial(_replay, bolt)
    container.features["announcement_extras"] = delivery.extras
    for name in FEATURES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue  # the feature is not part of this build
            raise
        module.install(container)
    return container


async def _replay(bolt: AsyncApp, row: InboxRow, _request: AckedRequest) -> None:
    """Run an acked request's listener again, as it ran when Slack sent it (its answer went
    out long ago and is dropped). Socket Mode requests skip Bolt's signature check, which the
    original passed; response_url stays valid for 30 minutes."""
    await bolt.async_dispatch(AsyncBoltRequest(
        body=row.body, headers={"content-type": row.content_type}, mode="socket_mode"))


def instance_id(settings: Settings) -> str:
    """Who claims outbox rows and Slack requests: ``INSTANCE_ID``, else host and port. The
    same after a restart (a crashed container comes back with its host name and port), so a
    restarted bot takes back at once what it held, and different for each replica."""
    return settings.instance_id or f"{socket.gethostname()}:{settings.port}"


class _DropTokenSkipped(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and warns that our tokenless client makes it unused,
    which is the point (see BotIdentity): one misleading line at every start."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in (warning_token_skipped(),
                                           warning_client_prioritized_and_token_skipped())


_TOKEN_FROM_ENV_UNUSED = _DropTokenSkipped()


class BotIdentity:
    """Bolt's ``authorize``: the configured bot token, with the bot's identity from ``auth.test``.

    Bolt's default single-team authorization calls ``auth.test`` on the first request and
    refuses every request while that fails, so a Slack outage right after start would lose
    declarations. Here the identity is cached, re-asked at most every 30 s while unknown, and
    a request is never refused because Slack is unreachable.

    Only the installed workspace is served (issue 14): a correctly signed request from another
    team (Slack Connect, another workspace of an Enterprise Grid, a multi-workspace app) is
    refused unless its team is in ``SLACK_ALLOWED_TEAMS``. While ``auth.test`` has not answered
    yet the installed team is unknown: then only the allow-list, if any, is enforced.
    """

    RETRY_SECONDS = 30.0

    def __init__(self, client: AsyncWebClient, clock: Clock,
                 allowed_teams: str | None = None) -> None:
        self.client = client
        self.clock = clock
        self.identity: dict[str, Any] | None = None
        self._last_try: float | None = None
        if allowed_teams is None:  # not passed by build(): the setting, from the environment
            import os

            allowed_teams = os.environ.get("SLACK_ALLOWED_TEAMS", "")
        self.allowed_teams = frozenset(t.strip() for t in allowed_teams.split(",") if t.strip())

    def team_allowed(self, enterprise_id: str | None, team_id: str | None) -> bool:
        """The installed team (or enterprise), or one on the allow-list."""
        installed = {v for v in ((self.identity or {}).get("team_id"),
                                 (self.identity or {}).get("enterprise_id")) if v}
        if not installed and not self.allowed_teams:
            return True  # auth.test not answered yet and no allow-list: never refuse on doubt
        if team_id:
            return team_id in installed or team_id in self.allowed_teams
        # an org-wide (Enterprise Grid) request may carry only its enterprise
        return not enterprise_id or enterprise_id in installed or enterprise_id in self.allowed_teams

    async def ensure(self) -> None:
        if self.identity is not None:
            return
        now = self.clock.now().timestamp()
        if self._last_try is not None and now - self._last_try < self.RETRY_SECONDS:
            return
        self._last_try = now
        try:
            response = await asyncio.wait_for(self.client.auth_test(), timeout=2.0)
            self.identity = dict(response.data) if isinstance(response.data, dict) else {}
        except Exception as exc:  # Slack down: proceed without the identity for now
            log.warning("slack.auth_test_failed", error=str(exc)[:200])

    def authorize_function(self) -> Callable[..., Awaitable[AuthorizeResult]]:
        """A plain function: Bolt picks the arguments to pass by their names."""

        async def authorize(enterprise_id: str | None, team_id: str | None,
                            context: Any = None) -> AuthorizeResult:
            await self.ensure()
            # in a Slack Connect channel the acting user's own team counts too (Bolt's actor)
            actor_team = context.get("actor_team_id") if context is not None else None
            if not self.team_allowed(enterprise_id, team_id) or (
                    actor_team and actor_team != team_id and not self.team_allowed(None, actor_team)):
                from slack_sdk.errors import SlackApiError

                log.warning("slack.team_refused", team_id=team_id, enterprise_id=enterprise_id,
                            actor_team_id=actor_team)
                # Bolt takes this as "no installation for this team": no listener runs, and
                # the user gets Bolt's "app not available in this workspace" reply
                raise SlackApiError("team not allowed", {"ok": False, "error": "team_not_allowed"})
            identity = self.identity or {}
            return AuthorizeResult(
                enterprise_id=enterprise_id or identity.get("enterprise_id"),
                team_id=team_id or identity.get("team_id"),
                bot_token=self.client.token,
                bot_id=identity.get("bot_id"),
                bot_user_id=identity.get("user_id"),
            )

        return authorize


def web_app(container: Container) -> web.Application:
    """Our aiohttp application: Bolt's dispatcher mounted beside webhooks, health, metrics."""

    @web.middleware
    async def observe(request: web.Request, handler: Any) -> web.StreamResponse:
        started = time.perf_counter()
        trace_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(trace_id=trace_id)
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            endpoint = request.match_info.route.resource.canonical if (
                request.match_info.route.resource) else "unmatched"
            container.metrics.api_request_duration.labels(
                request.method, endpoint, str(status)).observe(time.perf_counter() - started)
            structlog.contextvars.unbind_contextvars("trace_id")

    # Socket Mode needs no signing secret (Slack's requests come over the socket); without
    # one, /slack/events refuses everything rather than the bot refusing to start
    secret = container.settings.slack_signing_secret
    verifier = SignatureVerifier(secret) if secret else None

    async def slack_events(request: web.Request) -> web.Response:
        container.ack_first.enter()
        try:
            return await answer_slack(request)
        finally:
            container.ack_first.leave()

    async def answer_slack(request: web.Request) -> web.Response:
        """Verify the signature before parsing, so garbage gets 401 or 400, never a 5xx."""
        raw = await request.read()
        if verifier is None:
            return web.json_response({"error": "HTTP mode is not enabled: set "
                                      "SLACK_SIGNING_SECRET"}, status=401)
        try:
            valid = verifier.is_valid_request(raw, dict(request.headers))
        except (ValueError, OverflowError):  # a timestamp that is not a number
            valid = False
        if not valid:
            return web.json_response({"error": "invalid or stale Slack signature"}, status=401)
        try:
            bolt_request = await to_bolt_request(request)
        except (ValueError, UnicodeDecodeError, TypeError, AttributeError, KeyError,
                IndexError) as exc:  # Bolt's context builder on a body that is no Slack object
            log.warning("slack.malformed_request", error=str(exc)[:200])
            return web.json_response({"error": f"malformed payload: {exc}"[:300]}, status=400)
        problem = payload_shape_problem(bolt_request.body)
        if problem:
            log.warning("slack.malformed_payload", error=problem)
            return web.json_response({"error": f"malformed payload: {problem}"}, status=400)
        intake = container.intake
        if intake.busy:
            log.warning("intake.busy", backlog=intake.backlog)
            return not_taken(bolt_request.body, NotAdmitted("busy", BUSY))
        acked = intake.begin(
            request_key(request.headers.get("X-Slack-Signature"),
                        request.headers.get("X-Slack-Request-Timestamp"), raw.hex()[:128]),
            raw.decode("utf-8", "replace"), request.headers.get("Content-Type", ""))
        return await answer_durably(acked, bolt_request)

    async def answer_durably(request: AckedRequest, bolt_request: AsyncBoltRequest
                             ) -> web.Response:
        """Dispatch to Bolt; if a listener handed work off, answer only once the request is on
        disk (the work waits for that too), else say plainly that nothing was recorded."""
        token = CURRENT_REQUEST.set(request)
        try:
            bolt_response = await container.bolt.async_dispatch(bolt_request)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            # Bolt's matchers assume Slack-shaped payloads; a signed but malformed one lands here.
            log.warning("slack.malformed_payload", error=repr(exc)[:200])
            return web.json_response({"error": "malformed payload"}, status=400)
        finally:
            CURRENT_REQUEST.reset(token)
        try:
            if request.works:
                try:
                    await container.intake.admit(request)
                except NotAdmitted as refused:
                    if refused.kind == "duplicate":  # the same signed request, sent again
                        log.warning("slack.replayed_request_ignored")
                        return web.Response(status=200)
                    return not_taken(bolt_request.body, refused)
            return await to_aiohttp_response(bolt_response)
        finally:
            container.intake.dispatched(request)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(_: web.Request) -> web.Response:
        try:
            async with container.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            revision = await migrate.current_revision(container.engine)
        except Exception as exc:  # report, don't crash: the probe decides what to do
            # the reason goes to the log; the public answer names no host, port or user
            log.warning("ready.database_unavailable", error=str(exc)[:300])
            return web.json_response({"status": "unavailable",
                                      "error": f"database unreachable ({type(exc).__name__})"},
                                     status=503)
        head = migrate.head_revision()
        if revision != head:
            return web.json_response({"status": "migrating", "revision": revision,
                                      "head": head}, status=503)
        return web.json_response({"status": "ready", "revision": revision})

    async def metrics(_: web.Request) -> web.Response:
        """Always answers: with the database away, the last values it gave and
        incident_bot_database_up 0, so the outbox alerts are not blind exactly then."""
        try:
            async with asyncio.timeout(5):
                depth, age = await container.outbox_store.stats(container.clock.now())
                # from the database, not a counter: true across replicas and restarts
                open_by_severity = await open_incident_counts(container.engine)
        except Exception as exc:
            log.warning("metrics.database_unavailable", error=str(exc)[:200])
            container.metrics.database_up.set(0)
        else:
            container.metrics.database_up.set(1)
            container.metrics.outbox_depth.set(depth)
            container.metrics.outbox_oldest_age.set(age)
            for severity in Severity:
                container.metrics.incidents_open.labels(severity.value).set(
                    open_by_severity.get(severity.value, 0))
        body, content_type = container.metrics.render()
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application(middlewares=[observe], client_max_size=5 * 1024 * 1024)
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics)
    app.router.add_routes(container.routes)
    return app


async def connect_socket_mode(container: Container) -> Any:
    """Connect the Bolt app to Slack over Socket Mode (``SLACK_APP_TOKEN``, an ``xapp-`` token).

    The socket client opens its connection with ``apps.connections.open`` through the Bolt app's
    Web API client, so ``SLACK_API_URL`` points it at a stand-in as well. Envelopes are acked
    only once the work they started is in the inbox, as over HTTP. Returns the handler;
    ``await handler.close_async()`` disconnects.
    """
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
    from slack_bolt.adapter.socket_mode.async_internals import (
        run_async_bolt_app,
        send_async_response,
    )
    from slack_bolt.response import BoltResponse

    intake = container.intake

    class DurableSocketModeHandler(AsyncSocketModeHandler):
        async def handle(self, client: Any, req: Any) -> None:
            started = time.time()
            payload = req.payload if isinstance(req.payload, dict) else {}
            if intake.busy:
                status, body = refusal(payload, NotAdmitted("busy", BUSY))
                await send_async_response(client, req, BoltResponse(
                    status=status, body=json.dumps(body)), started)
                return
            acked = intake.begin(request_key(None, None, f"socket:{req.envelope_id}"),
                                 json.dumps(payload), "application/json")
            token = CURRENT_REQUEST.set(acked)
            try:
                response = await run_async_bolt_app(self.app, req)
            finally:
                CURRENT_REQUEST.reset(token)
            try:
                if acked.works:
                    try:
                        await intake.admit(acked)
                    except NotAdmitted as refused:
                        status, body = (200, {}) if refused.kind == "duplicate" else refusal(
                            payload, refused)
                        response = BoltResponse(status=status, body=json.dumps(body) if body
                                                else "")
            finally:
                intake.dispatched(acked)
            await send_async_response(client, req, response, started)

    handler = DurableSocketModeHandler(container.bolt, container.settings.slack_app_token)
    await handler.connect_async()
    return handler


def refusal(body: dict[str, Any], refused: NotAdmitted) -> tuple[int, dict[str, Any]]:
    """How to tell Slack (and the user) that a request was not taken on, in the form each kind
    of request allows: an ephemeral text for a command, a form error for a modal, and 503 for
    clicks and events (Slack shows the click failed, and retries an event later)."""
    text = f":hourglass: {refused}"
    if body.get("command"):
        return 200, {"response_type": "ephemeral", "text": text}
    if body.get("type") == "view_submission":
        blocks = ((body.get("view") or {}).get("blocks")) or []
        inputs = [b.get("block_id") for b in blocks if isinstance(b, dict)
                  and b.get("type") == "input" and b.get("block_id")]
        if inputs:
            return 200, {"response_action": "errors", "errors": {inputs[0]: str(refused)[:150]}}
    return 503, {"error": str(refused)}


def not_taken(body: dict[str, Any], refused: NotAdmitted) -> web.Response:
    status, answer = refusal(body, refused)
    return web.json_response(answer, status=status,
                             headers={"Retry-After": "30"} if status == 503 else None)


def payload_shape_problem(body: Any) -> str | None:
    """What Bolt's context builder, its matchers or our listeners would trip on in a signed
    payload, as a 400 reason (else None). Slack sends objects where these expect objects, short
    strings for ids, and valid Unicode; anything else is refused here rather than half-handled."""
    if not isinstance(body, dict):
        return "a Slack payload is a JSON object"
    bad_text: list[str] = []

    def walk(value: Any, where: str, depth: int = 0) -> None:
        """Lone surrogates can be neither stored nor sent on (free text keeps its NULs: the
        domain's text boundary strips those)."""
        if bad_text or depth > 40:
            if depth > 40:
                bad_text.append(f"{where} is nested too deeply")
            return
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                bad_text.append(f"{where} is not valid text")
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key, where, depth + 1)
                walk(item, f"{where}.{key}"[:80], depth + 1)
        elif isinstance(value, list):
            for item in value:
                walk(item, f"{where}[]", depth + 1)

    def id_problem(value: Any, where: str) -> str | None:
        if value is not None and not (isinstance(value, str) and len(value) <= 255
                                      and "\x00" not in value):
            return f"{where} must be a short string"
        return None

    def object_problem(value: Any, where: str, *, may_be_id: bool = False) -> str | None:
        """An object (or, where Slack allows it, an id string) whose ids are strings."""
        if value is None:
            return None
        if isinstance(value, str) and may_be_id:
            return id_problem(value, where)
        if not isinstance(value, dict):
            return f"{where} must be an object"
        for key in ("id", "team_id", "enterprise_id", "user_id", "channel_id", "name", "username",
                    "type", "callback_id", "user", "channel", "team", "ts", "thread_ts", "subtype",
                    "bot_id", "tab", "app_installed_team_id", "message_ts", "execution_id"):
            problem = id_problem(value.get(key), f"{where}.{key}")
            if problem:
                return problem
        return None

    walk(body, "payload")
    if bad_text:
        return bad_text[0]
    for key in ("type", "team_id", "user_id", "channel_id", "enterprise_id", "api_app_id",
                "trigger_id", "thread_ts", "command", "callback_id", "function_execution_id",
                "bot_access_token", "event_id", "token", "challenge", "user_name", "channel_name",
                "team_domain"):
        problem = id_problem(body.get(key), key)
        if problem:
            return problem
    if "command" in body and not (isinstance(body.get("user_id"), str) and body["user_id"]):
        return "slash commands need a user_id"
    if not isinstance(body.get("text", ""), str):
        return "text must be a string"

    def url_problem(url: Any, where: str) -> str | None:
        """Bolt answers through it (even to refuse a workspace): it must be one it can call."""
        if url in (None, ""):
            return None
        if not (isinstance(url, str) and url.startswith(("https://", "http://"))
                and len(url) <= 2048 and not any(c.isspace() for c in url)):
            return f"{where} must be an http(s) URL"
        return None

    problem = url_problem(body.get("response_url"), "response_url")
    if problem:
        return problem
    for key in ("team", "user", "enterprise", "channel"):
        problem = object_problem(body.get(key), key, may_be_id=True)
        if problem:
            return problem
    if "event" in body and not isinstance(body["event"], dict):  # Bolt reads event.get(...)
        return "event must be an object"
    for key in ("container", "message", "previous_message", "item", "assistant_thread",
                "function_data", "view", "event"):
        problem = object_problem(body.get(key), key)
        if problem:
            return problem
    authorizations = body.get("authorizations")
    if authorizations is not None and not (isinstance(authorizations, list) and all(
            object_problem(a, "authorization") is None for a in authorizations)):
        return "authorizations must be a list of objects"
    urls = body.get("response_urls")
    if urls is not None and not (isinstance(urls, list) and all(
            isinstance(u, dict) and url_problem(u.get("response_url"), "") is None for u in urls)):
        return "response_urls must be a list of objects with http(s) URLs"
    kind = body.get("type")
    if kind in ("view_submission", "view_closed"):
        view = body.get("view")
        if not isinstance(view, dict) or not isinstance(view.get("type"), str):
            return "view payloads need a view object with a type"
        state = view.get("state", {})
        values = state.get("values", {}) if isinstance(state, dict) else None
        if not isinstance(values, dict) or not all(
                isinstance(block, dict) and all(isinstance(e, dict) for e in block.values())
                for block in values.values()):
            return "view.state.values must map block ids to objects of action states"
        for block in values.values():
            for element in block.values():
                option = element.get("selected_option")
                if option is not None and not (isinstance(option, dict) and isinstance(
                        option.get("value", ""), str)):
                    return "a selected option must be an object with a string value"
                for key in ("value", "selected_date", "selected_time", "selected_user",
                            "selected_channel", "selected_conversation"):
                    if not isinstance(element.get(key) or "", str):
                        return f"an input's {key} must be a string"
                for key in ("selected_options", "selected_users", "selected_channels",
                            "selected_conversations"):
                    if not isinstance(element.get(key) or [], list):
                        return f"an input's {key} must be a list"
        if not isinstance(view.get("private_metadata", ""), str):
            return "view.private_metadata must be a string"
    if kind in ("block_actions", "view_submission", "view_closed", "shortcut",
                "message_action") and not isinstance(body.get("user"), dict):
        return f"{kind} payloads need a user object"
    if kind in ("block_actions", "view_submission", "view_closed", "shortcut", "message_action"
                ) and not isinstance(body["user"].get("id"), str):
        return f"{kind} payloads need a user id"
    if kind == "block_actions":
        actions = body.get("actions")
        if not (isinstance(actions, list) and actions and all(
                isinstance(a, dict) and isinstance(a.get("action_id"), str)
                and isinstance(a.get("block_id", ""), str) for a in actions)):
            return "block_actions payloads need a list of actions with action ids"
        if not isinstance(body.get("trigger_id"), str):
            return "block_actions payloads need a trigger_id"
        for action in actions:
            if not isinstance(action.get("value", ""), str) or not isinstance(
                    action.get("selected_option") or {}, dict):
                return "an action's value must be a string"
    if kind in ("shortcut", "message_action") and not isinstance(body.get("callback_id"), str):
        return f"{kind} payloads need a callback_id"
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return "event_callback payloads need an event object with a type"
        if not isinstance(event.get("text") or "", str):
            return "an event's text must be a string"
    return None


async def serve_http(container: Container, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(web_app(container), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner

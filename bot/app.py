"""The composition root: the one place where everything is built and wired.

The process around it lives beside it: :mod:`bot.web` (the HTTP app and Socket Mode),
:mod:`bot.ack` (AckFirst) and :mod:`bot.slack_auth` (who the bot is to Slack).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict

import structlog
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.ack import AckFirst
from bot.audit_log import log_audit
from bot.delivery.dispatcher import OutboxDispatcher
from bot.delivery.slack import SlackDelivery
from bot.delivery.slack_client import MeteredWebClient
from bot.features import api as api_feature
from bot.features import channel_lifecycle as channel_lifecycle_feature
from bot.features import drift as drift_feature
from bot.features import governance as governance_feature
from bot.features import iac as iac_feature
from bot.features import insights as insights_feature
from bot.features import message_shortcuts as message_shortcuts_feature
from bot.features import model_actions as model_actions_feature
from bot.features import note_changes as note_changes_feature
from bot.features import pagerduty as pagerduty_feature
from bot.features import postmortems as postmortems_feature
from bot.features import related as related_feature
from bot.features import roles as roles_feature
from bot.features.drift_jobs import DriftRunner
from bot.intake import AckedRequest, Intake
from bot.metrics import Metrics
from bot.settings import Settings
from bot.slack_auth import TOKEN_FROM_ENV_UNUSED, BotIdentity
from bot.slack_ui.messages import SlackMessages
from bot.tracing import Tracing
from bot.tracing import from_settings as tracing_from_settings
from domain.catchup import CatchUps
from domain.channel_lifecycle import ChannelLifecycle
from domain.governance.roles import RoleGrants
from domain.iac.decisions import IacDrift
from domain.model import Incident
from domain.paging.pagerduty import PagerDutyEvents
from domain.policy import Policy, default_policy
from domain.ports import Clock, SystemClock
from domain.related import RelatedIncidents
from domain.services import IncidentService
from handlers import slack_commands, slack_events, slack_home, slack_interactions
from handlers.slack_context import SlackContext
from runbooks import wiring as runbooks_feature
from scheduler import housekeeping
from scheduler import wiring as scheduler_feature
from scheduler.clocks import ClockTicker
from storage import migrate
from storage.db import Engine, create_engine, normalise_url
from storage.inbox_store import AppliedRequests, InboxRow, InboxStore, inbox_url
from storage.outbox_store import OutboxStore
from storage.uow import SqlUnitOfWork, uow_factory, write_lock_for
from storage.write_lock import WriteLock

log = structlog.get_logger("bot")

Hook = Callable[["Container"], Awaitable[None]]



class Feature(Protocol):
    """A feature module: its ``install`` registers the feature's Bolt listeners, /incident
    verbs (``container.slack.verbs.add``, see handlers/verbs.py), outbox delivery handlers
    (``container.dispatcher.handlers``), reactions to incident events
    (``container.service.reactions.on``), HTTP routes (``container.routes``),
    jobs and start/stop hooks, and sets its field of ``container.features``."""

    def install(self, container: Container) -> None: ...


# Installed in this order (governance before postmortems: the close gate needs its hook).
# Plain imports: a misspelt or missing module fails at import, never silently skipped.
FEATURES: tuple[Feature, ...] = (
    scheduler_feature,  # SLO clocks, update cadences, escalation (issue 3)
    runbooks_feature,  # runbook matching and checklists (issue 8)
    governance_feature,  # roles, PII scrubbing, audit chain, postmortems (issue 6)
    postmortems_feature,  # postmortem clock, action items, close refused without them (issue 6)
    drift_feature,  # scheduled drift checks (issue 4)
    pagerduty_feature,  # PagerDuty and Alertmanager webhooks (issue 5)
    iac_feature,  # IaC drift ingestion (issue 7)
    housekeeping,  # delivered outbox rows and seen event ids kept LOG_RETENTION_DAYS
    api_feature,  # REST API, webhooks out, status page (issue 17)
    insights_feature,  # /incident stats, weekly digest, tracker export (issue 21)
    model_actions_feature,  # registry sync, what changed, rollback, accept drift, retrain (issue 18)
    message_shortcuts_feature,  # Add to timeline / Declare incident on a message (issue 19: 2)
    note_changes_feature,  # key notes by reaction or pin, edits and deletes followed (issue 19: 3, 4)
    channel_lifecycle_feature,  # channel names, private incidents, archive after close (issue 19: 8)
    related_feature,  # related and duplicate incidents, catch-up on join (issue 19: 9, 5)
    roles_feature,  # roles beyond the commander, update-reminder snooze (issue 19: 1, 6)
)


class GovernanceHandles(TypedDict):
    """What governance exposes: the role grants, its refusal audits still being written, the gate."""

    grants: RoleGrants
    pending: set[asyncio.Task[Any]]
    gate: governance_feature.RoleGate


@dataclass
class Features:
    """What feature modules expose to each other, the CLI and tests: one typed field per
    handle, ``None`` until the feature's ``install`` sets it. A new handle is a new field."""

    # lines added under the announcement by features (runbook progress, ...)
    announcement_extras: list[Callable[[Incident], Awaitable[str | None]]] = field(default_factory=list)
    # older incidents offered as "This is the same" on an announcement (issue 19 item 9)
    announcement_offers: list[Callable[[Incident], Awaitable[Incident | None]]] = field(
        default_factory=list)
    clocks: ClockTicker | None = None
    runbooks: runbooks_feature.RunbookLibrary | None = None
    governance: GovernanceHandles | None = None
    # callbacks ``(view, body)`` once a postmortem draft is posted; set by governance
    postmortem_posted: list[Callable[[Any, dict[str, Any]], Awaitable[None]]] | None = None
    postmortem_reminders: Callable[[], Awaitable[int]] | None = None
    drift: DriftRunner | None = None
    drift_scheduler: drift_feature.DriftScheduler | None = None
    pagerduty: PagerDutyEvents | None = None
    iac: IacDrift | None = None
    iac_watcher: iac_feature.ReportWatcher | None = None
    housekeeping: Callable[[], Awaitable[dict[str, int]]] | None = None
    insights: insights_feature.Insights | None = None
    model_actions: model_actions_feature.ModelActionsFeature | None = None
    slack_delivery: SlackDelivery | None = None  # the Slack outbox deliveries (build sets it)
    channel_lifecycle: ChannelLifecycle | None = None  # private incidents, archiving (issue 19)
    related: RelatedIncidents | None = None
    catchups: CatchUps | None = None



@dataclass
class Container:
    settings: Settings
    clock: Clock
    engine: Engine
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
    features: Features = field(default_factory=Features)  # what feature modules expose
    # The one metronome (ARCHITECTURE: APScheduler): features add their jobs at install; it runs
    # only when TICK_SECONDS > 0, since tests drive time and jobs themselves.
    scheduler: AsyncIOScheduler = field(default_factory=lambda: AsyncIOScheduler(timezone="UTC"))
    background: list[asyncio.Task[Any]] = field(default_factory=list)
    on_start: list[Hook] = field(default_factory=list)
    on_stop: list[Hook] = field(default_factory=list)
    routes: list[web.RouteDef] = field(default_factory=list)
    # OpenTelemetry: the tracer every part was built with; shut down (flushed) at stop when
    # built here from the settings, only flushed when the caller (a test) passed its own
    tracing: Tracing = field(default_factory=Tracing.off)
    owns_tracing: bool = False
    admin: web.AppRunner | None = None  # the ADMIN_PORT listener (/metrics, /ready, /health)

    async def start(self, migrate_db: bool = True, serving: bool = True) -> None:
        """Start the process's parts. ``serving=False`` is a one-shot command (the CLI): it
        delivers its own outbox rows in the foreground (``dispatcher.drain_once``) and must
        not take over, as "its own", what a server on this host holds (claims, acked requests).
        """
        if migrate_db:
            await migrate.upgrade(self.engine)
        if self.intake.store.engine is not self.engine:
            await self.intake.store.ensure_schema()
        if serving:
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
        if serving and self.settings.admin_port is not None:
            from bot.web import serve_admin

            self.admin = await serve_admin(self, self.settings.host, self.settings.admin_port)

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
        if self.admin is not None:  # probes see the process going at once
            await self.admin.cleanup()
            self.admin = None
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
        close_client = getattr(self.slack_client, "close", None)  # its kept HTTP session
        if close_client is not None:
            await close_client()
        await self.engine.dispose()
        if self.intake.store.engine is not self.engine:
            await self.intake.store.engine.dispose()
        if self.owns_tracing:
            self.tracing.shutdown()  # exports the spans still buffered
        elif self.tracing.provider is not None:
            self.tracing.provider.force_flush()


def load_policy(settings: Settings) -> Policy:
    if not settings.policy_file:
        return default_policy()
    from bot.policy_loader import load_policy_file  # the policy file loader (issue 3)

    return load_policy_file(settings.policy_file)


def build(settings: Settings, clock: Clock | None = None, policy: Policy | None = None,
          tracing: Tracing | None = None) -> Container:
    clock = clock or SystemClock()
    policy = policy or load_policy(settings)
    owns_tracing = tracing is None
    tracing = tracing or tracing_from_settings(settings)
    tracer = tracing.tracer
    metrics = Metrics()
    engine = create_engine(settings.database_url)
    lock = write_lock_for(engine)
    make_uow = uow_factory(engine, clock, lock, tracer)
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
                              read_uow_factory=uow_factory(engine, clock, None, tracer),
                              messages=SlackMessages())
    client = MeteredWebClient(token=settings.slack_bot_token or "xoxb-not-configured",
                              base_url=settings.slack_api_url, metrics=metrics, tracer=tracer)
    # Bolt gets a tokenless client: the token reaches listeners through BotIdentity's result.
    bolt_client = AsyncWebClient(base_url=settings.slack_api_url)
    logging.getLogger("slack_bolt.AsyncApp").addFilter(TOKEN_FROM_ENV_UNUSED)
    bolt = AsyncApp(client=bolt_client,
                    signing_secret=settings.slack_signing_secret or "unsigned",
                    authorize=BotIdentity(client, clock,
                                          settings.slack_allowed_teams).authorize_function(),
                    # Listeners run inline: they ack and hand their work to AckFirst.spawn
                    process_before_response=True,
                    # bot/web.py's SlackEndpoint checks every HTTP request's signature before
                    # Bolt sees it (a 401 before parsing); Socket Mode and replays are unsigned
                    # by nature. Bolt's own check was the same HMAC a second time on each ack.
                    request_verification_enabled=False,
                    raise_error_for_unhandled_request=False)
    ctx = SlackContext(service=service, policy=policy, clock=clock, client=client,
                       incident_channel=settings.incident_channel)
    delivery = SlackDelivery(client, make_uow, clock, policy, settings.incident_channel)
    client.resolve_channel = delivery.channel_id_for
    dispatcher = OutboxDispatcher(
        outbox_store, clock, delivery.handlers(), poll_seconds=settings.outbox_poll_seconds,
        on_result=lambda kind, result, _s: metrics.outbox_deliveries.labels(kind, result).inc(),
        base_backoff=settings.outbox_backoff_seconds,
        max_backoff=settings.outbox_max_backoff_seconds, owner=instance_id(settings),
        tracer=tracer)
    dispatcher_ref.append(dispatcher)
    intake = Intake(inbox_store(settings, engine, lock), clock, instance_id(settings),
                    max_backlog=settings.intake_max_backlog)
    ack_first = AckFirst(intake=intake, tracer=tracer)
    dispatcher.yield_to = ack_first.wait_quiet
    ctx.run_after_ack = ack_first.spawn
    slack_commands.register(bolt, ctx)
    slack_interactions.register(bolt, ctx)
    slack_events.register(bolt, ctx)
    slack_home.register(bolt, ctx)
    container = Container(settings=settings, clock=clock, engine=engine, policy=policy,
                          metrics=metrics, service=service, slack_client=client, bolt=bolt,
                          slack=ctx, outbox_store=outbox_store, dispatcher=dispatcher,
                          uow_factory=make_uow, ack_first=ack_first, intake=intake,
                          tracing=tracing, owns_tracing=owns_tracing)
    intake.replay = functools.partial(_replay, bolt)
    container.features.announcement_extras = delivery.extras
    container.features.slack_delivery = delivery
    container.features.announcement_offers = delivery.offers
    for feature in FEATURES:
        feature.install(container)
    return container


async def _replay(bolt: AsyncApp, row: InboxRow, _request: AckedRequest) -> None:
    """Run an acked request's listener again, as it ran when Slack sent it (its answer went
    out long ago and is dropped). Socket Mode requests skip Bolt's signature check, which the
    original passed; response_url stays valid for 30 minutes."""
    await bolt.async_dispatch(AsyncBoltRequest(
        body=row.body, headers={"content-type": row.content_type}, mode="socket_mode"))


def inbox_store(settings: Settings, engine: Engine, lock: WriteLock | None) -> InboxStore:
    """The Slack request inbox: a SQLite file of its own beside the database (so an ack never
    waits for SQLite's one writer behind a use case), or the PostgreSQL database itself; the
    keys of applied requests are always in the main database, with the use cases."""
    applied = AppliedRequests(engine, lock)
    url = inbox_url(normalise_url(settings.database_url))
    if url is None:
        return InboxStore(engine, lock, applied)
    inbox_engine = create_engine(url)
    return InboxStore(inbox_engine, write_lock_for(inbox_engine), applied)


def instance_id(settings: Settings) -> str:
    """Who claims outbox rows and Slack requests: ``INSTANCE_ID``, else host and port. The
    same after a restart (a crashed container comes back with its host name and port), so a
    restarted bot takes back at once what it held, and different for each replica."""
    return settings.instance_id or f"{socket.gethostname()}:{settings.port}"

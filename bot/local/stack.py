"""A whole local Slack setup: the real Bolt app over HTTP on loopback, the real slack_sdk client
talking to the Slack stand-in, and a driver that signs requests as Slack does.

Used by `incident-bot demo` and by the end-to-end tests.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.app import Container, build
from bot.local.slack_driver import SlackDriver
from bot.local.slack_standin import SlackStandIn
from bot.settings import Settings
from bot.tracing import Tracing
from bot.web import connect_socket_mode, serve_http
from domain.model import Actor, ModelStage
from domain.policy import Policy
from domain.ports import Clock

SIGNING_SECRET = "local-signing-secret"
BOT_TOKEN = "xoxb-local-token"
APP_TOKEN = "xapp-1-local-app-token"
ADMIN = Actor("U0ADMIN", "admin")


@dataclass
class LocalStack:
    database_url: str
    clock: Clock | None = None
    policy: Policy | None = None
    settings_overrides: dict[str, Any] = field(default_factory=dict)
    socket_mode: bool = False  # drive the bot over Socket Mode instead of signed HTTP
    slack_follows_clock: bool = False  # message timestamps from ``clock`` (a scripted demo)
    tracing: Tracing | None = None  # where the bot's spans go (default: OTEL_* settings)
    slack: SlackStandIn = field(init=False)
    driver: SlackDriver = field(init=False)
    container: Container = field(init=False)
    runner: web.AppRunner = field(init=False)
    url: str = field(init=False)

    async def __aenter__(self) -> LocalStack:
        clock = self.clock
        # the manifest asks for chat:write, not chat:write.public: the bot posts only where it
        # is a member, as in a real workspace
        self.slack = (SlackStandIn(clock=lambda: clock.now().timestamp(), chat_write_public=False)
                      if self.slack_follows_clock and clock is not None
                      else SlackStandIn(chat_write_public=False))
        api_url = await self.slack.start()
        self.settings = Settings(
            _env_file=None,
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=api_url,
            database_url=self.database_url,
            outbox_poll_seconds=0.05,
            slack_app_token=APP_TOKEN if self.socket_mode else None,
            **{"instance_id": f"localstack-{uuid.uuid4().hex[:8]}", **self.settings_overrides},
        )
        self.container = build(self.settings, clock=self.clock, policy=self.policy,
                               tracing=self.tracing)
        await self.container.start()
        self.runner = await serve_http(self.container, "127.0.0.1", 0)
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self.driver = SlackDriver(self.url, SIGNING_SECRET, slack=self.slack)
        await self.driver.__aenter__()
        self._socket: Any = None
        if self.socket_mode:
            self._socket = await connect_socket_mode(self.container)
            self.driver.socket_mode = True
        for name, team, labels in (("credit-risk-v3", "risk-ml", ["revenue-critical"]),
                                   ("fraud-detector", "fraud", [])):
            await self.container.service.register_model(
                name, "1.0.0", ModelStage.PRODUCTION, team, ADMIN, labels=labels)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._socket is not None:
            await self._socket.close_async()
        await self.driver.__aexit__(None, None, None)
        await self.runner.cleanup()
        await self.container.stop()
        await self.slack.stop()

    async def spawn_bot(self, *, same_instance: bool = False) -> Container:
        """Another bot process on the same database and Slack: a second replica (an instance
        of its own; stop it yourself), or with ``same_instance`` this one started again."""
        settings = self.settings if same_instance else self.settings.model_copy(
            update={"instance_id": f"replica-{uuid.uuid4().hex[:8]}"})
        container = build(settings, clock=self.clock, policy=self.policy, tracing=self.tracing)
        await container.start()
        return container

    async def restart_bot(self) -> None:
        """Stop the bot as a killed process would stop, and start a fresh one on the same database
        and Slack workspace: nothing survives but what the database holds."""
        await self.runner.cleanup()
        await self.container.stop()
        await self._serve(await self.spawn_bot(same_instance=True))

    async def crash_bot(self) -> None:
        """Stop the bot as ``kill -9`` would: acked work and deliveries in flight are cut off
        and nothing is settled or given back; then start a fresh one (the same instance, as a
        restarted container is) on the same database and Slack workspace."""
        await self.runner.cleanup()
        old = self.container
        if old.scheduler.running:
            old.scheduler.shutdown(wait=False)
        doomed: list[asyncio.Task[Any]] = [
            t for t in (old.intake._maintenance, old.dispatcher._task) if t is not None]
        doomed += list(old.dispatcher._inflight.values()) + list(old.ack_first._working)
        doomed += list(old.background)
        for task in doomed:
            task.cancel()
        await asyncio.gather(*doomed, return_exceptions=True)
        await old.engine.dispose()
        if old.intake.store.engine is not old.engine:
            await old.intake.store.engine.dispose()
        await self._serve(await self.spawn_bot(same_instance=True))

    async def _serve(self, container: Container) -> None:
        self.container = container
        self.runner = await serve_http(self.container, "127.0.0.1", 0)
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self.driver.bot_url = self.url
        self.driver.url = self.url + "/slack/events"

    def _quiet(self) -> bool:
        return self.container.ack_first.pending == 0

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait until every acked piece of work is done and every committed Slack message is
        delivered (outbox empty): a declaration still running has committed nothing yet. It
        returns as soon as that holds; the timeout is generous because a loaded 2-core machine
        (tests in parallel workers) can take seconds where an idle one takes milliseconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            if self._quiet() and await self.container.outbox_store.pending_count() == 0:
                await asyncio.sleep(0.05)
                if self._quiet() and await self.container.outbox_store.pending_count() == 0:
                    return
        raise AssertionError(
            f"outbox not drained in {timeout:g} s: {self.container.ack_first.pending} acked "
            f"requests still working, {await self.container.outbox_store.pending_count()} "
            "outbox rows pending")

"""The API end to end: an incident declared over HTTP is announced and gets its channel in
Slack like one declared there; a Slack resolve reaches a webhook subscriber as a signed
``incident.resolved``; a dead subscriber delays nothing and is disabled after the limit."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from bot.cli.audit import rows
from bot.local.stack import LocalStack
from domain.api.webhooks import verify
from storage.api_repositories import Subscriber
from tests.e2e.conftest import command_reply
from tests.fakes import FakeClock
from tests.integration.api_support import Api, add_key, api_stack, require_redis, store

pytestmark = pytest.mark.asyncio
SECRET = "subscriber-secret"  # pragma: allowlist secret


class Receiver:
    """A webhook subscriber: a local aiohttp server recording what it is sent."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> Receiver:
        async def hook(request: web.Request) -> web.Response:
            self.received.append((dict(request.headers), await request.read()))
            return web.Response(status=self.status)

        app = web.Application()
        app.router.add_post("/hook", hook)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]


async def subscribe(stack: LocalStack, url: str, events: list[str]) -> str:
    sub = Subscriber(f"s{len(url) % 97}{abs(hash(url)) % 10**6}", url, events, SECRET,
                     stack.container.clock.now(), None, None, None, None)
    await store(stack).add_subscriber(sub)
    return sub.id


async def until_retry_scheduled(stack: LocalStack) -> None:
    """The failed delivery is back in line (its retry time set by the bot's clock)."""
    for _ in range(500):
        rows = await stack.container.outbox_store.rows("pending")
        if any(r["kind"] == "webhook.deliver" and r["attempts"] >= 1 for r in rows):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the dead subscriber's delivery was never retried")


@pytest.fixture
async def stack(database_url: str) -> AsyncIterator[LocalStack]:
    await require_redis()
    async with api_stack(database_url, clock=FakeClock(datetime.now(UTC))) as s:
        yield s


async def test_declare_over_the_api_is_announced_and_gets_its_channel(stack: LocalStack) -> None:
    key = await add_key(stack, "model-server", ["incidents:write"])
    api = Api(stack)
    try:
        status, body, _ = await api.call("POST", "/incidents", key, json={
            "title": "Latency p99 over 2 s", "severity": "p3", "model": "fraud-detector"})
        assert status == 201
        await stack.settle()
        _, view, _ = await api.call("GET", "/incidents/1", key)
    finally:
        await api.close()
    announcement = stack.slack.top_level("ml-incidents")[-1]
    assert "INC-1" in announcement["text"] and "Latency p99 over 2 s" in announcement["text"]
    channel = stack.slack.channel_by_name("inc-1-latency-p99-over-2-s")
    assert channel is not None and view["slack_channel_id"] == channel["id"]


async def test_a_slack_resolve_reaches_the_subscriber_signed(stack: LocalStack) -> None:
    async with Receiver() as receiver:
        await subscribe(stack, receiver.url, ["incident.resolved", "incident.created"])
        await stack.driver.slash_command("declare P3 fraud-detector Scores drift", user_id="U0ALICE")
        await stack.settle()
        await stack.driver.slash_command("resolve 1 threshold fixed", user_id="U0BOB")
        await stack.slack.wait_until(lambda: len(receiver.received) >= 2, 10)
        await stack.settle()
    assert [e["type"] for e in receiver.events()] == ["incident.created", "incident.resolved"]
    headers, body = receiver.received[-1]
    now = int(stack.container.clock.now().timestamp())
    assert verify(SECRET, headers["X-Incident-Bot-Signature"], body, now)
    assert not verify("another-secret", headers["X-Incident-Bot-Signature"], body, now)
    event = json.loads(body)
    assert event["incident"]["status"] == "resolved" and event["incident"]["number"] == 1
    assert event["actor"] == "U0BOB" and headers["X-Incident-Bot-Event"] == "incident.resolved"


async def test_a_dead_subscriber_delays_nothing_and_is_disabled_after_the_limit(
        stack: LocalStack) -> None:
    clock = stack.container.clock
    assert isinstance(clock, FakeClock)
    async with Receiver(status=500) as dead, Receiver() as alive:
        dead_id = await subscribe(stack, dead.url, ["incident.*"])
        await subscribe(stack, alive.url, ["incident.*"])
        await stack.driver.slash_command("declare P3 fraud-detector Scores drift", user_id="U0ALICE")
        # Slack and the healthy subscriber are served while the dead one keeps failing
        await stack.slack.wait_until(lambda: stack.slack.channel_by_name(
            "inc-1-scores-drift") is not None and alive.received and dead.received, 10)
        assert stack.slack.top_level("ml-incidents")
        await until_retry_scheduled(stack)
        clock.advance(days=3, minutes=1)  # the retry comes due, failing for over 3 days
        stack.container.dispatcher.wake()
        incidents = stack.slack.channel_id("ml-incidents")
        await stack.slack.wait_until(lambda: any(
            "is disabled" in m.get("text", "") for m in stack.slack.top_level(incidents)), 10)
    sub = await store(stack).subscriber(dead_id)
    assert sub is not None and sub.disabled_at is not None and "HTTP 500" in (sub.last_error or "")
    async with stack.container.uow_factory() as uow:
        assert "webhook.disabled" in [a.action for a in await uow.audit.list(dead_id)]


async def test_an_api_caller_without_the_role_meets_the_gate_a_slack_user_meets(
        database_url: str) -> None:
    """RACI for API callers is the incident service's role gate: a key without the role is
    refused a SEV-1 with a 403 and the reason a Slack user gets, audited the same way; a
    token holding the role declares it, announced in Slack."""
    await require_redis()
    async with api_stack(database_url, governance_mode="enforce",
                         governance_roles={"incident_commander": ["U0LEAD"]}) as s:
        key = await add_key(s, "ci", ["incidents:write"])
        commander_key = await add_key(s, "pager", ["incidents:write"], ["incident_commander"])
        sev1 = {"title": "Null predictions", "severity": "p1", "model": "credit-risk-v3"}
        api = Api(s)
        try:
            status, body, _ = await api.call("POST", "/incidents", key, json=sev1)
            slack_reply = await command_reply(s, "declare P1 credit-risk-v3 Null predictions",
                                              "U0NOBODY")
            assert status == 403 and body["title"] == "Forbidden"
            reason = "Only Incident Commander or ML Platform SRE may declare sev1 sev2"
            assert body["detail"].startswith(reason) and reason in slack_reply
            status, body, _ = await api.call("POST", "/incidents", commander_key, json=sev1)
            assert status == 201 and body["severity"] == "p1"
            await s.settle()
        finally:
            await api.close()
        denied = [r for r in await rows(s.container.engine) if r["action"] == "access.denied"]
    assert [(r["actor"], r["details"]) for r in denied] == [
        (who, {"activity": "declare_sev1_sev2",
               "roles_needed": ["incident_commander", "ml_platform_sre"]})
        for who in ("key:ci", "U0NOBODY")]
    assert "INC-1" in s.slack.top_level("ml-incidents")[-1]["text"]

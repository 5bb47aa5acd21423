"""Acting on the model from Slack against a real MLflow server (issue 18): what changed before a
drift incident, and a rollback requested, refused, approved (twice, with a crash before delivery)
that moves the MLflow alias back and calls the signed deploy hook exactly once."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from bot.cli.audit import rows
from bot.local.stack import LocalStack
from bot.registry.hooks import verify
from domain.model import Actor, Severity, TriggerSource
from domain.services import DeclareIncident
from tests.fakes import FakeClock
from tests.mlflow_server import mlflow_server  # noqa: F401 - the session fixture

IC, SRE, MLE = "U0COMMANDER", "U0PLATSRE", "U0MLENGINEER"
ROLES = {"incident_commander": [IC], "ml_platform_sre": [SRE], "ml_engineer": [MLE]}
SECRET = "deploy-hook-secret"
DRIFT_JOB = Actor("drift-job", "drift job")


class HookReceiver:
    """The deploy system's end of ROLLBACK_WEBHOOK_URL: records every POST."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        async def hook(request: web.Request) -> web.Response:
            self.calls.append((dict(request.headers), await request.read()))
            return web.json_response({"deployment": "started"})

        app = web.Application()
        app.router.add_post("/deploy", hook)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/deploy"
        return self.url

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def mlflow_client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


async def registered(uri: str, versions: int) -> str:
    """A fresh registered model with ``versions`` versions, champion on v1."""
    name = f"churn-{uuid.uuid4().hex[:8]}"

    def make() -> None:
        client = mlflow_client(uri)
        client.create_registered_model(name, tags={"team": "risk-ml", "revenue-critical": "true"})
        for i in range(versions):
            client.create_model_version(name, source=f"s3://models/{name}/{i + 1}")
        client.set_registered_model_alias(name, "champion", "1")

    await asyncio.to_thread(make)
    return name


async def champion(uri: str, name: str) -> str:
    return str((await asyncio.to_thread(
        lambda: mlflow_client(uri).get_model_version_by_alias(name, "champion"))).version)


@pytest.fixture
async def hook() -> AsyncIterator[HookReceiver]:
    receiver = HookReceiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture
async def stack(database_url: str, mlflow_server: str,  # noqa: F811
                hook: HookReceiver) -> AsyncIterator[LocalStack]:
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    async with LocalStack(database_url, clock=clock, settings_overrides={
            "governance_roles": ROLES, "mlflow_tracking_uri": mlflow_server, "model_sync_seconds": 0,
            "rollback_webhook_url": hook.url, "rollback_webhook_secret": SECRET}) as s:
        yield s


def thread_of(stack: LocalStack, number: int) -> list[dict[str, Any]]:
    top = [m for m in stack.slack.top_level("ml-incidents") if f"INC-{number}" in m.get("text", "")]
    assert top, f"no announcement of INC-{number}"
    return stack.slack.thread("ml-incidents", top[0]["ts"])[1:]


def with_action(messages: list[dict[str, Any]], action_id: str) -> dict[str, Any]:
    for m in reversed(messages):
        for block in m.get("blocks") or []:
            if any(e.get("action_id") == action_id for e in block.get("elements") or []):
                return m
    raise AssertionError(f"no message with a {action_id} button")


async def drift_incident(stack: LocalStack, model: str) -> int:
    incident = await stack.container.service.declare(DeclareIncident(
        title=f"Drift on {model}: PSI 0.31", severity=Severity.P2, model_name=model,
        trigger_source=TriggerSource.AUTOMATED_DRIFT, labels=["drift"]), DRIFT_JOB)
    await stack.settle()
    return incident.number


async def click(stack: LocalStack, action_id: str, message: dict[str, Any], user: str) -> None:
    status, _ = await stack.driver.block_action(action_id, user_id=user, channel_id="ml-incidents",
                                                message_ts=message["ts"])
    assert status == 200


async def test_a_deploy_30_minutes_before_a_drift_incident_is_under_what_changed(
        stack: LocalStack, mlflow_server: str) -> None:  # noqa: F811
    name = await registered(mlflow_server, 2)
    feature = stack.container.features["model_actions"]
    assert (await feature.sync())["models"] >= 1  # first sight: champion on v1, no move to date
    await asyncio.to_thread(lambda: mlflow_client(mlflow_server).set_registered_model_alias(
        name, "champion", "2"))
    await feature.sync()  # the deploy, seen by the scheduled sync
    stack.clock.advance(minutes=30)  # type: ignore[union-attr]
    number = await drift_incident(stack, name)

    changed = with_action(thread_of(stack, number), "model_rollback")
    assert "What changed?" in changed["text"]
    assert "*30 min before* · alias `champion` moved v1 → v2" in changed["text"]
    assert "new version v2" in changed["text"]
    assert "model_accept_drift" in json.dumps(changed["blocks"])  # a drift incident
    models = {m.name: m for m in await stack.container.service.list_models()}
    assert models[name].version == "2" and models[name].team == "risk-ml"
    assert models[name].labels == ["revenue-critical"]

    reply = await command_reply_text(stack, f"changes {number}", SRE)
    assert "alias `champion` moved v1 → v2" in reply


async def command_reply_text(stack: LocalStack, text: str, user: str) -> str:
    from tests.e2e.conftest import command_reply

    return await command_reply(stack, text, user)


async def test_rollback_requested_refused_approved_twice_and_crashed_moves_alias_once(
        stack: LocalStack, mlflow_server: str, hook: HookReceiver) -> None:  # noqa: F811
    name = await registered(mlflow_server, 2)
    feature = stack.container.features["model_actions"]
    await feature.sync()
    await asyncio.to_thread(lambda: mlflow_client(mlflow_server).set_registered_model_alias(
        name, "champion", "2"))
    await feature.sync()
    number = await drift_incident(stack, name)

    # the SRE (responsible) asks, from the Roll back button; the modal defaults to v1
    await click(stack, "model_rollback", with_action(thread_of(stack, number), "model_rollback"), SRE)
    modal = await stack.slack.wait_until(lambda: stack.slack.latest_view("model_rollback_submit"), 5)
    select = modal["blocks"][1]["element"]
    assert select["initial_option"]["value"] == "1"
    status, _ = await stack.driver.view_submission(
        "model_rollback_submit", {"version": "1", "reason": "v2 drifts on income"}, user_id=SRE)
    assert status == 200
    await stack.settle()
    request = with_action(thread_of(stack, number), "model_rollback_approve")
    assert "requests a rollback" in request["text"] and "v2 → v1" in request["text"]

    # an ML engineer may not approve: refused, audited with both actors, nothing moves
    before = len(stack.driver.responses)
    await click(stack, "model_rollback_approve", request, MLE)
    await stack.slack.wait_until(lambda: len(stack.driver.responses) > before, 5)
    assert "Only Incident Commander may approve" in stack.driver.responses[-1]["body"]["text"]
    await stack.settle()
    refusals = [r for r in await rows(stack.container.engine) if r["action"] == "model.rollback_refused"]
    assert refusals and refusals[0]["details"]["requested_by"] == SRE
    assert refusals[0]["details"]["refused_actor"] == MLE
    assert await champion(mlflow_server, name) == "2"

    # the commander approves with a double click, and the bot dies before delivering anything
    await stack.container.dispatcher.stop()
    await asyncio.gather(click(stack, "model_rollback_approve", request, IC),
                         click(stack, "model_rollback_approve", request, IC))
    await stack.slack.wait_until(lambda: stack.container.ack_first.pending == 0, 5)
    assert await champion(mlflow_server, name) == "2" and hook.calls == []
    await stack.crash_bot()
    await stack.settle()

    assert await champion(mlflow_server, name) == "1"
    assert len(hook.calls) == 1
    headers, body = hook.calls[0]
    assert verify(SECRET, headers, body, time.time()) is None
    sent = json.loads(body)
    assert (sent["model"], sent["from_version"], sent["to_version"]) == (name, "2", "1")
    assert (sent["requested_by"], sent["approved_by"], sent["break_glass"]) == (SRE, IC, False)
    texts = "\n".join(m["text"] for m in thread_of(stack, number))
    assert f"Rolled back `{name}`: `champion` → v1 in the mlflow registry" in texts
    assert "Deploy hook accepted the rollback" in texts
    audit = [r for r in await rows(stack.container.engine) if r["action"].startswith("model.rollback")]
    approved = [r for r in audit if r["action"] == "model.rollback_approved"]
    assert len(approved) == 1 and approved[0]["actor"] == IC
    assert approved[0]["details"]["requested_by"] == SRE
    assert [r["action"] for r in audit].count("model.rollback_executed") == 1
    models = {m.name: m for m in await stack.container.service.list_models()}
    assert models[name].version == "1"

"""Acting on the model from Slack against a real MLflow server (issue 18): what changed before a
drift incident, and a rollback requested, refused, approved (twice, with a crash before delivery)
that moves the MLflow alias back and calls the signed deploy hook exactly once."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
import sqlalchemy as sa
from aiohttp import web

from bot.cli.audit import rows
from bot.local.stack import LocalStack
from bot.registry.hooks import SIGNATURE, TIMESTAMP, sign, verify
from bot.slack_ui.model_actions import SlackModelActionTexts
from domain.model import Actor, ModelStage, Severity, TriggerSource
from domain.model_actions.rollback import Rollback, RollbackStatus
from domain.services import DeclareIncident, IncidentRef
from storage.model_actions import SqlModelActions
from storage.registry_tables import rollback_requests
from tests.fakes import FakeClock
from tests.mlflow_server import mlflow_server  # noqa: F401 - the session fixture

IC, SRE, MLE = "U0COMMANDER", "U0PLATSRE", "U0MLENGINEER"
ROLES = {"incident_commander": [IC], "ml_platform_sre": [SRE], "ml_engineer": [MLE]}
SECRET = "deploy-hook-secret"
DRIFT_JOB = Actor("drift-job", "drift job")


class HookReceiver:
    """The deploy system's end of ROLLBACK_WEBHOOK_URL: records every POST."""

    def __init__(self, answer: dict[str, Any] | None = None) -> None:
        self.answer = answer or {"deployment": "started"}
        self.calls: list[tuple[str, dict[str, str], bytes]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        async def hook(request: web.Request) -> web.Response:
            self.calls.append((request.path, dict(request.headers), await request.read()))
            return web.json_response(self.answer)

        app = web.Application()
        app.router.add_post("/{tail:.*}", hook)
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
    feature = stack.container.features.model_actions
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
    feature = stack.container.features.model_actions
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
    _path, headers, body = hook.calls[0]
    assert verify(SECRET, headers, body, time.time()) is None
    sent = json.loads(body)
    assert (sent["model"], sent["from_version"], sent["to_version"]) == (name, "2", "1")
    assert (sent["requested_by"], sent["approved_by"], sent["break_glass"]) == (SRE, IC, False)
    texts = "\n".join(m["text"] for m in thread_of(stack, number))
    assert SlackModelActionTexts().rollback_done(await rollback_of(stack, number), True, "mlflow") in texts
    assert "Deploy hook accepted the rollback" in texts
    assert not any("model_rollback_approve" in json.dumps(m.get("blocks")) for m in thread_of(stack, number))
    audit = [r for r in await rows(stack.container.engine) if r["action"].startswith("model.rollback")]
    approved = [r for r in audit if r["action"] == "model.rollback_approved"]
    assert len(approved) == 1 and approved[0]["actor"] == IC
    assert approved[0]["details"]["requested_by"] == SRE
    assert [r["action"] for r in audit].count("model.rollback_executed") == 1
    models = {m.name: m for m in await stack.container.service.list_models()}
    assert models[name].version == "1"


# -- accept drift, snooze, retrain: the manual registry (no MLflow needed) -------------------------

def write_csv(path: Path, shift: float, seed: int, rows: int = 2000) -> str:
    rng = np.random.default_rng(seed)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["income", "utilisation"])
        for _ in range(rows):
            out.writerow([rng.normal(50 + shift * 10, 10), rng.normal(0.3 + shift * 0.05, 0.1)])
    return str(path)


@pytest.fixture
async def drifting(database_url: str, tmp_path: Path, hook: HookReceiver) -> AsyncIterator[LocalStack]:
    """credit-risk-v3 with a file-source drift job whose current data has drifted."""
    ref, cur = write_csv(tmp_path / "ref.csv", 0, 1), write_csv(tmp_path / "cur.csv", 1.5, 2)
    models_file = tmp_path / "models.yml"
    models_file.write_text(f"""models:
  - name: credit-risk-v3
    version: 1.0.0
    team: risk-ml
    drift:
      every: 1h
      features: [income, utilisation]
      source: {{kind: csv, reference: {ref}, current: {cur}}}
""")
    async with LocalStack(database_url, clock=FakeClock(), settings_overrides={
            "models_file": str(models_file), "tick_seconds": 0, "model_sync_seconds": 0,
            "model_baseline_dir": str(tmp_path / "baselines"), "governance_roles": ROLES,
            "retrain_webhook_url": hook.url.replace("/deploy", "/api/v1/dags/retrain_{model}/dagRuns"),
            "retrain_webhook_body": '{"dag_run_id": "bot-{run_id}", "conf": {"model": "{model}", '
                                    '"incident": "{incident}"}}',
            "retrain_webhook_token": "airflow-token", "pipeline_webhook_secret": SECRET}) as s:
        s.tmp = tmp_path  # type: ignore[attr-defined]
        yield s


async def run_drift(stack: LocalStack) -> tuple[Any, Any]:
    scheduler = stack.container.features.drift_scheduler
    result = await scheduler.run_job(scheduler.jobs[0])
    await stack.settle()
    return result


async def test_accepting_drift_re_baselines_the_next_assessment_until_drift_goes_further(
        drifting: LocalStack) -> None:
    first, incident = await run_drift(drifting)
    assert first.psi_composite > 0.25 and incident is not None
    await click(drifting, "model_accept_drift",
                with_action(thread_of(drifting, incident.number), "model_accept_drift"), SRE)
    await drifting.slack.wait_until(lambda: drifting.slack.latest_view("model_accept_drift_submit"), 5)
    status, _ = await drifting.driver.view_submission(
        "model_accept_drift_submit", {"duration": "7d", "reason": "new customer segment, expected"},
        user_id=SRE)
    assert status == 200
    await drifting.settle()

    drifting.clock.advance(hours=1)  # type: ignore[union-attr]
    rebaselined, _ = await run_drift(drifting)
    assert rebaselined.psi_composite < 0.05  # the drifted window is the reference now
    reply = await command_reply_text(drifting, "models", SRE)
    assert "`credit-risk-v3` drift accepted until" in reply and "new customer segment" in reply

    write_csv(Path(drifting.tmp) / "cur.csv", 3.5, 3)  # type: ignore[attr-defined]
    drifting.clock.advance(hours=1)  # type: ignore[union-attr]
    further, fed = await run_drift(drifting)
    assert further.psi_composite > 0.25 and fed is not None  # beyond the accepted level: back
    audit = [r for r in await rows(drifting.container.engine) if r["action"] == "model.drift_accepted"]
    assert audit and audit[0]["actor"] == SRE and audit[0]["details"]["reason"].startswith("new customer")


async def test_snooze_keeps_drift_quiet_until_it_ends(drifting: LocalStack) -> None:
    _, incident = await run_drift(drifting)
    assert incident is not None
    await command_reply_text(drifting, f"resolve {incident.number} retrained offline", IC)
    reply = await command_reply_text(drifting, f"snooze {incident.number} 2h warehouse maintenance", SRE)
    assert "snoozed until" in reply
    assert "drift alerts snoozed until" in await command_reply_text(drifting, "models", SRE)
    drifting.clock.advance(hours=1)  # type: ignore[union-attr]
    quiet, none = await run_drift(drifting)
    assert quiet.drift_detected and none is None  # assessed, recorded, no alert
    assert await command_reply_text(drifting, "snooze 1 30d too long", SRE) == \
        ":warning: Snooze for how long: at most 7 days; `30d` is longer."
    drifting.clock.advance(hours=2)  # type: ignore[union-attr]
    _, reopened = await run_drift(drifting)
    assert reopened is not None and reopened.number == incident.number + 1


async def test_retrain_calls_the_pipeline_and_its_signed_callback_lands_on_the_timeline(
        drifting: LocalStack, hook: HookReceiver) -> None:
    hook.answer = {"dag_run_id": "bot-run", "url": "https://airflow.example/dags/retrain/runs/bot-run"}
    _, incident = await run_drift(drifting)
    assert incident is not None
    await click(drifting, "model_retrain", with_action(thread_of(drifting, incident.number), "model_retrain"),
                SRE)
    await drifting.settle()
    [(path, headers, body)] = hook.calls
    assert path == "/api/v1/dags/retrain_credit-risk-v3/dagRuns"
    assert headers["Authorization"] == "Bearer airflow-token"
    sent = json.loads(body)
    assert sent["conf"] == {"model": "credit-risk-v3", "incident": f"INC-{incident.number}"}
    texts = "\n".join(m["text"] for m in thread_of(drifting, incident.number))
    say = SlackModelActionTexts()
    async with drifting.container.engine.connect() as conn:
        run = await SqlModelActions(conn).get_run("bot-run")
    assert run is not None and run.run_url == "https://airflow.example/dags/retrain/runs/bot-run"
    assert say.retrain_status(run, "triggered") in texts

    callback = json.dumps({"run": "bot-run", "status": "succeeded"}).encode()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{drifting.url}/webhooks/pipeline", data=callback) as unsigned:
            assert unsigned.status == 401
        stamp = int(time.time())
        async with http.post(f"{drifting.url}/webhooks/pipeline", data=callback, headers={
                TIMESTAMP: str(stamp), SIGNATURE: sign(SECRET, stamp, callback)}) as signed:
            assert signed.status == 200 and (await signed.json())["status"] == "succeeded"
    await drifting.settle()
    texts = "\n".join(m["text"] for m in thread_of(drifting, incident.number))
    assert say.retrain_status(run, "succeeded") in texts


async def rollback_of(stack: LocalStack, number: int) -> Rollback:
    """The rollback of INC-``number`` as stored."""
    view = await stack.container.service.view(IncidentRef(number=number))
    async with stack.container.engine.connect() as conn:
        found = (await conn.execute(sa.select(rollback_requests.c.id).where(
            rollback_requests.c.incident_id == view.incident.id))).scalar_one()
        rollback = await SqlModelActions(conn).get_rollback(found)
    assert rollback is not None
    return rollback


@pytest.fixture
async def manual(database_url: str) -> AsyncIterator[LocalStack]:
    """No MLflow: the manual registry (`models add` is a deploy)."""
    async with LocalStack(database_url, clock=FakeClock(), settings_overrides={
            "governance_roles": ROLES, "model_sync_seconds": 0, "tick_seconds": 0}) as s:
        yield s


async def test_sev1_break_glass_by_verbs_on_the_manual_registry_is_audited_as_such(
        manual: LocalStack) -> None:
    feature = manual.container.features.model_actions
    assert feature.registry.kind == "manual"
    await feature.sync()
    manual.clock.advance(minutes=10)  # type: ignore[union-attr]
    await manual.container.service.register_model("fraud-detector", "1.1.0", ModelStage.PRODUCTION,
                                                  "fraud", Actor("U0DEPLOY", "ci"))
    await feature.sync()
    manual.clock.advance(minutes=5)  # type: ignore[union-attr]
    await command_reply_text(manual, "declare P1 fraud-detector Chargebacks approved as legit", IC)

    refused = await command_reply_text(manual, "rollback 1 1.0.0 fraud spike", MLE)
    assert "Only Incident Commander or ML Platform SRE may request a rollback" in refused
    assert "Retraining is not configured" in await command_reply_text(manual, "retrain 1", SRE)
    asked = await command_reply_text(manual, "rollback 1 fraud spike after 1.1.0", SRE)  # default target
    assert "to v1.0.0 requested" in asked
    approved = await command_reply_text(manual, "rollback 1 approve", SRE)  # alone: SEV-1 break-glass
    assert "Rollback approved" in approved
    await manual.settle()

    texts = "\n".join(m["text"] for m in thread_of(manual, 1))
    assert (rollback := await rollback_of(manual, 1)).break_glass
    approved = dataclasses.replace(rollback, status=RollbackStatus.APPROVED)  # as it was then
    assert SlackModelActionTexts().rollback_decided_post(Actor(SRE, "sre"), approved) in texts
    [decided] = [m for m in thread_of(manual, 1) if "requested a rollback" in m["text"]]
    assert "model_rollback_approve" not in json.dumps(decided["blocks"])  # its buttons are gone
    assert f"Approved by <@{SRE}> (break-glass)" in json.dumps(decided["blocks"])
    assert SlackModelActionTexts().rollback_done(rollback, True, "manual") in texts
    [audit] = [r for r in await rows(manual.container.engine) if r["action"] == "model.rollback_approved"]
    assert audit["actor"] == SRE and audit["details"]["break_glass"] is True
    versions = {m.name: m.version for m in await manual.container.service.list_models()}
    assert versions["fraud-detector"] == "1.0.0"


async def test_a_version_the_registry_refuses_fails_the_rollback_without_calling_the_deploy_hook(
        stack: LocalStack, mlflow_server: str, hook: HookReceiver) -> None:  # noqa: F811
    name = await registered(mlflow_server, 2)
    feature = stack.container.features.model_actions
    await feature.sync()
    await asyncio.to_thread(lambda: mlflow_client(mlflow_server).set_registered_model_alias(
        name, "champion", "2"))
    await feature.sync()
    number = await drift_incident(stack, name)
    await command_reply_text(stack, f"rollback {number} 1 v2 drifts", SRE)
    await asyncio.to_thread(lambda: mlflow_client(mlflow_server).delete_model_version(name, "1"))
    await command_reply_text(stack, f"rollback {number} approve", IC)
    await stack.settle()

    texts = "\n".join(m["text"] for m in thread_of(stack, number))
    failed = await rollback_of(stack, number)
    assert SlackModelActionTexts().rollback_failed(failed, "MLflow refused") in texts
    assert hook.calls == [] and await champion(mlflow_server, name) == "2"
    [executed] = [r for r in await rows(stack.container.engine) if r["action"] == "model.rollback_executed"]
    assert executed["details"]["status"] == "failed"


async def test_accepted_drift_on_a_sql_source_makes_the_drifted_window_its_reference_until_expiry(
        manual: LocalStack) -> None:
    from bot.features.drift_jobs import DriftJob
    from domain.model_actions.drift_controls import DriftAcceptance
    from storage.model_actions import model_actions_repo

    now = manual.container.clock.now()
    window = (now - timedelta(hours=24), now)
    job = DriftJob.model_validate({"model": "fraud-detector", "features": ["amount"], "source": {
        "kind": "sql", "url": "sqlite:///warehouse.db", "table": "scores", "timestamp_column": "at",
        "reference_window": {"start": "2026-10-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"}}})
    accepted = DriftAcceptance("fraud-detector", "seasonal", SRE, "sre", now, now + timedelta(days=7),
                               reference_start=window[0], reference_end=window[1])
    await manual.container.service.run(lambda uow: model_actions_repo(uow).add_acceptance(accepted))
    feature = manual.container.features.model_actions

    rebased = await feature.rebaselined(job, now + timedelta(hours=1))
    assert rebased.source.reference_window is not None
    assert (rebased.source.reference_window.start, rebased.source.reference_window.end) == window
    expired = await feature.rebaselined(job, now + timedelta(days=8))
    assert expired.source.reference_window == job.source.reference_window  # the configured one again

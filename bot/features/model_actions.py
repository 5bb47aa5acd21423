"""Acting on the model from Slack (issue 18), composed: the registry (MLflow, or the manual one),
its scheduled sync, "What changed?" in every incident's thread, rollback under the RACI with the
registry move and the deploy hook through the outbox, accepted drift, snoozes, retraining.
"""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog

from bot.delivery.dispatcher import NO_ANNOUNCEMENT, Permanent, Retry
from bot.features.drift_jobs import DriftJob, Window
from bot.registry.hooks import post_signed
from bot.registry.manual import ManualRegistry
from bot.slack_ui import model_actions as ui
from bot.slack_ui.mrkdwn import escape
from domain.events import IncidentDeclared
from domain.governance.roles import Role
from domain.model import DomainError, Severity
from domain.model_actions import service as svc
from domain.model_actions.changes import DEFAULT_WINDOW
from domain.model_actions.drift_actions import DriftActions
from domain.model_actions.registry import ModelRegistry, RegistryRefused, RegistryUnavailable
from domain.model_actions.rollback import RollbackPolicy, RollbackStatus
from domain.model_actions.service import ModelActions, ModelActionsConfig, is_drift_incident
from domain.ports import OutboxMessage, UnitOfWork
from domain.services import IncidentRef
from storage.model_actions import (
    manual_alias_differs,
    manual_snapshot,
    model_actions_repo,
    rollback_message,
    save_rollback_message,
)
from storage.outbox_store import OutboxRow

if TYPE_CHECKING:
    from bot.app import Container

log = structlog.get_logger("model_actions")


def make_registry(container: Container) -> ModelRegistry:
    """MLflow when MLFLOW_TRACKING_URI is set, else the manual registry (the models table)."""
    uri = container.settings.mlflow_tracking_uri
    if uri:
        from bot.registry.mlflow_registry import MlflowRegistry

        return MlflowRegistry(uri)
    engine = container.engine
    return ManualRegistry(functools.partial(manual_snapshot, engine),
                          functools.partial(manual_alias_differs, engine), container.clock.now)


def break_glass_severities(text: str) -> frozenset[Severity]:
    out = set()
    for part in (text or "").split(","):
        if part.strip() and part.strip().lower() not in ("none", "off"):
            out.add(Severity.parse(part))
    return frozenset(out)


class ModelActionsFeature:
    """The adapters around :class:`ModelActions`: outbox deliveries, the sync job, Slack posts."""

    def __init__(self, container: Container) -> None:
        self.container = container
        settings = container.settings
        self.registry = make_registry(container)
        self.config = ModelActionsConfig(
            registry_kind=self.registry.kind, deploy_hook=bool(settings.rollback_webhook_url),
            retrain_hook=bool(settings.retrain_webhook_url),
            break_glass=RollbackPolicy(break_glass=break_glass_severities(settings.rollback_break_glass)))
        self.actions = ModelActions(container.service, model_actions_repo, self.registry,
                                    self.roles_of, self.config, ui.SlackModelActionTexts())
        self.drift = DriftActions(self.actions)
        self._session: aiohttp.ClientSession | None = None
        self._sync_lock = asyncio.Lock()

    async def roles_of(self, user_id: str) -> frozenset[Role] | None:
        """The RACI roles of a Slack user, from the service's RACI gate (governance sets it);
        None when role checks are off or the actor is no Slack user."""
        gate = self.container.service.gates.roles
        if not gate.applies_to(user_id):
            return None
        roles: frozenset[Role] = await gate.lookup.roles_of(user_id)
        return roles

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self, _container: Any = None) -> None:
        if self._session is not None:
            await self._session.close()

    # -- sync --------------------------------------------------------------------------------

    async def sync(self) -> dict[str, int]:
        async with self._sync_lock:  # the schedule and `models sync` never interleave
            return await self.actions.sync()

    async def scheduled_sync(self) -> None:
        try:
            counts = await self.sync()
            if counts["moves"] or counts["new_versions"]:
                log.info("registry.synced", registry=self.registry.kind, **counts)
        except RegistryUnavailable as exc:
            log.warning("registry.sync_failed", registry=self.registry.kind, error=str(exc))
        except Exception:  # never kill the scheduler
            log.exception("registry.sync_failed", registry=self.registry.kind)

    # -- the incident's thread -------------------------------------------------------------------

    async def on_declared(self, uow: UnitOfWork, event: IncidentDeclared) -> None:
        """Every new incident gets "What changed?" in its announcement's thread."""
        await uow.outbox.add(OutboxMessage(svc.WHAT_CHANGED, event.incident.id))

    async def _thread(self, incident_id: uuid.UUID) -> tuple[str, str]:
        view = await self.container.service.view(IncidentRef(incident_id=incident_id))
        link = view.link
        if not (link and link.announcement_channel and link.announcement_ts):
            raise Permanent(NO_ANNOUNCEMENT)
        return link.announcement_channel, link.announcement_ts

    async def deliver_what_changed(self, row: OutboxRow) -> None:
        assert row.incident_id is not None
        channel, ts = await self._thread(row.incident_id)
        incident, model, changes = await self.actions.what_changed(IncidentRef(incident_id=row.incident_id))
        hours = DEFAULT_WINDOW.total_seconds() / 3600
        text, blocks = ui.what_changed_message(incident, model, changes, hours,
                                               is_drift_incident(incident), self.config.retrain_hook)
        await self.container.slack_client.chat_postMessage(channel=channel, thread_ts=ts, text=text,
                                                           blocks=blocks, unfurl_links=False)

    async def deliver_rollback_message(self, row: OutboxRow) -> None:
        assert row.incident_id is not None
        channel, ts = await self._thread(row.incident_id)
        rollback = await self.actions.get_rollback(uuid.UUID(row.payload["rollback_id"]))
        if rollback is None:
            raise Permanent("rollback request vanished")
        text, blocks = ui.rollback_request_message(rollback, row.payload["text"])
        posted = await self.container.slack_client.chat_postMessage(
            channel=channel, thread_ts=ts, text=text, blocks=blocks, unfurl_links=False)
        await save_rollback_message(self.container.engine, rollback.id, str(posted["channel"]),
                                    str(posted["ts"]))

    async def deliver_rollback_decided(self, row: OutboxRow) -> None:
        """The request's message says who decided, and its buttons go."""
        rollback = await self.actions.get_rollback(uuid.UUID(row.payload["rollback_id"]))
        where = await rollback_message(self.container.engine, uuid.UUID(row.payload["rollback_id"]))
        if rollback is None or where is None:
            return  # never posted (Slack refused it): nothing to update
        text = (f":rewind: <@{rollback.requested_by}> requested a rollback of `{rollback.model}` "
                f"`{rollback.alias}` v{rollback.from_version or '?'} → v{rollback.to_version}: "
                f"{escape(rollback.reason)}")
        text, blocks = ui.rollback_decided_message(rollback, text)
        await self.container.slack_client.chat_update(channel=where[0], ts=where[1], text=text, blocks=blocks)

    # -- the registry move and the deploy hook ----------------------------------------------------

    async def deliver_move(self, row: OutboxRow) -> None:
        """Move the alias (a no-op when it is already there), then record the result; a
        registry that is away is retried by the outbox, one that refuses fails the rollback."""
        rollback_id = uuid.UUID(row.payload["rollback_id"])
        rollback = await self.actions.get_rollback(rollback_id)
        if rollback is None or rollback.status is not RollbackStatus.APPROVED:
            return  # recorded already (a redelivery after a crash)
        try:
            moved = await self.registry.set_alias(rollback.model, rollback.alias, rollback.to_version)
        except RegistryRefused as exc:
            await self.actions.alias_moved(rollback_id, False, str(exc))
            return
        except RegistryUnavailable as exc:
            raise Retry(str(exc)) from exc
        await self.actions.alias_moved(rollback_id, moved, None)

    async def deliver_deploy_hook(self, row: OutboxRow) -> None:
        settings = self.container.settings
        rollback = await self.actions.get_rollback(uuid.UUID(row.payload["rollback_id"]))
        if rollback is None or not settings.rollback_webhook_url:
            raise Permanent("no rollback or no ROLLBACK_WEBHOOK_URL")
        view = await self.container.service.view(IncidentRef(incident_id=rollback.incident_id))
        payload = {
            "event": "model.rollback", "rollback_id": str(rollback.id), "model": rollback.model,
            "alias": rollback.alias, "from_version": rollback.from_version,
            "to_version": rollback.to_version, "registry": self.registry.kind,
            "incident": {"key": view.incident.key, "number": view.incident.number,
                         "severity": view.incident.severity.value},
            "requested_by": rollback.requested_by, "approved_by": rollback.decided_by,
            "break_glass": rollback.break_glass, "reason": rollback.reason,
        }
        try:
            status, _ = await post_signed(await self.session(), settings.rollback_webhook_url, payload,
                                          secret=settings.rollback_webhook_secret,
                                          idempotency_key=f"rollback:{rollback.id}", now=time.time())
        except Permanent as exc:
            await self.actions.hook_result(
                rollback.incident_id, ui.deploy_hook_refused(exc),
                "model.deploy_hook_failed", {"rollback_id": str(rollback.id), "error": str(exc)[:300]})
            raise
        await self.actions.hook_result(
            rollback.incident_id, ui.deploy_hook_accepted(rollback, status), "model.deploy_hook_called",
            {"rollback_id": str(rollback.id), "status": status})

    # -- accepted drift and snoozes in the drift job ------------------------------------------------

    async def rebaselined(self, job: DriftJob, now: datetime) -> DriftJob:
        """The drift runner's job override: an accepted drift's window is the reference."""
        accepted = await self.drift.acceptance(job.model, now)
        if accepted is None:
            return job
        source = job.source
        if source.kind == "sql" and accepted.reference_start and accepted.reference_end:
            window = Window(start=accepted.reference_start, end=accepted.reference_end)
            return job.model_copy(update={"source": source.model_copy(update={"reference_window": window})})
        if source.kind != "sql" and accepted.reference_path:
            copied = source.model_copy(update={"reference": accepted.reference_path})
            return job.model_copy(update={"source": copied})
        return job

    async def snoozed(self, model: str, now: datetime) -> bool:
        """The drift runner's alert gate."""
        return await self.drift.snoozed(model, now) is not None

    async def baseline_copy(self, model: str) -> str | None:
        """For a file-source drift job: a copy of the current file, to be the new reference
        (the current file keeps changing); None for SQL sources (their window is the reference)."""
        scheduler = self.container.features.drift_scheduler
        job = next((j for j in (scheduler.jobs if scheduler else []) if j.model == model), None)
        if job is None or job.source.kind == "sql" or not job.source.current:
            return None
        current = Path(job.source.current)
        stamp = self.container.clock.now().strftime("%Y%m%dT%H%M%S")
        target = Path(self.container.settings.model_baseline_dir) / f"{model}-{stamp}{current.suffix}"

        def copy() -> None:
            if not current.exists():
                raise DomainError(f"The drift job's current data `{current}` is not a local file the "
                                  "bot can copy as the new reference.")
            target.parent.mkdir(parents=True, exist_ok=True)
            if current.is_dir():
                shutil.copytree(current, target)
            else:
                shutil.copyfile(current, target)

        await asyncio.to_thread(copy)
        return str(target)

    async def model_notes(self) -> list[str]:
        """Under `/incident models`: accepted drift and snoozes in force."""
        acceptances, snoozes = await self.drift.controls()
        return ui.drift_control_lines(acceptances, snoozes)

    # -- retraining ------------------------------------------------------------------------------

    async def deliver_retrain(self, row: OutboxRow) -> None:
        """POST the pipeline's webhook (its body a template); record the run id and link."""
        settings = self.container.settings
        run_ref = row.payload["run"]
        assert row.incident_id is not None
        view = await self.container.service.view(IncidentRef(incident_id=row.incident_id))
        model = view.model.name if view.model else ""
        values = {"model": model, "incident": view.incident.key, "run_id": run_ref}
        url = (settings.retrain_webhook_url or "").format(**values)
        payload = retrain_body(settings.retrain_webhook_body, values)
        try:
            _status, text = await post_signed(await self.session(), url, payload,
                                              secret=settings.retrain_webhook_secret,
                                              idempotency_key=f"retrain:{run_ref}", now=time.time(),
                                              token=settings.retrain_webhook_token)
        except Permanent as exc:
            await self.drift.pipeline_update(run_ref, "failed", detail={"error": str(exc)[:300]})
            raise
        run_id, link = pipeline_answer(text)
        await self.drift.pipeline_update(run_ref, "triggered", run_id=run_id, run_url=link)


def retrain_body(template: str | None, values: dict[str, str]) -> Any:
    """The webhook's JSON: the template with ``{model}``, ``{incident}``, ``{run_id}`` filled in
    (values JSON-escaped), else the bot's own body. Airflow: ``{"dag_run_id": "{run_id}",
    "conf": {"model": "{model}"}}``; GitHub workflow_dispatch: ``{"ref": "main", "inputs": ...}``."""
    if not template:
        return {"event": "model.retrain", **values}
    filled = template
    for key, value in values.items():
        filled = filled.replace("{" + key + "}", json.dumps(value)[1:-1])
    try:
        return json.loads(filled)
    except json.JSONDecodeError as exc:
        raise Permanent(f"RETRAIN_WEBHOOK_BODY is not JSON once filled in: {exc}") from exc


def pipeline_answer(text: str) -> tuple[str | None, str | None]:
    """The run id and link in a pipeline's answer (Airflow's ``dag_run_id``, Kubeflow's
    ``run_id``/``id``, ``url``/``html_url``), when it gives them."""
    try:
        data = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    run_id = next((str(data[k]) for k in ("dag_run_id", "run_id", "id") if data.get(k)), None)
    link = next((str(data[k]) for k in ("url", "html_url", "run_url") if data.get(k)), None)
    return run_id, link


def install(container: Container) -> None:
    feature = ModelActionsFeature(container)
    container.features.model_actions = feature
    handlers = container.dispatcher.handlers
    handlers[svc.WHAT_CHANGED] = feature.deliver_what_changed
    handlers[svc.ROLLBACK_MESSAGE] = feature.deliver_rollback_message
    handlers[svc.ROLLBACK_DECIDED] = feature.deliver_rollback_decided
    handlers[svc.MOVE_ALIAS] = feature.deliver_move
    handlers[svc.DEPLOY_HOOK] = feature.deliver_deploy_hook
    handlers[svc.RETRAIN_HOOK] = feature.deliver_retrain
    runner = container.features.drift
    if runner is not None:  # drift jobs compare against accepted drift, and keep quiet when snoozed
        runner.job_override = feature.rebaselined
        runner.runs.alert_gate = feature.snoozed
    container.slack.model_notes.append(feature.model_notes)
    container.service.reactions.on(IncidentDeclared, feature.on_declared)
    container.on_stop.append(feature.close)
    seconds = container.settings.model_sync_seconds
    if seconds > 0 and container.settings.tick_seconds > 0:
        container.scheduler.add_job(feature.scheduled_sync, "interval", seconds=seconds, id="registry-sync",
                                    max_instances=1, coalesce=True)

        async def first_sync(_c: Any) -> None:
            container.background.append(asyncio.create_task(feature.scheduled_sync()))

        container.on_start.append(first_sync)
    from handlers import model_actions as slack_handlers

    slack_handlers.register(container.bolt, container.slack, feature)
    slack_handlers.register_verbs(container.slack, feature)
    container.routes.append(slack_handlers.pipeline_route(feature))

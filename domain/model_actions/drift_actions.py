"""Accept drift (re-baseline), snooze drift alerts, and retrain: the use cases (issue 18).

Accepting drift is allowed on drift incidents and needs an assessment to take the window from;
its expiry and a snooze's length are bounded. Retraining records a pipeline run and asks the
outbox to call the pipeline's webhook; the pipeline's callback closes the run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain import text_boundary
from domain.model import Actor, AuditEvent, DomainError, Incident, TimelineEvent
from domain.model import TimelineEventType as TE
from domain.model_actions.drift_controls import (
    MAX_ACCEPTANCE,
    MAX_SNOOZE,
    DriftAcceptance,
    DriftSnooze,
    bounded,
    require_reason,
)
from domain.model_actions.facts import PipelineRun
from domain.model_actions.service import BOT, RETRAIN_HOOK, THREAD, ModelActions, is_drift_incident
from domain.ports import OutboxMessage, UnitOfWork
from domain.services import IncidentRef

PIPELINE_STATES = {"running", "succeeded", "failed"}
# How far along a run is: an update that is not further along than what is known is a repeat
# or arrived late (a callback can overtake the trigger's own answer), and a finished run stays
# finished; only a new run id from the pipeline (a re-run) starts over.
_PROGRESS = {"requested": 0, "triggered": 1, "running": 2, "succeeded": 3, "failed": 3}


class DriftActions:
    def __init__(self, actions: ModelActions) -> None:
        self.actions = actions
        self.service = actions.service

    def _repo(self, uow: UnitOfWork) -> Any:
        return self.actions.repo_for(uow)

    async def accept(self, ref: IncidentRef, actor: Actor, reason: str, duration: str,
                     reference_path: str | None = None) -> DriftAcceptance:
        """The window that drifted becomes the model's drift reference until the expiry."""
        reason = require_reason(text_boundary.clean(reason, "reason"), "Accepting drift")
        lasting = bounded(duration, MAX_ACCEPTANCE, "Accept drift for how long")

        async def work(uow: UnitOfWork) -> DriftAcceptance:
            incident, model = await self._drift_incident(uow, ref)
            latest = await self._repo(uow).latest_assessment(incident.model_id)
            if latest is None:
                raise DomainError(f"`{model}` has no drift assessment yet: nothing to re-baseline on.")
            now = self.service.clock.now()
            acceptance = DriftAcceptance(
                model, reason, actor.id, actor.name, now, now + lasting,
                reference_start=latest.evaluation_start, reference_end=latest.evaluation_end,
                reference_path=reference_path, psi_at_acceptance=latest.psi_composite,
                incident_id=incident.id)
            await self._repo(uow).add_acceptance(acceptance)
            text = self.actions.texts.drift_accepted(actor, acceptance, latest.psi_composite)
            await self._said(uow, incident, actor, text, "model.drift_accepted", {
                "model": model, "expires_at": acceptance.expires_at.isoformat(), "reason": reason,
                "psi": latest.psi_composite,
                "reference": [str(acceptance.reference_start), str(acceptance.reference_end)]})
            return acceptance

        return await self.service.run(work)

    async def snooze(self, ref: IncidentRef, actor: Actor, reason: str, duration: str) -> DriftSnooze:
        """No drift alert for the incident's model until the snooze ends (assessments go on)."""
        reason = require_reason(text_boundary.clean(reason, "reason"), "A snooze")
        lasting = bounded(duration, MAX_SNOOZE, "Snooze for how long")

        async def work(uow: UnitOfWork) -> DriftSnooze:
            incident = await self.service.resolve_ref(uow, ref)
            model = await uow.models.get(incident.model_id)
            assert model is not None
            now = self.service.clock.now()
            snooze = DriftSnooze(model.name, reason, actor.id, actor.name, now, now + lasting)
            await self._repo(uow).add_snooze(snooze)
            text = self.actions.texts.drift_snoozed(actor, snooze)
            await self._said(uow, incident, actor, text, "model.drift_snoozed", {
                "model": model.name, "until": snooze.until.isoformat(), "reason": reason})
            return snooze

        return await self.service.run(work)

    async def acceptance(self, model: str, now: datetime) -> DriftAcceptance | None:
        return await self.service.run(lambda uow: self._repo(uow).active_acceptance(model, now))

    async def snoozed(self, model: str, now: datetime) -> DriftSnooze | None:
        return await self.service.run(lambda uow: self._repo(uow).active_snooze(model, now))

    async def controls(self) -> tuple[list[DriftAcceptance], list[DriftSnooze]]:
        now = self.service.clock.now()
        return await self.service.run(lambda uow: self._repo(uow).active_controls(now))

    # -- retraining ----------------------------------------------------------------------------

    async def retrain(self, ref: IncidentRef, actor: Actor) -> PipelineRun:
        if not self.actions.config.retrain_hook:
            raise DomainError("Retraining is not configured on this bot (RETRAIN_WEBHOOK_URL).")

        async def work(uow: UnitOfWork) -> PipelineRun:
            incident = await self.service.resolve_ref(uow, ref)
            model = await uow.models.get(incident.model_id)
            assert model is not None
            now = self.service.clock.now()
            run = PipelineRun(model.name, actor.id, now, incident_id=incident.id)
            await self._repo(uow).add_run(run)
            await self._said(uow, incident, actor, self.actions.texts.retrain_requested(actor, model.name),
                             "model.retrain_requested", {"model": model.name, "run": str(run.id)})
            await uow.outbox.add(OutboxMessage(RETRAIN_HOOK, incident.id, {"run": str(run.id)},
                                               dedup_key=f"retrain:{run.id}",
                                               lane=f"hook:{model.name}"[:160]))
            return run

        return await self.service.run(work)

    async def pipeline_update(self, run_ref: str, status: str, run_id: str | None = None,
                              run_url: str | None = None,
                              detail: dict[str, Any] | None = None) -> PipelineRun:
        """The pipeline's answer (the trigger's response, or its callback): on the timeline."""
        if status not in PIPELINE_STATES | {"triggered"}:
            raise DomainError(f"status must be one of {', '.join(sorted(PIPELINE_STATES))}")

        async def work(uow: UnitOfWork) -> PipelineRun:
            repo = self._repo(uow)
            run = await repo.get_run(run_ref)
            if run is None:
                raise DomainError(f"no pipeline run {run_ref!r}")
            now = self.service.clock.now()
            rerun = run_id is not None and run.run_id is not None and run_id != run.run_id
            if not rerun and _PROGRESS[status] <= _PROGRESS.get(run.status, 0):
                if (run.run_id is None and run_id is not None) or (run.run_url is None and run_url):
                    run.run_id, run.run_url = run.run_id or run_id, run.run_url or run_url
                    await repo.save_run(run)  # what the late answer adds, said nowhere
                return run  # a repeated or late callback
            run.status, run.run_id = status, run_id or run.run_id
            run.run_url, run.detail = run_url or run.run_url, detail or run.detail
            if status in ("succeeded", "failed"):
                run.finished_at = now
            await repo.save_run(run)
            if run.incident_id is not None:
                incident = await self.service.resolve_ref(uow, IncidentRef(incident_id=run.incident_id))
                await self._said(uow, incident, BOT, self.actions.texts.retrain_status(run, status),
                                 "model.retrain_" + status, {"run": str(run.id), "run_id": run.run_id,
                                                             "url": run.run_url})
            return run

        return await self.service.run(work)

    # -- helpers -------------------------------------------------------------------------------

    async def _drift_incident(self, uow: UnitOfWork, ref: IncidentRef) -> tuple[Incident, str]:
        incident = await self.service.resolve_ref(uow, ref)
        if not is_drift_incident(incident):
            raise DomainError(f"{incident.key} is not a drift incident: there is no drift to accept.")
        model = await uow.models.get(incident.model_id)
        assert model is not None
        return incident, model.name

    async def _said(self, uow: UnitOfWork, incident: Incident, actor: Actor, text: str, action: str,
                    details: dict[str, Any]) -> None:
        now = self.service.clock.now()
        await uow.timeline.add(TimelineEvent(incident_id=incident.id, event_type=TE.NOTE, body=text,
                                             author=actor.id, author_name=actor.name, occurred_at=now,
                                             created_at=now))
        await uow.audit.add(AuditEvent(occurred_at=now, actor=actor.id, actor_name=actor.name, action=action,
                                       resource_type="incident", resource_id=str(incident.id),
                                       details={"incident": incident.number, **details}))
        await uow.outbox.add(OutboxMessage(THREAD, incident.id, {"text": text}))

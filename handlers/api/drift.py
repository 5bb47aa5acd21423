"""``POST /drift/assessments``: an assessment computed elsewhere (a feature store job, a
notebook) enters the same drift -> incident rules as the bot's own drift jobs: the policy's
thresholds pick the severity, an open drift incident of the model is fed (and raised), else one
is declared; the ``drift_assessments`` row is stored with the incident it fed."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from domain.api.auth import Scope
from domain.drift import DriftAssessment
from domain.model import AuditEvent
from handlers.api.http import ApiContext, ApiProblem, caller, endpoint, json_answer, preflight, read_body
from handlers.api.incidents import incident_response
from handlers.api.schemas import DriftAssessmentCreate, DriftAssessmentResult


def routes(ctx: ApiContext) -> list[web.RouteDef]:
    container = ctx.container

    async def submit(request: web.Request) -> web.StreamResponse:
        principal = await caller(ctx, request, Scope.DRIFT_WRITE)
        body = await read_body(request, DriftAssessmentCreate)
        run = ctx.run_drift
        if run is None:
            raise ApiProblem(503, "Drift off", "Drift checks are not part of this build.")
        model = next((m for m in await ctx.service.list_models()
                      if m.name == body.model or m.id == body.model_id), None)
        if model is None:
            raise ApiProblem(422, "Unknown model", "Give a registered model (name) or model_id.")
        if body.assessed_at.tzinfo is None:
            raise ApiProblem(422, "Invalid request body", "assessed_at needs a time zone.")
        thresholds = container.policy.drift
        detected = body.drift_detected if body.drift_detected is not None else (
            body.psi_composite > thresholds.psi_warn or body.ks_p_value < thresholds.ks_p_value)
        assessment = DriftAssessment(
            psi_composite=body.psi_composite, ks_p_value=body.ks_p_value, ks_statistic=None,
            drift_detected=detected, feature_scores=dict(body.feature_scores),
            reference_window_start=body.reference_window_start,
            reference_window_end=body.reference_window_end,
            evaluation_window_start=body.evaluation_window_start,
            evaluation_window_end=body.evaluation_window_end, source="submitted")
        a, incident = await run(model.name, assessment, body.assessed_at)
        await _audit(ctx, principal.actor, model.name, a, incident)
        view = await ctx.service.view(_ref(incident)) if incident is not None else None
        severity = thresholds.severity_for(a.psi_composite, a.drift_detected, model.labels)
        return json_answer(DriftAssessmentResult(
            drift_detected=a.drift_detected, severity=severity if incident else None,
            incident=incident_response(view.incident, view.model, view.link) if view else None,
            message=(f"fed {incident.key}" if incident else "recorded; no incident")), status=201)

    return [web.post("/drift/assessments", endpoint(ctx, submit)),
            web.options("/drift/assessments", preflight(ctx, "POST, OPTIONS"))]


def _ref(incident: Any) -> Any:
    from domain.services import IncidentRef

    return IncidentRef(incident_id=incident.id)


async def _audit(ctx: ApiContext, actor: Any, model: str, a: DriftAssessment,
                 incident: Any) -> None:
    """Who submitted it: the incident is the drift job's, the submission the API caller's."""
    async with ctx.container.uow_factory() as uow:
        await uow.audit.add(AuditEvent(
            occurred_at=ctx.clock.now(), actor=actor.id, actor_name=actor.name,
            action="drift.assessment_submitted", resource_type="model", resource_id=model,
            details={"psi_composite": a.psi_composite, "drift_detected": a.drift_detected,
                     "incident": incident.key if incident else None}))
        await uow.commit()

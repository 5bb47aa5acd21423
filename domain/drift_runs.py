"""What a drift assessment means for a model's incidents (issues 4, 18, 20), decided and written
in one transaction.

The assessment itself is computed elsewhere (files, a warehouse, or submitted over the API:
``bot/features/drift_jobs.py``); this use case applies the policy's thresholds, honours a snooze,
and then records the ``drift_assessments`` row together with what the drift does to incidents:
it declares the model's drift incident, or feeds the open one a timeline entry and raises its
severity when the drift got worse. A drift job that crashes mid-way therefore leaves either all
of it or none of it."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from domain.drift import DriftAssessment
from domain.model import Actor, Incident, MLModel, Severity, TimelineEvent, TimelineEventType, TriggerSource
from domain.policy import Policy
from domain.ports import OutboxMessage, UnitOfWork
from domain.services import DeclareIncident, IncidentRef, IncidentService

DRIFT_JOB = Actor("drift-job", "drift job")
DRIFT_CHART = "drift_chart"  # outbox kind: upload the chart into the announcement thread
SEVERITY_ORDER = [Severity.P4, Severity.P3, Severity.P2, Severity.P1]


class DriftTexts(Protocol):
    """How an assessment is said (Slack's: ``bot/slack_ui/drift.py``)."""

    def summary(self, model: str, a: DriftAssessment, psi_warn: float, psi_critical: float) -> str: ...


class AssessmentRows(Protocol):
    """Writes one ``drift_assessments`` row (its columns) in the use case's transaction."""

    async def __call__(self, uow: UnitOfWork, values: Mapping[str, Any]) -> None: ...


#: whether drift alerts on a model are snoozed at a time (issue 18's model actions)
AlertGate = Callable[[str, datetime], Awaitable[bool]]


@dataclass
class DriftRuns:
    service: IncidentService
    policy: Policy
    texts: DriftTexts
    record_row: AssessmentRows
    alert_gate: AlertGate | None = None

    async def severity(self, model: MLModel, a: DriftAssessment, now: datetime) -> Severity | None:
        """The severity the assessment alerts at, or None: below the thresholds, or snoozed
        (still assessed and recorded, but no alert)."""
        severity = self.policy.drift.severity_for(a.psi_composite, a.drift_detected, model.labels)
        if severity is not None and self.alert_gate is not None and await self.alert_gate(model.name, now):
            return None
        return severity

    def summary(self, model: MLModel, a: DriftAssessment) -> str:
        thresholds = self.policy.drift
        return self.texts.summary(model.name, a, thresholds.psi_warn, thresholds.psi_critical)

    async def act_on(self, model: MLModel, a: DriftAssessment, now: datetime,
                     severity: Severity | None, chart_png_b64: str | None = None) -> Incident | None:
        """One transaction: record the assessment; when it alerts (``severity``), feed the
        model's open drift incident (raising its severity if need be) or declare one, and
        queue the chart for the incident's thread. The incident it fed or opened, or None."""
        assessment_id = uuid.uuid4()
        text = self.summary(model, a)

        async def record(uow: UnitOfWork, incident: Incident | None) -> None:
            await self.record_row(uow, {
                "id": assessment_id, "model_id": model.id, "assessed_at": now,
                "psi_composite": a.psi_composite, "ks_p_value": a.ks_p_value,
                "drift_detected": a.drift_detected, "feature_scores": a.feature_scores,
                "reference_window_start": a.reference_window_start,
                "reference_window_end": a.reference_window_end,
                "evaluation_window_start": a.evaluation_window_start,
                "evaluation_window_end": a.evaluation_window_end,
                "incident_id": incident.id if incident else None})
            if incident is not None and chart_png_b64 is not None:
                title = f"Drift on {model.name} at {now:%Y-%m-%d %H:%M} UTC"
                await uow.outbox.add(OutboxMessage(DRIFT_CHART, incident.id,
                                                   {"png": chart_png_b64, "title": title}))

        async def work(uow: UnitOfWork) -> Incident | None:
            if severity is None:
                await record(uow, None)
                return None
            open_incident = await uow.incidents.find_open_for_model(
                model.id, TriggerSource.AUTOMATED_DRIFT.value)
            if open_incident is None:
                incident = await self.service.declare_in(uow, DeclareIncident(
                    title=f"Drift on {model.name}: PSI {a.psi_composite:.2f}", severity=severity,
                    model_name=model.name, description=text,
                    trigger_source=TriggerSource.AUTOMATED_DRIFT, labels=["drift"]), DRIFT_JOB)
                await record(uow, incident)
                return incident
            await uow.timeline.add(TimelineEvent(
                incident_id=open_incident.id, event_type=TimelineEventType.AUTOMATED_ALERT,
                body=text, author=DRIFT_JOB.id, author_name=DRIFT_JOB.name, occurred_at=now,
                created_at=now, source_ref=f"drift:{assessment_id}"))
            await record(uow, open_incident)
            if SEVERITY_ORDER.index(severity) > SEVERITY_ORDER.index(open_incident.severity):
                await self.service.change_severity_in(
                    uow, IncidentRef(incident_id=open_incident.id), DRIFT_JOB, severity)
            return open_incident

        return await self.service.run(work)

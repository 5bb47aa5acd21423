"""What a drift assessment does to a model's incidents (domain/drift_runs.py), on the fake unit of
work: the policy's thresholds, a snooze, then one transaction that records the assessment with
the incident it declared or fed. End to end (files, warehouses, Slack): tests/e2e/test_drift_jobs.py."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pytest

from domain.drift import DriftAssessment
from domain.drift_runs import DRIFT_CHART, DRIFT_JOB, DriftRuns
from domain.model import MLModel, Severity, TimelineEventType, TriggerSource
from domain.policy import default_policy
from domain.ports import UnitOfWork
from domain.services import DeclareIncident, IncidentService
from tests.fakes import FakeClock, FakeDatabase, FakeUnitOfWork


class Texts:
    def summary(self, model: str, a: DriftAssessment, psi_warn: float, psi_critical: float) -> str:
        return f"{model} PSI {a.psi_composite} (warn {psi_warn}, critical {psi_critical})"


class Rows:
    """The ``drift_assessments`` rows, kept only when their unit of work commits."""

    def __init__(self) -> None:
        self.written: list[tuple[FakeUnitOfWork, int, dict[str, Any]]] = []
        self.fail = False

    async def __call__(self, uow: UnitOfWork, values: Mapping[str, Any]) -> None:
        if self.fail:
            raise RuntimeError("the database went away")
        assert isinstance(uow, FakeUnitOfWork)
        self.written.append((uow, uow.commits, dict(values)))

    @property
    def committed(self) -> list[dict[str, Any]]:
        return [row for uow, commits, row in self.written if uow.commits > commits]


@pytest.fixture
def rows() -> Rows:
    return Rows()


@pytest.fixture
def service(db: FakeDatabase, clock: FakeClock) -> IncidentService:
    return IncidentService(db.uow_factory(clock), clock, default_policy())


@pytest.fixture
def runs(service: IncidentService, rows: Rows) -> DriftRuns:
    return DriftRuns(service, default_policy(), Texts(), rows)


@pytest.fixture
def model(db: FakeDatabase) -> MLModel:
    return next(iter(db.models.values()))


def assessment(psi: float, detected: bool = False) -> DriftAssessment:
    return DriftAssessment(psi_composite=psi, ks_p_value=0.5, ks_statistic=0.01,
                           drift_detected=detected, feature_scores={"income": psi})


async def run(runs: DriftRuns, model: MLModel, a: DriftAssessment, now: datetime,
              chart: str | None = "cG5n") -> Any:
    return await runs.act_on(model, a, now, await runs.severity(model, a, now), chart)


@pytest.mark.parametrize(("psi", "detected", "labels", "severity"), [
    (0.05, False, [], None),                        # quiet
    (0.05, True, [], Severity.P4),                  # a feature drifted, the composite did not
    (0.20, False, [], Severity.P3),                 # above warn
    (0.40, False, [], Severity.P3),                 # above critical
    (0.40, False, ["revenue-critical"], Severity.P2),
])
async def test_the_policy_thresholds_give_the_severity(
        runs: DriftRuns, model: MLModel, clock: FakeClock, psi: float, detected: bool,
        labels: list[str], severity: Severity | None) -> None:
    model.labels = labels
    assert await runs.severity(model, assessment(psi, detected), clock.now()) is severity


async def test_a_snoozed_model_is_assessed_but_not_alerted_and_the_gate_is_asked_only_on_an_alert(
        runs: DriftRuns, model: MLModel, clock: FakeClock) -> None:
    asked: list[str] = []

    async def snoozed(name: str, _at: datetime) -> bool:
        asked.append(name)
        return True

    runs.alert_gate = snoozed
    assert await runs.severity(model, assessment(0.05), clock.now()) is None
    assert asked == []
    assert await runs.severity(model, assessment(0.40), clock.now()) is None
    assert asked == [model.name]


async def test_a_quiet_assessment_is_recorded_alone_in_one_transaction(
        runs: DriftRuns, model: MLModel, db: FakeDatabase, rows: Rows, clock: FakeClock) -> None:
    assert await run(runs, model, assessment(0.05), clock.now()) is None
    [row] = rows.committed
    assert (row["model_id"], row["psi_composite"], row["incident_id"]) == (model.id, 0.05, None)
    assert (db.transactions, db.commits, db.incidents, db.outbox) == (1, 1, {}, [])


async def test_drift_with_no_open_incident_declares_one_with_its_row_and_chart_in_one_transaction(
        runs: DriftRuns, model: MLModel, db: FakeDatabase, rows: Rows, clock: FakeClock) -> None:
    incident = await run(runs, model, assessment(0.20), clock.now())

    assert (db.transactions, db.commits) == (1, 1)
    assert (incident.severity, incident.model_id, incident.trigger_source, incident.labels) == (
        Severity.P3, model.id, TriggerSource.AUTOMATED_DRIFT, ["drift"])
    assert incident.title == "Drift on credit-risk-v3: PSI 0.20"
    assert incident.description == Texts().summary(model.name, assessment(0.20), 0.15, 0.25)
    assert db.audit[0].actor == DRIFT_JOB.id
    [row] = rows.committed
    assert row["incident_id"] == incident.id
    [chart] = [m for m in db.outbox if m.kind == DRIFT_CHART]
    assert (chart.incident_id, chart.payload["png"]) == (incident.id, "cG5n")


async def test_without_a_chart_the_incident_is_declared_all_the_same(
        runs: DriftRuns, model: MLModel, db: FakeDatabase, clock: FakeClock) -> None:
    incident = await run(runs, model, assessment(0.20), clock.now(), chart=None)
    assert incident is not None
    assert not [m for m in db.outbox if m.kind == DRIFT_CHART]


async def test_drift_on_a_model_with_an_open_drift_incident_feeds_it_and_raises_its_severity(
        runs: DriftRuns, model: MLModel, db: FakeDatabase, rows: Rows, clock: FakeClock) -> None:
    first = await run(runs, model, assessment(0.20), clock.now())
    clock.advance(hours=1)
    model.labels = ["revenue-critical"]

    fed = await run(runs, model, assessment(0.40), clock.now())

    assert fed.id == first.id and len(db.incidents) == 1
    assert db.incident(first.number).severity is Severity.P2  # P3 -> P2: the drift got worse
    [alert] = [e for e in db.timeline if e.event_type is TimelineEventType.AUTOMATED_ALERT]
    assert (alert.body, alert.author) == (Texts().summary(model.name, assessment(0.40), 0.15, 0.25),
                                          DRIFT_JOB.id)
    assert alert.source_ref == f"drift:{rows.committed[-1]['id']}"
    assert rows.committed[-1]["incident_id"] == first.id


async def test_milder_drift_feeds_the_open_incident_without_lowering_its_severity(
        runs: DriftRuns, service: IncidentService, model: MLModel, db: FakeDatabase,
        clock: FakeClock) -> None:
    model.labels = ["revenue-critical"]
    first = await run(runs, model, assessment(0.40), clock.now())
    fed = await run(runs, model, assessment(0.06, detected=True), clock.now())
    assert fed.id == first.id and db.incident(first.number).severity is Severity.P2


async def test_a_manual_incident_on_the_model_is_not_fed_a_drift_incident_is_declared_beside_it(
        runs: DriftRuns, service: IncidentService, model: MLModel, db: FakeDatabase,
        clock: FakeClock) -> None:
    manual = await service.declare(DeclareIncident("Latency", Severity.P2, model.name), DRIFT_JOB)
    incident = await run(runs, model, assessment(0.20), clock.now())
    assert incident.id != manual.id and incident.trigger_source is TriggerSource.AUTOMATED_DRIFT


async def test_a_failed_row_write_leaves_no_incident_behind(
        runs: DriftRuns, model: MLModel, db: FakeDatabase, rows: Rows, clock: FakeClock) -> None:
    rows.fail = True
    with pytest.raises(RuntimeError):
        await run(runs, model, assessment(0.20), clock.now())
    assert (db.commits, db.incidents, db.outbox, db.audit) == (0, {}, [], [])

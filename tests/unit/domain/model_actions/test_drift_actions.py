"""``DriftActions`` (domain/model_actions/drift_actions.py) as specifications, on the in-memory
unit of work: accepting drift (a re-baseline with a reason and an expiry), snoozing drift alerts,
and retraining with the pipeline's answers. End to end: tests/e2e/test_model_actions.py.

Each action is said once on the timeline and in the thread, and audited, in one transaction; a
refusal writes nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.model import Actor, DomainError, Incident, Severity, TimelineEventType, TriggerSource
from domain.model_actions.drift_actions import DriftActions
from domain.model_actions.drift_controls import DriftAcceptance, DriftSnooze
from domain.model_actions.facts import AssessmentFact, PipelineRun
from domain.model_actions.service import BOT, RETRAIN_HOOK, THREAD, ModelActions, ModelActionsConfig
from domain.model_actions.texts import PlainModelActionTexts
from domain.services import DeclareIncident, IncidentRef, IncidentService
from tests.fakes import FakeClock, FakeDatabase
from tests.unit.domain.model_actions.fakes import (
    FakeRegistry,
    ModelActionsStore,
    Roles,
    repo_for,
)

MODEL = "credit-risk-v3"  # in the fake database (tests/unit/conftest.py)
SRE = Actor("U0PLATSRE", "sam")
DRIFT_JOB = Actor("drift-job", "drift job")
INC1 = IncidentRef(number=1)
TEXTS = PlainModelActionTexts()


def drift_actions(service: IncidentService, retrain_hook: bool = True) -> DriftActions:
    return DriftActions(ModelActions(service, repo_for, FakeRegistry(), Roles(None),
                                     ModelActionsConfig(retrain_hook=retrain_hook)))


@pytest.fixture
def drift(service: IncidentService) -> DriftActions:
    return drift_actions(service)


async def declare(service: IncidentService, trigger: TriggerSource = TriggerSource.AUTOMATED_DRIFT,
                  labels: tuple[str, ...] = ()) -> Incident:
    return await service.declare(DeclareIncident("PSI 0.31 on income", Severity.P2, MODEL,
                                                 trigger_source=trigger, labels=list(labels)), DRIFT_JOB)


def assessed(store: ModelActionsStore, db: FakeDatabase, clock: FakeClock, psi: float = 0.31,
             hours_ago: float = 1) -> AssessmentFact:
    """A drift assessment of the model, ``hours_ago`` before now, over the 24 h before it."""
    at = clock.now() - timedelta(hours=hours_ago)
    fact = AssessmentFact(at, psi, psi > 0.25, at - timedelta(hours=24), at)
    model_id = next(m.id for m in db.models.values() if m.name == MODEL)
    store.add_assessment(model_id, fact)
    return fact


def written(db: FakeDatabase) -> tuple[int, int, int]:
    return len(db.timeline), len(db.audit), len(db.outbox)


def said_once(db: FakeDatabase, before: tuple[int, int, int], incident: Incident, actor: Actor,
              text: str, action: str) -> dict[str, object]:
    """One note, one audit row and one thread post, all saying ``text``; the audit's details."""
    assert written(db) == (before[0] + 1, before[1] + 1, before[2] + 1)
    note, audit, post = db.timeline[-1], db.audit[-1], db.outbox[-1]
    assert (note.event_type, note.author, note.author_name, note.body) == (
        TimelineEventType.NOTE, actor.id, actor.name, text)
    assert (audit.action, audit.actor, audit.resource_type, audit.resource_id) == (
        action, actor.id, "incident", str(incident.id))
    assert (post.kind, post.incident_id, post.payload) == (THREAD, incident.id, {"text": text})
    assert audit.details["incident"] == incident.number
    return audit.details


# -- accepting drift ---------------------------------------------------------------------------

async def test_accepting_drift_makes_the_drifted_window_the_reference_until_the_expiry(
        drift: DriftActions, service: IncidentService, store: ModelActionsStore, db: FakeDatabase,
        clock: FakeClock) -> None:
    assessed(store, db, clock, psi=0.12, hours_ago=3)
    latest = assessed(store, db, clock, psi=0.31, hours_ago=1)
    incident = await declare(service)
    before, commits = written(db), db.commits

    accepted = await drift.accept(INC1, SRE, "new customer segment, expected", "7d", "/b/ref.csv")

    assert db.commits == commits + 1
    assert store.tables.acceptances == [accepted]
    assert (accepted.model, accepted.reason, accepted.accepted_by, accepted.accepted_at,
            accepted.expires_at, accepted.incident_id) == (
        MODEL, "new customer segment, expected", SRE.id, clock.now(), clock.now() + timedelta(days=7),
        incident.id)
    assert (accepted.reference_start, accepted.reference_end, accepted.reference_path,
            accepted.psi_at_acceptance) == (latest.evaluation_start, latest.evaluation_end,
                                            "/b/ref.csv", 0.31)
    details = said_once(db, before, incident, SRE, TEXTS.drift_accepted(SRE, accepted, 0.31),
                        "model.drift_accepted")
    assert details == {"incident": 1, "model": MODEL, "expires_at": accepted.expires_at.isoformat(),
                       "reason": "new customer segment, expected", "psi": 0.31,
                       "reference": [str(latest.evaluation_start), str(latest.evaluation_end)]}


async def test_a_manual_incident_labelled_drift_is_a_drift_incident(
        drift: DriftActions, service: IncidentService, store: ModelActionsStore, db: FakeDatabase,
        clock: FakeClock) -> None:
    assessed(store, db, clock)
    await declare(service, TriggerSource.MANUAL, labels=("drift",))
    assert (await drift.accept(INC1, SRE, "expected shift", "1d")).model == MODEL


async def test_drift_cannot_be_accepted_from_an_incident_that_is_not_about_drift(
        drift: DriftActions, service: IncidentService, store: ModelActionsStore, db: FakeDatabase,
        clock: FakeClock) -> None:
    assessed(store, db, clock)
    await declare(service, TriggerSource.MANUAL, labels=("latency",))
    before = written(db)
    with pytest.raises(DomainError, match="INC-1 is not a drift incident: there is no drift to accept."):
        await drift.accept(INC1, SRE, "expected shift", "1d")
    assert written(db) == before and store.tables.acceptances == []


async def test_drift_cannot_be_accepted_before_the_model_was_ever_assessed(
        drift: DriftActions, service: IncidentService, store: ModelActionsStore, db: FakeDatabase) -> None:
    await declare(service)
    before = written(db)
    with pytest.raises(DomainError, match="`credit-risk-v3` has no drift assessment yet: nothing to "
                                          "re-baseline on."):
        await drift.accept(INC1, SRE, "expected shift", "1d")
    assert written(db) == before and store.tables.acceptances == []


@pytest.mark.parametrize(("reason", "duration", "refusal"), [
    ("ok", "1d", r"Accepting drift needs a reason \(it is audited\)\."),
    ("   \x00\x00  ", "1d", "Accepting drift needs a reason"),
    ("expected shift", "", "Accept drift for how long: give a duration such as 4h or 2d."),
    ("expected shift", "91d", "Accept drift for how long: at most 90 days; `91d` is longer."),
    ("expected shift", "soon", "Accept drift for how long: "),
])
async def test_an_acceptance_needs_a_reason_and_a_bounded_duration_checked_before_any_transaction(
        drift: DriftActions, db: FakeDatabase, reason: str, duration: str, refusal: str) -> None:
    with pytest.raises(DomainError, match=refusal):
        await drift.accept(INC1, SRE, reason, duration)
    assert db.transactions == 0


async def test_the_longest_acceptance_is_allowed(
        drift: DriftActions, service: IncidentService, store: ModelActionsStore, db: FakeDatabase,
        clock: FakeClock) -> None:
    assessed(store, db, clock)
    await declare(service)
    accepted = await drift.accept(INC1, SRE, "expected shift", "90d")
    assert accepted.expires_at - accepted.accepted_at == timedelta(days=90)


async def test_the_reason_of_an_acceptance_passes_the_text_boundary(
        drift: DriftActions, service: IncidentService, store: ModelActionsStore, db: FakeDatabase,
        clock: FakeClock) -> None:
    assessed(store, db, clock)
    await declare(service)
    accepted = await drift.accept(INC1, SRE, "  agreed\x00 with  jane.doe@example.com ", "1d")
    assert accepted.reason == "agreed with [email]"
    assert db.audit[-1].details["reason"] == "agreed with [email]"


async def test_an_acceptance_is_in_force_from_its_start_until_just_before_it_expires(
        drift: DriftActions, service: IncidentService, store: ModelActionsStore, db: FakeDatabase,
        clock: FakeClock) -> None:
    assessed(store, db, clock)
    await declare(service)
    start = clock.now()
    accepted = await drift.accept(INC1, SRE, "expected shift", "2d")

    assert await drift.acceptance(MODEL, start - timedelta(seconds=1)) is None
    assert await drift.acceptance(MODEL, start) == accepted
    assert await drift.acceptance(MODEL, accepted.expires_at - timedelta(seconds=1)) == accepted
    assert await drift.acceptance(MODEL, accepted.expires_at) is None
    assert await drift.acceptance("fraud-detector", start) is None


# -- snoozing drift alerts -----------------------------------------------------------------------

async def test_a_snooze_silences_the_models_drift_alerts_until_it_ends(
        drift: DriftActions, service: IncidentService, store: ModelActionsStore, db: FakeDatabase,
        clock: FakeClock) -> None:
    incident = await declare(service)
    before = written(db)

    snooze = await drift.snooze(INC1, SRE, "warehouse maintenance", "2h")

    assert store.tables.snoozes == [snooze]
    assert (snooze.model, snooze.reason, snooze.snoozed_by, snooze.snoozed_at, snooze.until) == (
        MODEL, "warehouse maintenance", SRE.id, clock.now(), clock.now() + timedelta(hours=2))
    details = said_once(db, before, incident, SRE, TEXTS.drift_snoozed(SRE, snooze), "model.drift_snoozed")
    assert details == {"incident": 1, "model": MODEL, "until": snooze.until.isoformat(),
                       "reason": "warehouse maintenance"}
    assert await drift.snoozed(MODEL, clock.now() + timedelta(hours=1, minutes=59)) == snooze
    assert await drift.snoozed(MODEL, snooze.until) is None


@pytest.mark.parametrize(("reason", "duration", "refusal"), [
    ("", "2h", r"A snooze needs a reason \(it is audited\)\."),
    ("maintenance", "8d", "Snooze for how long: at most 7 days; `8d` is longer."),
    ("maintenance", "", "Snooze for how long: give a duration such as 4h or 2d."),
])
async def test_a_snooze_needs_a_reason_and_at_most_a_week_checked_before_any_transaction(
        drift: DriftActions, db: FakeDatabase, reason: str, duration: str, refusal: str) -> None:
    with pytest.raises(DomainError, match=refusal):
        await drift.snooze(INC1, SRE, reason, duration)
    assert db.transactions == 0


async def test_the_controls_in_force_are_the_unexpired_acceptances_and_snoozes(
        drift: DriftActions, service: IncidentService, store: ModelActionsStore, db: FakeDatabase,
        clock: FakeClock) -> None:
    assessed(store, db, clock)
    await declare(service)
    short = await drift.snooze(INC1, SRE, "short maintenance", "1h")
    accepted = await drift.accept(INC1, SRE, "expected shift", "1d")
    long = await drift.snooze(INC1, SRE, "long maintenance", "3h")

    assert await drift.controls() == ([accepted], [short, long])
    clock.advance(hours=2)
    assert await drift.controls() == ([accepted], [long])
    assert await drift.snoozed(MODEL, clock.now()) == long
    clock.advance(days=1)
    assert await drift.controls() == ([], [])


# -- retraining ----------------------------------------------------------------------------------

async def test_retraining_records_a_run_and_queues_the_pipeline_call_once(
        drift: DriftActions, service: IncidentService, store: ModelActionsStore, db: FakeDatabase,
        clock: FakeClock) -> None:
    incident = await declare(service)
    before = written(db)

    run = await drift.retrain(INC1, SRE)

    assert store.run(run.id) == run
    assert (run.model, run.requested_by, run.requested_at, run.status, run.incident_id) == (
        MODEL, SRE.id, clock.now(), "requested", incident.id)
    assert written(db) == (before[0] + 1, before[1] + 1, before[2] + 2)
    note, audit = db.timeline[-1], db.audit[-1]
    text = TEXTS.retrain_requested(SRE, MODEL)
    assert (note.author, note.body) == (SRE.id, text)
    assert (audit.action, audit.details) == ("model.retrain_requested",
                                             {"incident": 1, "model": MODEL, "run": str(run.id)})
    said, hook = db.outbox[-2:]
    assert (said.kind, said.payload) == (THREAD, {"text": text})
    assert (hook.kind, hook.incident_id, hook.payload, hook.dedup_key, hook.lane) == (
        RETRAIN_HOOK, incident.id, {"run": str(run.id)}, f"retrain:{run.id}", f"hook:{MODEL}")


async def test_retraining_is_refused_when_no_pipeline_is_configured(
        service: IncidentService, db: FakeDatabase) -> None:
    await declare(service)
    before, transactions = written(db), db.transactions
    with pytest.raises(DomainError, match=r"Retraining is not configured on this bot "
                                          r"\(RETRAIN_WEBHOOK_URL\)\."):
        await drift_actions(service, retrain_hook=False).retrain(INC1, SRE)
    assert written(db) == before and db.transactions == transactions


async def retraining(drift: DriftActions, service: IncidentService) -> PipelineRun:
    await declare(service)
    return await drift.retrain(INC1, SRE)


async def test_the_pipelines_answer_is_said_by_the_bot_on_the_incident(
        drift: DriftActions, service: IncidentService, store: ModelActionsStore, db: FakeDatabase,
        clock: FakeClock) -> None:
    run = await retraining(drift, service)
    incident = db.incident(1)
    before = written(db)

    triggered = await drift.pipeline_update(str(run.id), "triggered", run_id="bot-run",
                                            run_url="https://airflow.example/runs/bot-run")

    assert store.run(run.id) == triggered
    assert (triggered.status, triggered.run_id, triggered.run_url, triggered.finished_at) == (
        "triggered", "bot-run", "https://airflow.example/runs/bot-run", None)
    details = said_once(db, before, incident, BOT, TEXTS.retrain_status(triggered, "triggered"),
                        "model.retrain_triggered")
    assert details == {"incident": 1, "run": str(run.id), "run_id": "bot-run",
                       "url": "https://airflow.example/runs/bot-run"}


async def test_a_callback_finds_the_run_by_the_pipelines_own_id_and_a_final_status_dates_its_end(
        drift: DriftActions, service: IncidentService, store: ModelActionsStore, db: FakeDatabase,
        clock: FakeClock) -> None:
    run = await retraining(drift, service)
    await drift.pipeline_update(str(run.id), "triggered", run_id="bot-run", run_url="https://a/r",
                                detail={"queue": "gpu"})
    clock.advance(minutes=5)
    running = await drift.pipeline_update("bot-run", "running")
    assert (running.status, running.finished_at) == ("running", None)
    clock.advance(minutes=40)

    done = await drift.pipeline_update("bot-run", "succeeded")

    assert (done.id, done.status, done.finished_at) == (run.id, "succeeded", clock.now())
    assert (done.run_id, done.run_url, done.detail) == ("bot-run", "https://a/r", {"queue": "gpu"})
    assert db.audit[-1].action == "model.retrain_succeeded"
    assert db.timeline[-1].body == TEXTS.retrain_status(done, "succeeded")


async def test_a_failed_pipeline_call_ends_the_run_with_its_error(
        drift: DriftActions, service: IncidentService, clock: FakeClock, db: FakeDatabase) -> None:
    run = await retraining(drift, service)
    failed = await drift.pipeline_update(str(run.id), "failed", detail={"error": "HTTP 403"})
    assert (failed.status, failed.finished_at, failed.detail) == ("failed", clock.now(),
                                                                  {"error": "HTTP 403"})
    assert db.audit[-1].action == "model.retrain_failed"


async def test_a_repeated_callback_changes_nothing_and_says_nothing_again(
        drift: DriftActions, service: IncidentService, store: ModelActionsStore, db: FakeDatabase,
        clock: FakeClock) -> None:
    run = await retraining(drift, service)
    await drift.pipeline_update(str(run.id), "triggered", run_id="bot-run")
    first = await drift.pipeline_update("bot-run", "succeeded")
    before = written(db)
    clock.advance(minutes=1)

    again = await drift.pipeline_update("bot-run", "succeeded")
    by_bot_id = await drift.pipeline_update(str(run.id), "succeeded", run_id="bot-run")

    assert again == by_bot_id == first == store.run(run.id)
    assert written(db) == before


@pytest.mark.parametrize("late", ["triggered", "running", "failed"])
async def test_a_late_answer_never_takes_a_finished_run_back(
        drift: DriftActions, service: IncidentService, store: ModelActionsStore, db: FakeDatabase,
        late: str) -> None:
    run = await retraining(drift, service)
    done = await drift.pipeline_update(str(run.id), "succeeded")  # the callback overtook the answer
    before = written(db)

    after = await drift.pipeline_update(str(run.id), late, run_id="bot-run", run_url="https://a/r")

    assert (after.status, after.finished_at) == ("succeeded", done.finished_at)
    assert written(db) == before  # nothing said: the timeline still ends on "succeeded"
    assert (store.run(run.id).run_id, store.run(run.id).run_url) == ("bot-run", "https://a/r")


async def test_a_running_callback_after_the_trigger_answer_moves_on_but_not_back(
        drift: DriftActions, service: IncidentService, db: FakeDatabase) -> None:
    run = await retraining(drift, service)
    await drift.pipeline_update(str(run.id), "running", run_id="bot-run")
    before = written(db)
    late = await drift.pipeline_update(str(run.id), "triggered", run_id="bot-run")
    assert late.status == "running" and written(db) == before


async def test_a_callback_naming_another_pipeline_run_is_news(
        drift: DriftActions, service: IncidentService, db: FakeDatabase) -> None:
    run = await retraining(drift, service)
    await drift.pipeline_update(str(run.id), "triggered", run_id="bot-run")
    before = written(db)
    rerun = await drift.pipeline_update(str(run.id), "triggered", run_id="bot-run-2")
    assert rerun.run_id == "bot-run-2"
    assert written(db) == (before[0] + 1, before[1] + 1, before[2] + 1)


async def test_an_update_for_an_unknown_run_is_refused_and_writes_nothing(
        drift: DriftActions, service: IncidentService, db: FakeDatabase) -> None:
    await retraining(drift, service)
    before = written(db)
    with pytest.raises(DomainError, match="no pipeline run 'nope'"):
        await drift.pipeline_update("nope", "succeeded")
    assert written(db) == before


@pytest.mark.parametrize("status", ["requested", "done", "SUCCEEDED", ""])
async def test_an_update_with_an_unknown_status_is_refused_before_any_transaction(
        drift: DriftActions, db: FakeDatabase, status: str) -> None:
    with pytest.raises(DomainError, match="status must be one of failed, running, succeeded"):
        await drift.pipeline_update("bot-run", status)
    assert db.transactions == 0


async def test_a_run_without_an_incident_is_updated_silently(
        drift: DriftActions, service: IncidentService, store: ModelActionsStore, db: FakeDatabase,
        clock: FakeClock) -> None:
    run = PipelineRun(MODEL, "cli", clock.now())  # started from the CLI, no incident
    await service.run(lambda uow: repo_for(uow).add_run(run))
    done = await drift.pipeline_update(str(run.id), "succeeded")
    assert store.run(run.id).status == done.status == "succeeded"
    assert written(db) == (0, 0, 0)


def test_acceptances_and_snoozes_are_active_in_their_half_open_interval(clock: FakeClock) -> None:
    now = clock.now()
    acceptance = DriftAcceptance(MODEL, "r", "u", "n", now, now + timedelta(hours=1))
    snooze = DriftSnooze(MODEL, "r", "u", "n", now, now + timedelta(hours=1))
    for control in (acceptance, snooze):
        assert control.active(now) and control.active(now + timedelta(minutes=59))
        assert not control.active(now - timedelta(seconds=1))
        assert not control.active(now + timedelta(hours=1))

"""``ModelActions`` (domain/model_actions/service.py) as specifications, on the in-memory unit of
work: the registry sync, "what changed?", and a rollback requested, decided and carried out under
GOV-001's RACI. No database, no MLflow, no Slack (end to end: tests/e2e/test_model_actions.py;
the MLflow adapter: tests/integration/test_mlflow_registry.py).

Each use case runs in one unit of work: what it says (timeline note), audits and queues (outbox
rows) commits together, and a refusal writes nothing but its own audit row.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from domain.governance.roles import Role
from domain.model import (
    Actor,
    DomainError,
    Incident,
    MLModel,
    ModelStage,
    Severity,
    TimelineEventType,
    TriggerSource,
)
from domain.model_actions.changes import ChangeKind
from domain.model_actions.facts import AssessmentFact, EarlierIncidentFact, IacDriftFact
from domain.model_actions.registry import (
    CHALLENGER,
    CHAMPION,
    REVENUE_TAG,
    RegistryModel,
    RegistryVersion,
)
from domain.model_actions.rollback import (
    AlreadyDecided,
    Rollback,
    RollbackPolicy,
    RollbackRefused,
    RollbackStatus,
)
from domain.model_actions.service import (
    BOT,
    DEPLOY_HOOK,
    MOVE_ALIAS,
    ROLLBACK_DECIDED,
    ROLLBACK_MESSAGE,
    SYNC,
    THREAD,
    ModelActions,
    ModelActionsConfig,
)
from domain.model_actions.texts import PlainModelActionTexts
from domain.services import DeclareIncident, IncidentNotFound, IncidentRef, IncidentService
from tests.fakes import FakeClock, FakeDatabase
from tests.unit.domain.model_actions.fakes import (
    FakeRegistry,
    ModelActionsStore,
    Roles,
    repo_for,
)

MODEL = "credit-risk-v3"  # in the fake database (tests/unit/conftest.py), version "1", team risk
IC, SRE, MLE = Actor("U0COMMANDER", "carol"), Actor("U0PLATSRE", "sam"), Actor("U0MLENGINEER", "mel")
OTHER_IC, OTHER_SRE = Actor("U0COMMANDER2", "cid"), Actor("U0PLATSRE2", "sue")
ROLES = {IC.id: frozenset({Role.INCIDENT_COMMANDER}), OTHER_IC.id: frozenset({Role.INCIDENT_COMMANDER}),
         SRE.id: frozenset({Role.ML_PLATFORM_SRE}), OTHER_SRE.id: frozenset({Role.ML_PLATFORM_SRE}),
         MLE.id: frozenset({Role.ML_ENGINEER})}
DRIFT_JOB = Actor("drift-job", "drift job")
INC1 = IncidentRef(number=1)
TEXTS = PlainModelActionTexts()  # what a use case built without a renderer says


@pytest.fixture
def registry(clock: FakeClock) -> FakeRegistry:
    """MLflow as the sync sees it: credit-risk-v3 with v1 and v2, champion on v1."""
    t0 = clock.now() - timedelta(days=2)
    return FakeRegistry("mlflow", [RegistryModel(
        MODEL, {"team": "risk-ml"}, {CHAMPION: "1"},
        (RegistryVersion("1", t0, "s3://m/1"), RegistryVersion("2", t0 + timedelta(days=1), "s3://m/2")))])


def model_actions(service: IncidentService, registry: FakeRegistry, *, governance: bool = True,
                  **config: object) -> ModelActions:
    """The use cases on the fakes; ``governance=False``: role checks off (GOVERNANCE_MODE=open)."""
    settings = ModelActionsConfig(registry_kind=registry.kind, **config)  # type: ignore[arg-type]
    return ModelActions(service, repo_for, registry, Roles(ROLES if governance else None), settings)


@pytest.fixture
def actions(service: IncidentService, registry: FakeRegistry) -> ModelActions:
    return model_actions(service, registry, deploy_hook=True)


def deploy(registry: FakeRegistry, alias: str, version: str) -> None:
    model = registry.models[MODEL]
    registry.put(RegistryModel(MODEL, model.tags, {**model.aliases, alias: version}, model.versions))


async def deployed_v2(actions: ModelActions, registry: FakeRegistry, clock: FakeClock) -> None:
    """Seen by two syncs: champion on v1, then moved to v2 ten minutes later."""
    await actions.sync()
    clock.advance(minutes=10)
    deploy(registry, CHAMPION, "2")
    await actions.sync()
    clock.advance(minutes=30)


async def declare(service: IncidentService, severity: Severity = Severity.P2) -> Incident:
    return await service.declare(DeclareIncident(
        "Drift on credit-risk-v3: PSI 0.31", severity, MODEL,
        trigger_source=TriggerSource.AUTOMATED_DRIFT, labels=["drift"]), DRIFT_JOB)


async def requested(actions: ModelActions, registry: FakeRegistry, clock: FakeClock,
                    service: IncidentService, severity: Severity = Severity.P2,
                    by: Actor = SRE) -> Rollback:
    """v2 deployed, a drift incident declared, a rollback to v1 requested by ``by``."""
    await deployed_v2(actions, registry, clock)
    await declare(service, severity)
    return await actions.request_rollback(INC1, by, "1", "v2 drifts on income")


def written(db: FakeDatabase) -> tuple[int, int, int]:
    """Timeline, audit and outbox rows committed so far."""
    return len(db.timeline), len(db.audit), len(db.outbox)


def model_row(db: FakeDatabase, name: str = MODEL) -> MLModel:
    return next(m for m in db.models.values() if m.name == name)


# -- registry sync ---------------------------------------------------------------------------------

async def test_a_first_sync_records_the_model_but_dates_no_move_and_audits_nothing(
        actions: ModelActions, store: ModelActionsStore, db: FakeDatabase) -> None:
    counts = await actions.sync()

    assert counts == {"models": 1, "moves": 0, "new_versions": 2}
    assert store.tables.aliases[MODEL] == {CHAMPION: "1"}
    assert [v.version for v in store.tables.versions[MODEL]] == ["1", "2"]
    assert store.tables.history == []  # where champion pointed before the bot knew the model
    assert db.audit == []


async def test_a_later_sync_dates_each_alias_move_and_new_version_and_audits_them(
        actions: ModelActions, registry: FakeRegistry, store: ModelActionsStore, db: FakeDatabase,
        clock: FakeClock) -> None:
    await actions.sync()
    clock.advance(minutes=10)
    deploy(registry, CHAMPION, "2")
    v3 = RegistryVersion("3", clock.now() - timedelta(minutes=1))
    model = registry.models[MODEL]
    registry.put(RegistryModel(MODEL, model.tags, model.aliases, (*model.versions, v3)))

    counts = await actions.sync()

    assert counts == {"models": 1, "moves": 1, "new_versions": 1}
    [move] = store.tables.history
    assert (move.alias, move.previous, move.version, move.moved_at, move.moved_by) == (
        CHAMPION, "1", "2", clock.now(), SYNC.id)
    [audit] = db.audit
    assert (audit.action, audit.actor, audit.resource_type, audit.resource_id) == (
        "model.registry_synced", SYNC.id, "model", MODEL)
    assert audit.details == {"registry": "mlflow",
                             "alias_moves": [{"alias": CHAMPION, "from": "1", "to": "2"}],
                             "new_versions": ["3"]}


async def test_a_sync_that_sees_nothing_new_records_no_move_and_audits_nothing(
        actions: ModelActions, store: ModelActionsStore, db: FakeDatabase) -> None:
    await actions.sync()
    assert await actions.sync() == {"models": 1, "moves": 0, "new_versions": 0}
    assert store.tables.history == [] and db.audit == []


async def test_each_model_syncs_in_its_own_transaction_under_its_lock_taken_before_reading(
        service: IncidentService, registry: FakeRegistry, store: ModelActionsStore,
        db: FakeDatabase, clock: FakeClock) -> None:
    registry.put(RegistryModel("fraud-detector", {"team": "fraud"}, {CHAMPION: "7"},
                               (RegistryVersion("7", clock.now()),)))
    before = db.commits

    assert (await model_actions(service, registry).sync())["models"] == 2

    assert db.commits - before == 2
    # another replica's sync of the same model waits, then reads what this one recorded
    assert store.calls == [f"lock {MODEL}", f"read {MODEL}", "lock fraud-detector", "read fraud-detector"]


async def test_the_models_table_follows_the_champion_the_team_tag_and_the_revenue_tag(
        actions: ModelActions, registry: FakeRegistry, db: FakeDatabase) -> None:
    existing = model_row(db)
    existing.labels = ["tier-1"]  # a label the registry's tags do not decide
    registry.put(RegistryModel(MODEL, {"team": "credit-ml", REVENUE_TAG: "yes"}, {CHAMPION: "2"},
                               registry.models[MODEL].versions))

    await actions.sync()

    row = model_row(db)
    assert (row.id, row.version, row.team, row.labels) == (existing.id, "2", "credit-ml",
                                                           ["tier-1", REVENUE_TAG])
    registry.put(RegistryModel(MODEL, {"team": "credit-ml"}, {CHAMPION: "2"},
                               registry.models[MODEL].versions))
    await actions.sync()
    assert model_row(db).labels == ["tier-1"]  # the tag went: only the revenue label goes


async def test_a_model_new_to_the_bot_joins_the_models_table_serving_its_newest_version(
        actions: ModelActions, registry: FakeRegistry, db: FakeDatabase, clock: FakeClock) -> None:
    registry.put(RegistryModel("churn", {REVENUE_TAG: "true"}, {},  # no champion alias
                               (RegistryVersion("2", clock.now()), RegistryVersion("10", clock.now()))))
    registry.put(RegistryModel("empty", {}, {}, ()))  # nothing serves: nothing to follow

    await actions.sync()

    churn = model_row(db, "churn")
    assert (churn.version, churn.team, churn.stage, churn.labels, churn.registered_at) == (
        "10", "unknown", ModelStage.PRODUCTION, [REVENUE_TAG], clock.now())
    assert not any(m.name == "empty" for m in db.models.values())


async def test_the_manual_registry_is_the_models_table_so_a_sync_never_writes_it(
        service: IncidentService, db: FakeDatabase, clock: FakeClock) -> None:
    manual = FakeRegistry("manual", [RegistryModel(MODEL, {"team": "other"}, {CHAMPION: "9"},
                                                   (RegistryVersion("9", clock.now()),)),
                                     RegistryModel("unseen", {}, {CHAMPION: "1"},
                                                   (RegistryVersion("1", clock.now()),))])
    await model_actions(service, manual).sync()
    assert (model_row(db).version, model_row(db).team) == ("1", "risk")
    assert not any(m.name == "unseen" for m in db.models.values())


# -- what changed? ---------------------------------------------------------------------------------

async def test_what_changed_lists_the_facts_of_the_window_before_the_incident_newest_first(
        actions: ModelActions, registry: FakeRegistry, store: ModelActionsStore,
        service: IncidentService, db: FakeDatabase, clock: FakeClock) -> None:
    await deployed_v2(actions, registry, clock)  # champion v1 -> v2, 30 min before declaring
    at = clock.now()
    model_id = model_row(db).id
    store.tables.iac.append(IacDriftFact(at - timedelta(hours=2), "aws_s3_bucket.features",
                                         "modified", "high", "prod"))
    store.tables.iac.append(IacDriftFact(at - timedelta(hours=30), "aws_iam_role.old", "deleted",
                                         "low", "prod"))  # outside the 24 h window
    store.add_assessment(model_id, AssessmentFact(at - timedelta(hours=1), 0.31, True, None, None))
    store.tables.earlier.append((model_id, uuid.uuid4(), EarlierIncidentFact(
        7, "Nulls in income", "p2", "closed", at - timedelta(days=20), "upstream schema change")))

    await declare(service)
    incident, name, changes = await actions.what_changed(INC1)

    assert (incident.number, name) == (1, MODEL)
    assert [c.kind for c in changes] == [ChangeKind.ALIAS_MOVE, ChangeKind.DRIFT_ASSESSMENT,
                                         ChangeKind.IAC_DRIFT, ChangeKind.EARLIER_INCIDENT]
    assert changes[0].text == "alias champion moved v1 -> v2"
    assert changes[0].occurred_at == at - timedelta(minutes=30)
    assert "earlier incident INC-7" in changes[-1].text  # kept whatever its age: its root cause


async def test_what_changed_takes_registry_versions_from_the_window_asked_for(
        actions: ModelActions, registry: FakeRegistry, service: IncidentService,
        clock: FakeClock) -> None:
    await actions.sync()  # v1 two days, v2 one day before now
    clock.advance(hours=2)
    await declare(service)

    _, _, default = await actions.what_changed(INC1)
    _, _, wider = await actions.what_changed(INC1, window=timedelta(days=3))

    assert default == []  # v2 was registered 26 h before the incident
    assert [c.text for c in wider] == ["new version v2 of credit-risk-v3 registered from s3://m/2",
                                       "new version v1 of credit-risk-v3 registered from s3://m/1"]


async def test_what_changed_on_an_unknown_incident_is_refused(actions: ModelActions) -> None:
    with pytest.raises(IncidentNotFound, match="No incident INC-1"):
        await actions.what_changed(INC1)


# -- the rollback form -----------------------------------------------------------------------------

async def test_the_rollback_form_defaults_to_the_version_champion_held_before_its_latest_move(
        actions: ModelActions, registry: FakeRegistry, service: IncidentService, clock: FakeClock) -> None:
    await deployed_v2(actions, registry, clock)
    await declare(service)

    form = await actions.rollback_form(INC1)

    assert (form.model, form.alias, form.current, form.default, form.versions, form.open_request) == (
        MODEL, CHAMPION, "2", "1", ["1", "2"], None)
    pending = await actions.request_rollback(INC1, SRE, "1", "v2 drifts")
    assert (await actions.rollback_form(INC1)).open_request == pending


async def test_the_rollback_form_is_refused_without_versions_or_without_a_model(
        actions: ModelActions, service: IncidentService, db: FakeDatabase) -> None:
    await declare(service)
    with pytest.raises(DomainError, match=r"`credit-risk-v3` has no versions in the mlflow registry "
                                          r"yet \(`incident-bot models sync`\)"):
        await actions.rollback_form(INC1)
    del db.models[model_row(db).id]
    with pytest.raises(DomainError, match="This incident has no model to roll back."):
        await actions.rollback_form(INC1)


# -- requesting a rollback -------------------------------------------------------------------------

async def test_a_responsible_sre_requests_a_rollback_noted_audited_and_posted_in_one_transaction(
        actions: ModelActions, registry: FakeRegistry, service: IncidentService,
        store: ModelActionsStore, db: FakeDatabase, clock: FakeClock) -> None:
    await deployed_v2(actions, registry, clock)
    incident = await declare(service)
    before, commits = written(db), db.commits

    rollback = await actions.request_rollback(INC1, SRE, "1", "  v2 drifts\x00 on income ")

    assert db.commits == commits + 1
    assert store.rollback(rollback.id) == rollback
    assert (rollback.status, rollback.model, rollback.alias, rollback.from_version, rollback.to_version,
            rollback.reason, rollback.requested_by, rollback.requested_at) == (
        RollbackStatus.REQUESTED, MODEL, CHAMPION, "2", "1", "v2 drifts on income", SRE.id, clock.now())
    assert written(db) == (before[0] + 1, before[1] + 1, before[2] + 1)
    note = db.timeline[-1]
    assert (note.event_type, note.author, note.body) == (
        TimelineEventType.NOTE, SRE.id, TEXTS.rollback_requested_note(SRE, rollback))
    audit = db.audit[-1]
    assert (audit.action, audit.actor, audit.resource_type, audit.resource_id) == (
        "model.rollback_requested", SRE.id, "rollback", str(rollback.id))
    assert audit.details == {"model": MODEL, "alias": CHAMPION, "incident": 1, "from": "2", "to": "1",
                             "reason": "v2 drifts on income"}
    message = db.outbox[-1]
    assert (message.kind, message.incident_id, message.payload) == (
        ROLLBACK_MESSAGE, incident.id, {"rollback_id": str(rollback.id),
                                        "text": TEXTS.rollback_requested_post(SRE, rollback)})


async def test_the_reason_of_a_rollback_passes_the_text_boundary(
        actions: ModelActions, registry: FakeRegistry, service: IncidentService, clock: FakeClock) -> None:
    await deployed_v2(actions, registry, clock)
    await declare(service)
    rollback = await actions.request_rollback(INC1, IC, "1", "asked by jane.doe@example.com")
    assert rollback.reason == "asked by [email]"


@pytest.mark.parametrize("reason", ["", "  ", "no", "\x00\x00\x00ok"])
async def test_a_rollback_without_a_reason_is_refused_before_anything_is_read(
        actions: ModelActions, db: FakeDatabase, reason: str) -> None:
    with pytest.raises(DomainError, match=r"A rollback needs a reason \(it is audited\)"):
        await actions.request_rollback(INC1, SRE, "1", reason)
    assert db.transactions == 0


async def test_only_the_responsible_or_accountable_roles_may_request_a_rollback(
        actions: ModelActions, registry: FakeRegistry, service: IncidentService,
        store: ModelActionsStore, db: FakeDatabase, clock: FakeClock) -> None:
    await deployed_v2(actions, registry, clock)
    await declare(service)
    timeline, outbox = len(db.timeline), len(db.outbox)

    with pytest.raises(RollbackRefused, match="Only Incident Commander or ML Platform SRE may request a "
                                              "rollback"):
        await actions.request_rollback(INC1, MLE, "1", "v2 drifts on income")

    assert (len(db.timeline), len(db.outbox), store.tables.rollbacks) == (timeline, outbox, {})
    assert not any(a.action == "model.rollback_requested" for a in db.audit)
    await actions.request_rollback(INC1, IC, "1", "v2 drifts on income")  # accountable may ask too


async def test_a_refused_rollback_request_is_audited_on_the_incident_like_a_refused_approval(
        actions: ModelActions, registry: FakeRegistry, service: IncidentService,
        db: FakeDatabase, clock: FakeClock) -> None:
    await deployed_v2(actions, registry, clock)
    incident = await declare(service)
    audited = len(db.audit)

    with pytest.raises(RollbackRefused) as refused:
        await actions.request_rollback(INC1, MLE, "1", "v2 drifts on income")

    [refusal] = db.audit[audited:]  # GOV-001 7.1: access-control decisions are audited
    assert (refusal.action, refusal.actor, refusal.actor_name, refusal.resource_type,
            refusal.resource_id) == ("model.rollback_refused", MLE.id, MLE.name, "incident",
                                     str(incident.id))
    assert refusal.details == {"incident": 1, "refused_actor": MLE.id, "refused_actor_name": MLE.name,
                               "attempted": "request", "to": "1", "why": str(refused.value)}


async def test_a_refused_request_on_an_unknown_incident_says_the_incident_is_unknown(
        actions: ModelActions, db: FakeDatabase) -> None:
    with pytest.raises(IncidentNotFound):
        await actions.request_rollback(IncidentRef(number=99), MLE, "1", "v2 drifts on income")
    assert db.audit == []


async def test_with_role_checks_off_anyone_may_request_a_rollback(
        service: IncidentService, registry: FakeRegistry, clock: FakeClock) -> None:
    open_actions = model_actions(service, registry, governance=False)
    await deployed_v2(open_actions, registry, clock)
    await declare(service)
    rollback = await open_actions.request_rollback(INC1, MLE, "1", "v2 drifts on income")
    assert rollback.requested_by == MLE.id


@pytest.mark.parametrize("verbs", [["ack", "resolve"], ["ack", "resolve", "close"]])
async def test_a_rollback_on_an_incident_no_longer_active_is_refused_and_writes_nothing(
        actions: ModelActions, registry: FakeRegistry, service: IncidentService,
        store: ModelActionsStore, db: FakeDatabase, clock: FakeClock, verbs: list[str]) -> None:
    await deployed_v2(actions, registry, clock)
    await declare(service)
    for verb in verbs:
        await service.change_status(INC1, verb, IC)
    before = written(db)

    with pytest.raises(DomainError, match=r"INC-1 is (resolved|closed); reopen it to roll back\."):
        await actions.request_rollback(INC1, SRE, "1", "v2 drifts on income")
    assert written(db) == before and store.tables.rollbacks == {}


async def test_a_rollback_to_a_version_the_registry_does_not_know_is_refused_naming_the_known_ones(
        actions: ModelActions, registry: FakeRegistry, service: IncidentService,
        store: ModelActionsStore, db: FakeDatabase, clock: FakeClock) -> None:
    await deployed_v2(actions, registry, clock)
    await declare(service)
    before = written(db)
    with pytest.raises(DomainError, match=r"`credit-risk-v3` has no version `0`\. Known: 1, 2\."):
        await actions.request_rollback(INC1, SRE, "0", "v2 drifts on income")
    assert written(db) == before and store.tables.rollbacks == {}


async def test_a_second_request_while_one_waits_for_approval_is_refused(
        actions: ModelActions, registry: FakeRegistry, service: IncidentService,
        store: ModelActionsStore, db: FakeDatabase, clock: FakeClock) -> None:
    first = await requested(actions, registry, clock, service)
    before = written(db)
    with pytest.raises(DomainError, match=r"A rollback to v1 is already waiting for approval "
                                          r"\(asked by sam\)\."):
        await actions.request_rollback(INC1, IC, "1", "me too")
    assert written(db) == before and list(store.tables.rollbacks) == [first.id]

    await actions.decide_rollback(first.id, IC, approve=False)  # decided: a new request may come
    await actions.request_rollback(INC1, IC, "1", "v2 drifts, second try")


# -- deciding ------------------------------------------------------------------------------------

async def test_the_accountable_commander_approves_and_the_alias_move_is_queued_once(
        actions: ModelActions, registry: FakeRegistry, service: IncidentService,
        store: ModelActionsStore, db: FakeDatabase, clock: FakeClock) -> None:
    asked = await requested(actions, registry, clock, service)
    clock.advance(minutes=2)
    before = written(db)

    approved = await actions.decide_rollback(asked.id, IC, approve=True)

    assert store.rollback(asked.id) == approved
    assert (approved.status, approved.decided_by, approved.decided_by_name, approved.decided_at,
            approved.break_glass) == (RollbackStatus.APPROVED, IC.id, IC.name, clock.now(), False)
    assert written(db) == (before[0] + 1, before[1] + 1, before[2] + 3)
    assert (db.timeline[-1].author, db.timeline[-1].body) == (
        IC.id, TEXTS.rollback_decided_note(IC, approved))
    audit = db.audit[-1]
    assert (audit.action, audit.actor, audit.resource_id) == ("model.rollback_approved", IC.id, str(asked.id))
    assert audit.details == {"model": MODEL, "alias": CHAMPION, "incident": 1, "requested_by": SRE.id,
                             "requested_by_name": SRE.name, "decided_by": IC.id, "decided_by_name": IC.name,
                             "break_glass": False, "from": "2", "to": "1"}
    said, decided, move = db.outbox[-3:]
    assert (said.kind, said.payload) == (THREAD, {"text": TEXTS.rollback_decided_post(IC, approved)})
    assert (decided.kind, decided.payload) == (ROLLBACK_DECIDED, {"rollback_id": str(asked.id)})
    assert (move.kind, move.payload, move.dedup_key, move.lane) == (
        MOVE_ALIAS, {"rollback_id": str(asked.id)}, f"rollback-move:{asked.id}", f"registry:{MODEL}")


async def test_a_rejection_is_noted_and_audited_and_moves_nothing(
        actions: ModelActions, registry: FakeRegistry, service: IncidentService,
        store: ModelActionsStore, db: FakeDatabase, clock: FakeClock) -> None:
    asked = await requested(actions, registry, clock, service)

    rejected = await actions.decide_rollback(asked.id, IC, approve=False)

    assert store.rollback(asked.id).status is RollbackStatus.REJECTED
    assert (rejected.decided_by, rejected.break_glass) == (IC.id, False)
    assert db.audit[-1].action == "model.rollback_rejected"
    assert [m.kind for m in db.outbox[-2:]] == [THREAD, ROLLBACK_DECIDED]
    assert not any(m.kind == MOVE_ALIAS for m in db.outbox)


@pytest.mark.parametrize(("approve", "attempted"), [(True, "approve"), (False, "reject")])
async def test_a_decision_by_a_role_that_is_not_accountable_is_refused_and_only_the_refusal_is_audited(
        actions: ModelActions, registry: FakeRegistry, service: IncidentService,
        store: ModelActionsStore, db: FakeDatabase, clock: FakeClock, approve: bool,
        attempted: str) -> None:
    asked = await requested(actions, registry, clock, service)
    timeline, outbox = len(db.timeline), len(db.outbox)

    with pytest.raises(RollbackRefused, match="Only Incident Commander may approve a rollback"):
        await actions.decide_rollback(asked.id, MLE, approve=approve)

    assert store.rollback(asked.id).status is RollbackStatus.REQUESTED
    assert (len(db.timeline), len(db.outbox)) == (timeline, outbox)
    refusal = db.audit[-1]
    assert (refusal.action, refusal.actor, refusal.actor_name, refusal.resource_type,
            refusal.resource_id) == ("model.rollback_refused", MLE.id, MLE.name, "rollback", str(asked.id))
    assert refusal.details == {
        "model": MODEL, "alias": CHAMPION, "requested_by": SRE.id, "requested_by_name": SRE.name,
        "refused_actor": MLE.id, "refused_actor_name": MLE.name, "attempted": attempted,
        "why": refusal.details["why"]}
    assert refusal.details["why"].startswith("Only Incident Commander may approve")
    # an SRE holds the responsible role, not the accountable one
    with pytest.raises(RollbackRefused, match="Only Incident Commander may approve"):
        await actions.decide_rollback(asked.id, OTHER_SRE, approve=approve)


async def test_approving_your_own_request_is_refused_below_the_break_glass_severity(
        actions: ModelActions, registry: FakeRegistry, service: IncidentService,
        store: ModelActionsStore, db: FakeDatabase, clock: FakeClock) -> None:
    asked = await requested(actions, registry, clock, service, Severity.P2, by=IC)
    with pytest.raises(RollbackRefused, match="You requested this rollback, so someone else holding "
                                              "Incident Commander must approve it"):
        await actions.decide_rollback(asked.id, IC, approve=True)
    assert store.rollback(asked.id).status is RollbackStatus.REQUESTED
    assert db.audit[-1].action == "model.rollback_refused"

    approved = await actions.decide_rollback(asked.id, OTHER_IC, approve=True)  # four eyes
    assert (approved.status, approved.break_glass) == (RollbackStatus.APPROVED, False)


async def test_on_a_sev1_the_requester_may_approve_alone_and_it_is_audited_as_break_glass(
        actions: ModelActions, registry: FakeRegistry, service: IncidentService,
        db: FakeDatabase, clock: FakeClock) -> None:
    asked = await requested(actions, registry, clock, service, Severity.P1, by=SRE)

    approved = await actions.decide_rollback(asked.id, SRE, approve=True)

    assert (approved.status, approved.break_glass) == (RollbackStatus.APPROVED, True)
    assert db.audit[-1].action == "model.rollback_approved" and db.audit[-1].details["break_glass"] is True
    assert "(break-glass self-approval, GOV-001 5.3)" in db.timeline[-1].body
    assert any(m.kind == MOVE_ALIAS for m in db.outbox)


async def test_withdrawing_your_own_sev1_request_is_not_break_glass(
        actions: ModelActions, registry: FakeRegistry, service: IncidentService, db: FakeDatabase,
        clock: FakeClock) -> None:
    asked = await requested(actions, registry, clock, service, Severity.P1, by=SRE)
    rejected = await actions.decide_rollback(asked.id, SRE, approve=False)
    assert (rejected.status, rejected.break_glass) == (RollbackStatus.REJECTED, False)
    assert db.audit[-1].details["break_glass"] is False


async def test_the_break_glass_severities_come_from_the_configuration(
        service: IncidentService, registry: FakeRegistry, clock: FakeClock) -> None:
    sev2_glass = model_actions(service, registry, break_glass=RollbackPolicy(
        break_glass=frozenset({Severity.P1, Severity.P2})))
    asked = await requested(sev2_glass, registry, clock, service, Severity.P2, by=SRE)
    assert (await sev2_glass.decide_rollback(asked.id, SRE, approve=True)).break_glass is True


async def test_with_role_checks_off_anyone_else_may_approve_but_self_approval_keeps_its_rule(
        service: IncidentService, registry: FakeRegistry, clock: FakeClock) -> None:
    open_actions = model_actions(service, registry, governance=False)
    asked = await requested(open_actions, registry, clock, service, Severity.P2, by=MLE)
    with pytest.raises(RollbackRefused, match="You requested this rollback"):
        await open_actions.decide_rollback(asked.id, MLE, approve=True)
    approved = await open_actions.decide_rollback(asked.id, Actor("U0ANYONE", "any"), approve=True)
    assert approved.status is RollbackStatus.APPROVED


async def test_a_second_click_on_a_decided_request_changes_nothing_and_says_who_decided(
        actions: ModelActions, registry: FakeRegistry, service: IncidentService,
        store: ModelActionsStore, db: FakeDatabase, clock: FakeClock) -> None:
    asked = await requested(actions, registry, clock, service)
    first = await actions.decide_rollback(asked.id, IC, approve=True)
    timeline, outbox = len(db.timeline), len(db.outbox)

    with pytest.raises(AlreadyDecided, match="This rollback was already approved by carol."):
        await actions.decide_rollback(asked.id, IC, approve=True)
    with pytest.raises(AlreadyDecided, match="already approved by carol"):
        await actions.decide_rollback(asked.id, OTHER_IC, approve=False)

    assert store.rollback(asked.id) == first
    assert (len(db.timeline), len(db.outbox)) == (timeline, outbox)
    assert [a.action for a in db.audit].count("model.rollback_approved") == 1
    assert [m.kind for m in db.outbox].count(MOVE_ALIAS) == 1


async def test_of_two_decisions_at_once_the_later_writes_nothing(
        actions: ModelActions, registry: FakeRegistry, service: IncidentService,
        store: ModelActionsStore, db: FakeDatabase, clock: FakeClock) -> None:
    asked = await requested(actions, registry, clock, service)
    seen: dict[str, int] = {}

    async def another_replica_rejects_first() -> None:
        await actions.decide_rollback(asked.id, OTHER_IC, approve=False)
        seen["outbox"], seen["timeline"] = len(db.outbox), len(db.timeline)

    store.before_save_rollback.append(another_replica_rejects_first)
    with pytest.raises(DomainError, match="This rollback was decided by someone else a moment ago."):
        await actions.decide_rollback(asked.id, IC, approve=True)

    assert store.rollback(asked.id).status is RollbackStatus.REJECTED
    assert store.rollback(asked.id).decided_by == OTHER_IC.id
    assert (len(db.outbox), len(db.timeline)) == (seen["outbox"], seen["timeline"])
    assert not any(m.kind == MOVE_ALIAS for m in db.outbox)
    assert [a.action for a in db.audit if a.action.startswith("model.rollback_")] == [
        "model.rollback_requested", "model.rollback_rejected"]


async def test_deciding_a_request_that_no_longer_exists_is_refused(
        actions: ModelActions, db: FakeDatabase) -> None:
    with pytest.raises(DomainError, match="That rollback request no longer exists."):
        await actions.decide_rollback(uuid.uuid4(), IC, approve=True)
    assert written(db) == (0, 0, 0)


# -- the registry's answer -------------------------------------------------------------------------

async def approved_rollback(actions: ModelActions, registry: FakeRegistry, clock: FakeClock,
                            service: IncidentService, alias: str = CHAMPION) -> Rollback:
    await deployed_v2(actions, registry, clock)
    await declare(service)
    asked = await actions.request_rollback(INC1, SRE, "1", "v2 drifts on income", alias=alias)
    return await actions.decide_rollback(asked.id, IC, approve=True)


async def test_a_moved_alias_completes_the_rollback_dates_the_move_and_calls_the_deploy_hook(
        actions: ModelActions, registry: FakeRegistry, service: IncidentService,
        store: ModelActionsStore, db: FakeDatabase, clock: FakeClock) -> None:
    approved = await approved_rollback(actions, registry, clock, service)
    clock.advance(minutes=1)
    timeline, outbox = len(db.timeline), len(db.outbox)

    done = await actions.alias_moved(approved.id, moved=True, error=None)

    assert store.rollback(approved.id) == done
    assert (done.status, done.outcome) == (RollbackStatus.DONE, "alias moved")
    assert store.tables.aliases[MODEL][CHAMPION] == "1"
    move = store.tables.history[-1]
    assert (move.alias, move.previous, move.version, move.moved_at, move.moved_by) == (
        CHAMPION, "2", "1", clock.now(), "rollback by carol")
    assert model_row(db).version == "1"  # the models table serves what champion points at
    text = TEXTS.rollback_done(done, True, "mlflow")
    assert len(db.timeline) == timeline + 1
    assert (db.timeline[-1].event_type, db.timeline[-1].author, db.timeline[-1].body) == (
        TimelineEventType.AUTOMATED_ALERT, BOT.id, text)
    audit = db.audit[-1]
    assert (audit.action, audit.actor) == ("model.rollback_executed", BOT.id)
    assert audit.details == {"model": MODEL, "alias": CHAMPION, "incident": 1, "status": "done",
                             "outcome": "alias moved", "registry": "mlflow"}
    said, hook = db.outbox[outbox:]
    assert (said.kind, said.payload) == (THREAD, {"text": text})
    assert (hook.kind, hook.payload, hook.dedup_key, hook.lane) == (
        DEPLOY_HOOK, {"rollback_id": str(approved.id)}, f"rollback-hook:{approved.id}", f"hook:{MODEL}")


async def test_an_alias_already_there_completes_the_rollback_as_a_no_op_without_dating_a_move(
        actions: ModelActions, registry: FakeRegistry, service: IncidentService,
        store: ModelActionsStore, db: FakeDatabase, clock: FakeClock) -> None:
    approved = await approved_rollback(actions, registry, clock, service)
    history = list(store.tables.history)

    done = await actions.alias_moved(approved.id, moved=False, error=None)

    assert (done.status, done.outcome) == (RollbackStatus.DONE, "alias already there (no-op)")
    assert store.tables.history == history
    assert db.timeline[-1].body == TEXTS.rollback_done(done, False, "mlflow")
    assert "(it already pointed there)" in db.timeline[-1].body
    assert db.outbox[-1].kind == DEPLOY_HOOK  # the deploy still has to happen


async def test_a_registry_refusal_fails_the_rollback_and_calls_no_deploy_hook(
        actions: ModelActions, registry: FakeRegistry, service: IncidentService,
        store: ModelActionsStore, db: FakeDatabase, clock: FakeClock) -> None:
    approved = await approved_rollback(actions, registry, clock, service)
    outbox = len(db.outbox)
    error = "MLflow refused: no version 1 " + "x" * 600

    failed = await actions.alias_moved(approved.id, moved=False, error=error)

    assert (failed.status, failed.outcome) == (RollbackStatus.FAILED, error[:500])
    assert store.tables.aliases[MODEL][CHAMPION] == "2" and model_row(db).version == "2"
    assert db.timeline[-1].body == TEXTS.rollback_failed(failed, error)
    assert db.audit[-1].details["status"] == "failed"
    assert [m.kind for m in db.outbox[outbox:]] == [THREAD]


async def test_without_a_deploy_hook_a_done_rollback_queues_only_its_message(
        service: IncidentService, registry: FakeRegistry, db: FakeDatabase, clock: FakeClock) -> None:
    no_hook = model_actions(service, registry, deploy_hook=False)
    approved = await approved_rollback(no_hook, registry, clock, service)
    outbox = len(db.outbox)
    await no_hook.alias_moved(approved.id, moved=True, error=None)
    assert [m.kind for m in db.outbox[outbox:]] == [THREAD]


async def test_moving_another_alias_than_champion_leaves_the_models_table_alone(
        actions: ModelActions, registry: FakeRegistry, service: IncidentService,
        store: ModelActionsStore, db: FakeDatabase, clock: FakeClock) -> None:
    deploy(registry, CHALLENGER, "2")
    approved = await approved_rollback(actions, registry, clock, service, alias=CHALLENGER)
    assert approved.from_version == "2"
    await actions.alias_moved(approved.id, moved=True, error=None)
    assert store.tables.aliases[MODEL] == {CHAMPION: "2", CHALLENGER: "1"}
    assert model_row(db).version == "2"


async def test_a_redelivered_registry_answer_is_recorded_once(
        actions: ModelActions, registry: FakeRegistry, service: IncidentService,
        store: ModelActionsStore, db: FakeDatabase, clock: FakeClock) -> None:
    approved = await approved_rollback(actions, registry, clock, service)
    done = await actions.alias_moved(approved.id, moved=True, error=None)
    before, history = written(db), list(store.tables.history)

    again = await actions.alias_moved(approved.id, moved=True, error=None)
    failed_late = await actions.alias_moved(approved.id, moved=False, error="timeout")

    assert again == done == failed_late == store.rollback(approved.id)
    assert written(db) == before and store.tables.history == history


# -- webhook answers -------------------------------------------------------------------------------

async def test_a_hook_result_is_noted_audited_and_posted_in_the_thread_together(
        actions: ModelActions, service: IncidentService, db: FakeDatabase, clock: FakeClock) -> None:
    incident = await declare(service)
    before, commits = written(db), db.commits

    await actions.hook_result(incident.id, "Deploy hook accepted the rollback (HTTP 202).",
                              "model.deploy_hook_called", {"status": 202})

    assert db.commits == commits + 1
    assert written(db) == (before[0] + 1, before[1] + 1, before[2] + 1)
    note, audit, message = db.timeline[-1], db.audit[-1], db.outbox[-1]
    assert (note.event_type, note.author, note.body, note.occurred_at) == (
        TimelineEventType.AUTOMATED_ALERT, BOT.id, "Deploy hook accepted the rollback (HTTP 202).",
        clock.now())
    assert (audit.action, audit.actor, audit.resource_type, audit.resource_id, audit.details) == (
        "model.deploy_hook_called", BOT.id, "incident", str(incident.id), {"status": 202})
    assert (message.kind, message.incident_id, message.payload) == (
        THREAD, incident.id, {"text": "Deploy hook accepted the rollback (HTTP 202)."})


async def test_get_rollback_reads_the_committed_request(
        actions: ModelActions, registry: FakeRegistry, service: IncidentService, clock: FakeClock) -> None:
    asked = await requested(actions, registry, clock, service)
    assert await actions.get_rollback(asked.id) == asked
    assert await actions.get_rollback(uuid.uuid4()) is None


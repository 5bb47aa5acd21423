"""The feature use cases moved into domain/ (issue 13), as specifications on the fake unit of work:
runbook checklists (domain/checklists.py) and stakeholder updates (domain/updates.py).

Their stores are in-memory fakes of the ports; each use case is one transaction, so a refusal
leaves nothing behind.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from bot.slack_ui.mrkdwn import mention
from domain.checklists import CHECKLIST, Checklists, Followed, StepDone, StepOutcome
from domain.events import IncidentDeclared, IncidentEvent
from domain.governance.roles import RaciGate, Role, RoleRefused
from domain.model import Actor, DomainError, Incident, Severity, Status
from domain.policy import default_policy
from domain.ports import UnitOfWork
from domain.runbooks import Runbook, Step
from domain.services import REFRESH, THREAD, DeclareIncident, Gates, IncidentRef, IncidentService
from domain.updates import StakeholderUpdates
from tests.fakes import FakeClock, FakeDatabase

SRE, MLE, JOB = Actor("U0SRE", "sre"), Actor("U0MLE", "mle"), Actor("drift-job", "drift job")
INC1 = IncidentRef(number=1)
NULLS = Runbook("null-predictions", "3", "Null predictions", "ml-platform",
                (Step("1", "Check the feature store", 1), Step("2", "Roll back the view", 2)),
                keywords=("null",))


class Roles:
    async def roles_of(self, user_id: str) -> frozenset[Role]:
        return frozenset({Role.ML_PLATFORM_SRE}) if user_id == SRE.id else frozenset()


class Shelf:
    runbooks = [NULLS]
    by_name = {NULLS.name: NULLS}

    def url(self, runbook: Runbook) -> str:
        return f"runbooks/{runbook.name}.md"


class Records:
    """ChecklistRecords in memory."""

    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, Followed] = {}

    def __call__(self, uow: UnitOfWork) -> Records:
        return self

    async def follow(self, incident_id: uuid.UUID, runbook: Runbook, by: str, at: datetime) -> None:
        self.rows[incident_id] = Followed(runbook.name, runbook.version)

    async def followed(self, incident_id: uuid.UUID) -> Followed | None:
        return self.rows.get(incident_id)

    async def mark_done(self, incident_id: uuid.UUID, followed: Followed, step_id: str, actor: Actor,
                        at: datetime) -> bool:
        self.rows[incident_id].done[step_id] = StepDone(actor.id, at)
        return True

    async def message_posted(self, incident_id: uuid.UUID, channel: str, ts: str) -> None:
        pass


class Marks:
    """ClockMarks in memory: what the SLO tick was told."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, object]] = []

    def __call__(self, uow: UnitOfWork) -> Marks:
        return self

    async def updated(self, incident_id: uuid.UUID, at: datetime) -> None:
        self.seen.append(("updated", at))

    async def reopened(self, incident_id: uuid.UUID, at: datetime) -> None:
        self.seen.append(("reopened", at))

    async def changed(self, incident: Incident) -> None:
        self.seen.append(("changed", incident.status))


class Texts:
    def posted(self, incident: Incident, author: Actor, text: str) -> str:
        return f"{incident.key} update by {mention(author)}: {text}"


@pytest.fixture
def service(db: FakeDatabase, clock: FakeClock) -> IncidentService:
    return IncidentService(db.uow_factory(clock), clock, default_policy(),
                           gates=Gates(roles=RaciGate(Roles(), enforce=True)))


@pytest.fixture
def records() -> Records:
    return Records()


@pytest.fixture
def checklists(service: IncidentService, records: Records) -> Checklists:
    checklists = Checklists(service, Shelf(), records)
    service.reactions.on(IncidentDeclared, checklists.on_declared)
    return checklists


async def declare(service: IncidentService, title: str = "Null predictions since 14:02") -> Incident:
    return await service.declare(DeclareIncident(title, Severity.P3, "credit-risk-v3"), JOB)


# -- runbook checklists ---------------------------------------------------------------------------

async def test_a_declaration_follows_the_matching_runbook_and_posts_its_checklist(
        checklists: Checklists, service: IncidentService, db: FakeDatabase, records: Records) -> None:
    incident = await declare(service)
    assert records.rows[incident.id] == Followed("null-predictions", "3")
    assert db.incident(1).runbook_url == "runbooks/null-predictions.md"
    assert CHECKLIST in [m.kind for m in db.outbox]


async def test_the_sre_marks_a_step_done_once(checklists: Checklists, service: IncidentService,
                                              db: FakeDatabase) -> None:
    incident = await declare(service)
    outbox = len(db.outbox)
    done = await checklists.complete_step(incident.id, "null-predictions", "3", "1", SRE)
    assert done == StepOutcome("1", recorded=True, done=1, of=2)
    assert [m.kind for m in db.outbox[outbox:]] == [CHECKLIST, REFRESH]
    assert db.audit[-1].action == "incident.runbook_step_completed" and db.audit[-1].actor == SRE.id
    again = await checklists.complete_step(incident.id, "null-predictions", "3", "1", SRE)
    assert again == StepOutcome("1", recorded=False, done=1, of=2, done_by=SRE.id)


async def test_marking_a_step_done_without_the_sre_role_is_refused_and_audited(
        checklists: Checklists, service: IncidentService, db: FakeDatabase, records: Records) -> None:
    incident = await declare(service)
    with pytest.raises(RoleRefused, match="Only ML Platform SRE may mark runbook steps done"):
        await checklists.complete_step(incident.id, "null-predictions", "3", "1", MLE)
    assert records.rows[incident.id].done == {}
    assert [(a.action, a.details["activity"]) for a in db.audit if a.actor == MLE.id] == [
        ("access.denied", "execute_runbook")]


async def test_a_closed_incident_or_a_stale_checklist_changes_nothing(
        checklists: Checklists, service: IncidentService) -> None:
    incident = await declare(service)
    with pytest.raises(DomainError, match="no longer the incident's runbook"):
        await checklists.complete_step(incident.id, "null-predictions", "2", "1", SRE)
    for verb in ("resolve", "close"):
        await service.change_status(INC1, verb, SRE)
    with pytest.raises(DomainError, match="is closed"):
        await checklists.complete_step(incident.id, "null-predictions", "3", "1", SRE)


async def test_choosing_an_unknown_runbook_names_the_ones_there_are(checklists: Checklists,
                                                                    service: IncidentService) -> None:
    await declare(service, title="Slow scoring")
    with pytest.raises(DomainError, match="No runbook `nope`. Runbooks: `null-predictions`."):
        await checklists.select(INC1, "nope", SRE)


# -- stakeholder updates --------------------------------------------------------------------------

@pytest.fixture
def marks() -> Marks:
    return Marks()


@pytest.fixture
def updates(service: IncidentService, marks: Marks) -> StakeholderUpdates:
    updates = StakeholderUpdates(service, marks, Texts())
    service.reactions.on(IncidentEvent, updates.on_change)
    return updates


async def test_an_update_goes_to_the_thread_and_the_timeline_and_resets_the_cadence(
        updates: StakeholderUpdates, service: IncidentService, db: FakeDatabase, marks: Marks,
        clock: FakeClock) -> None:
    await declare(service)
    marks.seen.clear()
    await updates.post(INC1, SRE, "  Rollback under way\x00 ")
    assert db.outbox[-1].kind == THREAD
    assert db.outbox[-1].payload == {"text": "INC-1 update by <@U0SRE>: Rollback under way",
                                     "private_to_channel": True}  # a private incident's: its channel
    assert db.timeline[-1].body == "Stakeholder update: Rollback under way"
    assert db.audit[-1].action == "incident.update_posted" and marks.seen == [("updated", clock.now())]


async def test_an_empty_update_or_one_on_a_resolved_incident_is_refused(
        updates: StakeholderUpdates, service: IncidentService, marks: Marks) -> None:
    await declare(service)
    with pytest.raises(DomainError, match="Write the update"):
        await updates.post(INC1, SRE, " \x00 ")
    await service.change_status(INC1, "resolve", SRE)
    marks.seen.clear()
    with pytest.raises(DomainError, match="INC-1 is resolved; updates are for active incidents"):
        await updates.post(INC1, SRE, "still fine")
    assert marks.seen == []


async def test_a_reopen_starts_a_new_episode_and_every_change_asks_for_a_replan(
        updates: StakeholderUpdates, service: IncidentService, marks: Marks, clock: FakeClock) -> None:
    await declare(service)
    await service.change_status(INC1, "resolve", SRE)
    marks.seen.clear()
    clock.advance(minutes=5)
    await service.change_status(INC1, "reopen", SRE)
    assert marks.seen == [("reopened", clock.now()), ("changed", Status.INVESTIGATING)]

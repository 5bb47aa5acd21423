"""Related and duplicate incidents (issue 19, item 9): the pure rules, and the use cases on the
in-memory unit of work (a dict stands in for the relation table)."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from domain.model import (
    Actor,
    DomainError,
    Incident,
    MLModel,
    ModelStage,
    Severity,
    Status,
    TimelineEvent,
    TimelineEventType,
    TriggerSource,
)
from domain.policy import default_policy
from domain.ports import UnitOfWork
from domain.related import (
    RelatedIncidents,
    Relation,
    check_duplicate,
    check_link,
    follow_chain,
    offer_for,
    responders,
)
from domain.services import INVITE, DeclareIncident, IncidentRef, IncidentService
from tests.fakes import FakeClock, FakeDatabase

ALICE, BOB = Actor("U0ALICE", "alice"), Actor("U0BOB", "bob")


def incident(number: int, status: Status = Status.OPEN, **kwargs: object) -> Incident:
    at = datetime(2026, 11, 30, 8, number)
    return Incident(number=number, title=f"t{number}", severity=Severity.P2, status=status,
                    model_id=kwargs.pop("model_id", uuid.UUID(int=1)),  # type: ignore[arg-type]
                    trigger_source=TriggerSource.MANUAL, created_by="U0ALICE", created_at=at,
                    updated_at=at, **kwargs)  # type: ignore[arg-type]


def relation(a: Incident, b: Incident, duplicate: Incident | None = None) -> Relation:
    return Relation(a.id, b.id, duplicate.id if duplicate else None, "U0ALICE",
                    datetime(2026, 11, 30))


# -- rules ----------------------------------------------------------------------------------------

def test_link_refuses_itself_and_a_pair_already_stored() -> None:
    one, two = incident(1), incident(2)
    check_link(one, two, None)
    with pytest.raises(DomainError, match="cannot be linked to itself"):
        check_link(one, one, None)
    with pytest.raises(DomainError, match="already linked to INC-2"):
        check_link(one, two, relation(one, two))
    with pytest.raises(DomainError, match="already a duplicate of INC-2"):
        check_link(one, two, relation(one, two, duplicate=one))
    with pytest.raises(DomainError, match="already the surviving incident of INC-2"):
        check_link(one, two, relation(one, two, duplicate=two))


def test_duplicate_refusals_say_what_to_do_instead() -> None:
    one, two = incident(1), incident(2)
    check_duplicate(two, one, one, None)
    with pytest.raises(DomainError, match="duplicate of itself"):
        check_duplicate(one, one, one, None)
    with pytest.raises(DomainError, match="no incident carrying on"):
        check_duplicate(one, one, two, None)  # 2 is a duplicate of 1: its chain ends at 1
    with pytest.raises(DomainError, match="already a duplicate of INC-1"):
        check_duplicate(two, incident(3), incident(3), one)
    with pytest.raises(DomainError, match=r"INC-2 is closed.*`/incident link 1`"):
        check_duplicate(incident(2, Status.CLOSED), one, one, None)
    closed = incident(1, Status.CLOSED)
    with pytest.raises(DomainError, match=r"INC-1 \(INC-3 is a duplicate of it\) is closed"):
        check_duplicate(two, closed, incident(3), None)


def test_a_chain_ends_at_the_survivor_and_a_loop_is_refused() -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert follow_chain(a, {}) == a
    assert follow_chain(c, {c: b, b: a}) == a
    with pytest.raises(DomainError, match="loops"):
        follow_chain(a, {a: b, b: a})


def test_responders_are_people_who_worked_on_it_once_each() -> None:
    dup = incident(2, assigned_to="U0DAVE")
    at = datetime(2026, 11, 30, 9)

    def note(author: str, kind: TimelineEventType = TimelineEventType.NOTE) -> TimelineEvent:
        return TimelineEvent(dup.id, kind, "x", author, at, at)

    timeline = [note("U0BOB"), note("drift-job"), note("U0DAVE"), note("U0EVE"),
                note("U0ZED", TimelineEventType.STATUS_CHANGE)]
    assert responders(dup, timeline, ["U0SCRIBE"]) == [
        "U0ALICE", "U0DAVE", "U0SCRIBE", "U0BOB", "U0EVE"]


def test_the_offer_is_the_oldest_other_active_incident_not_yet_related() -> None:
    new = incident(5)
    old, older = incident(3), incident(2)
    assert offer_for(new, [older, old], []) is older
    assert offer_for(new, [older, old], [relation(new, older)]) is old
    assert offer_for(new, [incident(2, Status.RESOLVED)], []) is None
    assert offer_for(incident(5, Status.RESOLVED), [older], []) is None
    assert offer_for(new, [older, old], [relation(new, old, duplicate=new)]) is None


# -- use cases on the in-memory unit of work -------------------------------------------------------

class DictRelations:
    """The relation table as a dict keyed by the unordered pair (not transactional: enough here)."""

    def __init__(self, db: FakeDatabase) -> None:
        self.db = db
        self.rows: dict[frozenset[uuid.UUID], tuple[uuid.UUID | None, str, datetime]] = {}

    def __call__(self, uow: UnitOfWork) -> DictRelations:
        return self

    async def get(self, a: uuid.UUID, b: uuid.UUID) -> Relation | None:
        row = self.rows.get(frozenset((a, b)))
        return Relation(a, b, *row) if row else None

    async def save(self, a: uuid.UUID, b: uuid.UUID, duplicate_id: uuid.UUID | None, by: str,
                   at: datetime) -> bool:
        key = frozenset((a, b))
        if key in self.rows and (duplicate_id is None or self.rows[key][0] is not None):
            return False
        self.rows[key] = (duplicate_id, by, at)
        return True

    async def of(self, incident_id: uuid.UUID) -> list[Relation]:
        return [Relation(incident_id, next(iter(k - {incident_id})), *row)
                for k, row in self.rows.items() if incident_id in k]

    async def survivor_of(self, incident_id: uuid.UUID) -> uuid.UUID | None:
        for key, (dup, _, _) in self.rows.items():
            if dup == incident_id:
                return next(iter(key - {incident_id}))
        return None

    async def active_on_model(self, model_id: uuid.UUID, before: int) -> list[Incident]:
        return sorted((i for i in self.db.incidents.values() if i.model_id == model_id
                       and i.number < before and i.status.is_active), key=lambda i: i.number)


class Texts:
    def linked(self, incident: Incident, other: Incident, actor: Actor) -> str:
        return f"{incident.key} linked {other.key}"

    def duplicate(self, duplicate: Incident, survivor: Incident, actor: Actor,
                  via: Incident | None) -> str:
        return f"{duplicate.key} dup of {survivor.key}"

    def duplicated_here(self, duplicate: Incident, survivor: Incident, actor: Actor,
                        invited: list[str]) -> str:
        return f"{duplicate.key} joins {survivor.key}: {invited}"


@pytest.fixture
def world() -> tuple[FakeDatabase, IncidentService, RelatedIncidents, DictRelations]:
    clock, db = FakeClock(), FakeDatabase()
    model = MLModel(name="credit-risk-v3", version="1", stage=ModelStage.PRODUCTION, team="risk",
                    registered_at=clock.now())
    db.models[model.id] = model
    service = IncidentService(db.uow_factory(clock), clock, default_policy())
    relations = DictRelations(db)
    return db, service, RelatedIncidents(service, relations, Texts()), relations


async def _declare(service: IncidentService, n: int, actor: Actor = ALICE) -> Incident:
    return await service.declare(DeclareIncident(f"incident {n}", Severity.P2, "credit-risk-v3"),
                                 actor)


async def test_link_writes_both_timelines_both_channels_and_the_audit(world: tuple) -> None:
    db, service, related, relations = world
    one, two = await _declare(service, 1), await _declare(service, 2)
    await related.link(IncidentRef(number=2), 1, BOB)
    assert len(relations.rows) == 1  # stored once
    bodies = {(e.incident_id, e.body) for e in db.timeline}
    assert (one.id, "Linked to INC-2") in bodies and (two.id, "Linked to INC-1") in bodies
    assert not any("incident 1" in body or "incident 2" in body for _, body in bodies
                   if body.startswith("Linked"))  # keys only: either may be private
    posts = [m.payload.get("text") for m in db.outbox if m.kind == "post_channel"]
    assert "INC-2 linked INC-1" in posts and "INC-1 linked INC-2" in posts
    [audit] = [a for a in db.audit if a.action == "incident.linked"]
    assert audit.actor == BOB.id and audit.details["related"] == 1
    with pytest.raises(DomainError, match="already linked"):
        await related.link(IncidentRef(number=1), 2, BOB)
    assert [r.kind for r in await related.related(one.id)] == ["related"]


async def test_duplicate_resolves_through_the_state_machine_and_invites(world: tuple) -> None:
    db, service, related, relations = world
    await _declare(service, 1)
    dup = await _declare(service, 2, actor=Actor("U0CAROL", "carol"))
    await service.add_note(IncidentRef(number=2), BOB, "looking at the feature store")
    outcome = await related.duplicate_of(IncidentRef(number=2), IncidentRef(number=1), ALICE)
    assert outcome.duplicate.status is Status.RESOLVED and outcome.survivor.number == 1
    assert db.incident(2).status is Status.RESOLVED
    assert outcome.invited == ["U0CAROL", "U0BOB"]
    [invite] = [m for m in db.outbox if m.kind == INVITE]
    assert invite.incident_id == db.incident(1).id and invite.payload["users"] == ["U0CAROL", "U0BOB"]
    changes = [e.body for e in db.timeline if e.incident_id == dup.id
               and e.event_type is TimelineEventType.STATUS_CHANGE]
    assert changes[-1] == "open → resolved: duplicate of INC-1"
    actions = [a.action for a in db.audit]
    assert "incident.status_updated" in actions and "incident.marked_duplicate" in actions
    # a third one pointed at the duplicate goes to the survivor
    await _declare(service, 3)
    chained = await related.duplicate_of(IncidentRef(number=3), IncidentRef(number=2), ALICE)
    assert chained.survivor.number == 1 and chained.via is not None and chained.via.number == 2


async def test_a_refused_duplicate_changes_nothing(world: tuple) -> None:
    db, service, related, relations = world
    await _declare(service, 1)
    await _declare(service, 2)
    await related.duplicate_of(IncidentRef(number=2), IncidentRef(number=1), ALICE)
    outbox, audit = len(db.outbox), len(db.audit)
    with pytest.raises(DomainError, match="no incident carrying on"):
        await related.duplicate_of(IncidentRef(number=1), IncidentRef(number=2), ALICE)
    assert db.incident(1).status is Status.OPEN
    assert (len(db.outbox), len(db.audit)) == (outbox, audit)


async def test_the_offer_reads_the_model_and_the_relations(world: tuple) -> None:
    db, service, related, relations = world
    one = await _declare(service, 1)
    two = await _declare(service, 2)
    assert await related.offer(one) is None
    offered = await related.offer(two)
    assert offered is not None and offered.id == one.id
    await related.duplicate_of(IncidentRef(number=2), IncidentRef(number=1), ALICE)
    assert await related.offer(db.incident(2)) is None

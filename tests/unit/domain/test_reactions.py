"""The incident events ``IncidentService`` emits and the reactions table that runs on them
(``domain/events.py``, ``domain/reactions.py``), on the in-memory unit of work.

Reactions run in registration order, inside the change's transaction (what they write commits
with it, or not at all), see typed events instead of audit strings, and never veto: a failing
reaction rolls the change back, and a refusal raised by one is a fault, not a message.
"""

from __future__ import annotations

import pytest

from domain.events import (
    CommanderAssigned,
    IncidentDeclared,
    IncidentEvent,
    NoteAdded,
    SeverityChanged,
    StatusChanged,
)
from domain.model import Actor, DomainError, Severity, Status
from domain.policy import default_policy
from domain.ports import OutboxMessage, UnitOfWork
from domain.reactions import ReactionFailed, Reactions
from domain.services import ANNOUNCE, CREATE_CHANNEL, DeclareIncident, IncidentRef, IncidentService
from tests.fakes import FakeClock, FakeDatabase, database_with_models

ALICE, BOB = Actor("U0ALICE", "alice"), Actor("U0BOB", "bob")
INC1 = IncidentRef(number=1)


@pytest.fixture
def db(clock: FakeClock) -> FakeDatabase:
    return database_with_models(clock, ("credit-risk-v3", "1", "risk-ml"))


@pytest.fixture
def service(db: FakeDatabase, clock: FakeClock) -> IncidentService:
    return IncidentService(db.uow_factory(clock), clock, default_policy())


class Seen:
    """A reaction that records what it saw (and whether the change was visible to it)."""

    def __init__(self, name: str = "seen", log: list[tuple[str, IncidentEvent]] | None = None) -> None:
        self.name = name
        self.log: list[tuple[str, IncidentEvent]] = [] if log is None else log

    async def __call__(self, uow: UnitOfWork, event: IncidentEvent) -> None:
        assert await uow.incidents.get(event.incident.id) is not None  # the change, uncommitted
        self.log.append((self.name, event))

    @property
    def events(self) -> list[IncidentEvent]:
        return [event for _, event in self.log]


async def declare(service: IncidentService, severity: Severity = Severity.P3) -> None:
    await service.declare(DeclareIncident("Null predictions", severity, "credit-risk-v3"), ALICE)


# -- the events the use cases emit ----------------------------------------------------------------

async def test_each_use_case_emits_its_typed_event_with_the_actor_and_its_fields(
        service: IncidentService) -> None:
    seen = Seen()
    service.reactions.on(IncidentEvent, seen)
    await declare(service)
    await service.change_status(INC1, "ack", BOB, reason="looking")
    await service.change_severity(INC1, BOB, Severity.P2)
    await service.assign(INC1, BOB, "U0IC")
    await service.add_note(INC1, BOB, "rolled back", source_ref="slack:1")
    declared, status, severity, assigned, note = seen.events
    assert isinstance(declared, IncidentDeclared) and declared.model_name == "credit-risk-v3"
    assert isinstance(status, StatusChanged) and (status.previous, status.status, status.reason) == (
        Status.OPEN, Status.INVESTIGATING, "looking")
    assert status.is_acknowledgement and not status.is_reopen
    assert isinstance(severity, SeverityChanged) and (severity.previous, severity.severity) == (
        Severity.P3, Severity.P2)
    assert isinstance(assigned, CommanderAssigned) and (assigned.previous, assigned.commander) == (
        None, "U0IC")
    assert isinstance(note, NoteAdded) and (note.source_ref, note.length) == ("slack:1", 11)
    assert [e.actor for e in seen.events] == [ALICE, BOB, BOB, BOB, BOB]
    assert all(e.incident.number == 1 for e in seen.events)


async def test_the_audit_row_is_the_events_action_and_details(service: IncidentService,
                                                              db: FakeDatabase) -> None:
    seen = Seen()
    service.reactions.on(IncidentEvent, seen)
    await declare(service)
    await service.change_status(INC1, "ack", BOB)
    assert [(a.action, a.actor, a.details) for a in db.audit] == [
        (e.action, e.actor.id, e.details()) for e in seen.events]
    assert db.audit[0].details == {"number": 1, "title": "Null predictions", "severity": "p3",
                                   "model": "credit-risk-v3", "trigger_source": "manual",
                                   "status": "open", "labels": []}
    assert db.audit[1].details == {"number": 1, "from": "open", "to": "investigating",
                                   "reason": None}


async def test_a_reopen_is_told_apart_from_an_acknowledgement(service: IncidentService) -> None:
    seen = Seen()
    service.reactions.on(StatusChanged, seen)
    await declare(service)
    for verb in ("ack", "resolve", "reopen"):
        await service.change_status(INC1, verb, BOB)
    reopen = seen.events[-1]
    assert isinstance(reopen, StatusChanged) and reopen.is_reopen and not reopen.is_acknowledgement


# -- the table --------------------------------------------------------------------------------------

async def test_reactions_run_in_registration_order_whatever_type_they_are_registered_for(
        service: IncidentService) -> None:
    log: list[tuple[str, IncidentEvent]] = []
    service.reactions.on(IncidentEvent, Seen("every", log))
    service.reactions.on(StatusChanged, Seen("status", log))
    service.reactions.on(IncidentDeclared, Seen("declared", log))
    service.reactions.on(IncidentEvent, Seen("every again", log))
    await declare(service)
    await service.change_status(INC1, "ack", BOB)
    assert [(name, type(e).__name__) for name, e in log] == [
        ("every", "IncidentDeclared"), ("declared", "IncidentDeclared"),
        ("every again", "IncidentDeclared"),
        ("every", "StatusChanged"), ("status", "StatusChanged"), ("every again", "StatusChanged")]


async def test_the_table_reads_as_what_reacts_to_what() -> None:
    class Pager:
        async def page(self, uow: UnitOfWork, event: IncidentDeclared) -> None: ...

    async def replan(uow: UnitOfWork, event: IncidentEvent) -> None: ...

    reactions = Reactions()
    reactions.on(IncidentEvent, replan)
    reactions.on(IncidentDeclared, Pager().page)
    assert reactions.table() == [
        ("IncidentEvent", replan.__qualname__), ("IncidentDeclared", "Pager.page")]


async def test_what_a_reaction_writes_commits_with_the_change_in_one_transaction(
        service: IncidentService, db: FakeDatabase) -> None:
    async def page(uow: UnitOfWork, event: IncidentDeclared) -> None:
        await uow.outbox.add(OutboxMessage("pagerduty.trigger", event.incident.id))

    service.reactions.on(IncidentDeclared, page)
    await declare(service)
    assert [m.kind for m in db.outbox] == [ANNOUNCE, CREATE_CHANNEL, "pagerduty.trigger"]
    assert db.commits == 1  # the declaration, its announcement and the page: one commit


async def test_a_failing_reaction_rolls_the_whole_change_back(service: IncidentService,
                                                              db: FakeDatabase) -> None:
    await declare(service)
    before = (len(db.outbox), len(db.audit), len(db.timeline), db.commits)

    async def broken(uow: UnitOfWork, event: StatusChanged) -> None:
        await uow.outbox.add(OutboxMessage("pagerduty.status", event.incident.id))
        raise ConnectionError("the reaction's store is down")

    service.reactions.on(StatusChanged, broken)
    with pytest.raises(ConnectionError):
        await service.change_status(INC1, "ack", BOB)
    assert db.incident(1).status is Status.OPEN
    assert (len(db.outbox), len(db.audit), len(db.timeline), db.commits) == before


async def test_a_reaction_cannot_veto_a_refusal_is_a_fault_not_a_message(
        service: IncidentService, db: FakeDatabase) -> None:
    await declare(service)

    async def refusing(uow: UnitOfWork, event: StatusChanged) -> None:
        raise DomainError("INC-1 cannot be closed yet")

    service.reactions.on(StatusChanged, refusing)
    with pytest.raises(ReactionFailed, match="refusals are gates") as failed:
        await service.change_status(INC1, "ack", BOB)
    assert not isinstance(failed.value, DomainError)  # never shown to the user as a refusal
    assert db.incident(1).status is Status.OPEN and db.commits == 1


async def test_unchanged_outcomes_emit_nothing(service: IncidentService) -> None:
    seen = Seen()
    await declare(service)
    await service.change_status(INC1, "ack", BOB)
    await service.change_status(INC1, "resolve", BOB)
    service.reactions.on(IncidentEvent, seen)
    await service.change_status(INC1, "resolve", BOB)
    await service.change_status(INC1, "ack", BOB)
    await service.change_severity(INC1, BOB, Severity.P3)
    await service.add_note(INC1, BOB, "again", source_ref="slack:1")
    await service.add_note(INC1, BOB, "again", source_ref="slack:1")
    assert [type(e).__name__ for e in seen.events] == ["NoteAdded"]

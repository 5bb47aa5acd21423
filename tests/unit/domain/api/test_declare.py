"""The REST API's declare (domain/api/declare.py): the idempotency key is remembered in the
declaration's own transaction, so a retried POST can find the incident and a failure leaves
neither. End to end over HTTP: tests/integration/test_api_incidents.py."""

from __future__ import annotations

from typing import Any

import pytest

from domain.api.declare import declare_remembered
from domain.model import Actor, Severity
from domain.policy import default_policy
from domain.ports import UnitOfWork
from domain.services import DeclareIncident, IncidentService
from tests.fakes import FakeClock, FakeDatabase, FakeUnitOfWork

CALLER = Actor("api:svc-drift", "drift service")
DECLARATION = DeclareIncident("Null predictions", Severity.P2, "credit-risk-v3")


class Remembered:
    """The ``remember_resource`` part of the ApiQueries port: what each unit of work wrote."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[tuple[FakeUnitOfWork, int, str, str, str]] = []

    async def remember_resource(self, uow: UnitOfWork, principal: str, key: str,
                                resource_id: str) -> None:
        if self.fail:
            raise RuntimeError("the database went away")
        assert isinstance(uow, FakeUnitOfWork)
        self.calls.append((uow, uow.commits, principal, key, resource_id))

    def committed(self) -> list[tuple[str, str, str]]:
        return [(p, k, r) for uow, commits, p, k, r in self.calls if uow.commits > commits]


@pytest.fixture
def service(db: FakeDatabase, clock: FakeClock) -> IncidentService:
    return IncidentService(db.uow_factory(clock), clock, default_policy())


async def test_the_key_is_remembered_with_the_incident_in_one_transaction(
        service: IncidentService, db: FakeDatabase) -> None:
    queries = Remembered()
    incident = await declare_remembered(service, queries, DECLARATION, CALLER, "key-1")  # type: ignore[arg-type]
    assert (db.transactions, db.commits) == (1, 1)
    assert queries.committed() == [(CALLER.id, "key-1", str(incident.id))]
    assert db.incident(incident.number).title == "Null predictions"


async def test_without_a_key_nothing_is_remembered(service: IncidentService, db: FakeDatabase) -> None:
    queries = Remembered()
    incident = await declare_remembered(service, queries, DECLARATION, CALLER, None)  # type: ignore[arg-type]
    assert queries.calls == [] and incident.id in db.incidents


async def test_a_key_that_cannot_be_remembered_leaves_no_incident(
        service: IncidentService, db: FakeDatabase) -> None:
    queries: Any = Remembered(fail=True)
    with pytest.raises(RuntimeError):
        await declare_remembered(service, queries, DECLARATION, CALLER, "key-1")
    assert (db.commits, db.incidents, db.outbox) == (0, {}, [])

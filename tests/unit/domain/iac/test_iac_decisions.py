"""IaC drift use cases (domain/iac/decisions.py) as specifications, on the in-memory unit of
work: ingest, the choices on a drift event, the exception clock and escalation (the Slack side
end to end: tests/e2e/test_iac_in_slack.py)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from domain.iac.decisions import IAC_EXPIRED, IAC_INCOMPLETE, IAC_MESSAGE, IacDrift
from domain.iac.model import IacInputError, TriagedDrift
from domain.iac.ports import DriftEvents, DueException, StoredDrift
from domain.model import Actor, DomainError
from domain.policy import default_policy
from domain.services import IncidentService
from tests.fakes import FakeClock, FakeDatabase, FakeUnitOfWork, database_with_models

BOB = Actor("U0RESPOND", "bob")


class FakeDriftEvents:
    def __init__(self, rows: dict[uuid.UUID, StoredDrift], ingested: dict[str, list[str]]) -> None:
        self.rows, self.ingested = rows, ingested

    async def get(self, event_id: uuid.UUID) -> StoredDrift | None:
        return self.rows.get(event_id)

    async def by_fingerprint(self, fingerprint: str) -> StoredDrift | None:
        return next((r for r in self.rows.values() if r.fingerprint == fingerprint), None)

    async def seen(self, event_id: uuid.UUID, now: datetime) -> None:
        return None

    async def store(self, item: TriagedDrift, now: datetime, existing: StoredDrift | None) -> uuid.UUID:
        event = item.event
        stored = StoredDrift(
            id=existing.id if existing else uuid.uuid4(), fingerprint=event.fingerprint,
            change_signature=event.change_signature, drift_type=event.drift_type.value,
            tool=event.tool.value, resource_address=event.resource_address,
            environment=event.environment, severity=event.severity.value,
            confidence=event.confidence, triage=item.model_dump(mode="json"), status="open")
        self.rows[stored.id] = stored
        return stored.id

    def _set(self, event_id: uuid.UUID, **values: Any) -> None:
        self.rows[event_id] = dataclasses.replace(self.rows[event_id], **values)

    async def posted(self, event_id: uuid.UUID, channel: str, ts: str) -> None:
        self._set(event_id, slack_channel=channel, slack_ts=ts)

    async def due_exceptions(self, now: datetime) -> Sequence[DueException]:
        return [DueException(r.id, r.exception_reason, r.exception_expires_at) for r in self.rows.values()
                if r.status == "accepted" and r.exception_expires_at and r.exception_expires_at <= now]

    async def reopen(self, event_id: uuid.UUID) -> bool:
        if self.rows[event_id].status != "accepted":
            return False
        self._set(event_id, status="open")
        return True

    async def accept(self, event_id: uuid.UUID, reason: str, expires_at: datetime | None,
                     now: datetime) -> None:
        self._set(event_id, status="accepted", exception_reason=reason, exception_expires_at=expires_at)

    async def escalated(self, event_id: uuid.UUID, incident_id: uuid.UUID) -> bool:
        if self.rows[event_id].incident_id is not None:
            return False
        self._set(event_id, incident_id=incident_id, status="escalated")
        return True

    async def last_incomplete(self, source: str) -> list[str]:
        return self.ingested.get(source, [])


class IacFakeUnitOfWork(FakeUnitOfWork):
    iac_drift: DriftEvents

    def __init__(self, db: FakeDatabase, clock: FakeClock, rows: dict[uuid.UUID, StoredDrift]) -> None:
        super().__init__(db, clock)
        self.rows = rows

    async def __aenter__(self) -> IacFakeUnitOfWork:
        await super().__aenter__()
        ingested = {a.resource_id: list(a.details.get("incomplete") or []) for a in self.db.audit
                    if a.action == "iac.report_ingested"}
        self.iac_drift = FakeDriftEvents(self.rows, ingested)
        return self


def ssh_opened() -> dict[str, Any]:
    rule = {"from_port": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": ["10.0.0.0/8"]}
    entry = {"address": "aws_security_group.feature_store", "mode": "managed",
             "type": "aws_security_group", "name": "feature_store",
             "provider_name": "registry.terraform.io/hashicorp/aws",
             "change": {"actions": ["update"],
                        "before": {"ingress": [rule], "tags": {"env": "prod"}},
                        "after": {"ingress": [{**rule, "cidr_blocks": ["0.0.0.0/0"]}],
                                  "tags": {"env": "prod"}}}}
    return {"format_version": "1.2", "terraform_version": "1.9.0", "resource_drift": [entry]}


@pytest.fixture
def db(clock: FakeClock) -> FakeDatabase:
    return database_with_models(clock, ("platform", "1", "infra"))


@pytest.fixture
def iac(db: FakeDatabase, clock: FakeClock) -> IacDrift:
    rows: dict[uuid.UUID, StoredDrift] = {}

    def uow() -> IacFakeUnitOfWork:
        return IacFakeUnitOfWork(db, clock, rows)

    return IacDrift(IncidentService(uow, clock, default_policy()), uow, "platform")


def kinds(db: FakeDatabase) -> list[str]:
    return [m.kind for m in db.outbox]


async def test_a_report_is_stored_once_and_announced_only_when_it_changes(iac: IacDrift,
                                                                         db: FakeDatabase) -> None:
    assert (await iac.ingest_data(ssh_opened(), "ci"))["new"] == 1
    assert kinds(db) == [IAC_MESSAGE] and db.commits == 1
    again = await iac.ingest_data(ssh_opened(), "ci")
    assert (again["new"], again["unchanged"]) == (0, 1) and kinds(db) == [IAC_MESSAGE]
    assert [a.action for a in db.audit] == ["iac.report_ingested"] * 2


async def test_a_report_of_the_wrong_shape_is_refused_before_anything_is_stored(
        iac: IacDrift, db: FakeDatabase) -> None:
    with pytest.raises(IacInputError):
        await iac.ingest_data({"format_version": "1.2", "resource_drift": [{"address": 7}]}, "ci")
    assert db.commits == 0


async def test_an_incomplete_report_is_said_once_until_that_changes(iac: IacDrift, db: FakeDatabase) -> None:
    errored = {**ssh_opened(), "errored": True}
    await iac.ingest_data(errored, "ci")
    await iac.ingest_data(errored, "ci")
    assert kinds(db).count(IAC_INCOMPLETE) == 1


async def test_an_accepted_exception_expires_and_the_drift_is_open_again(
        iac: IacDrift, db: FakeDatabase, clock: FakeClock) -> None:
    await iac.ingest_data(ssh_opened(), "ci")
    [event_id] = [uuid.UUID(m.payload["event_id"]) for m in db.outbox]
    await iac.decide(event_id, BOB, "accept", reason="vendor window",
                     expires_at=clock.now() + timedelta(days=2))
    assert (await iac.load(event_id)).status == "accepted"  # type: ignore[union-attr]
    assert await iac.expire_exceptions() == 0
    clock.advance(days=3)
    assert await iac.expire_exceptions() == 1
    assert (await iac.load(event_id)).status == "open"  # type: ignore[union-attr]
    assert IAC_EXPIRED in kinds(db) and db.audit[-1].action == "iac.exception_expired"



class ReasonTexts:
    """An :class:`IacTexts` port whose words show what it was given."""

    def exception_reason(self, reason: str, security_approver: str | None) -> str:
        return f"{reason} | approver={security_approver}"


async def test_an_exception_keeps_its_security_approver_in_the_words_of_the_texts_port(
        iac: IacDrift, db: FakeDatabase, clock: FakeClock) -> None:
    iac.texts = ReasonTexts()  # the Slack words: tests/unit/bot/slack_ui/test_iac.py
    await iac.ingest_data(ssh_opened(), "ci")
    [event_id] = [uuid.UUID(m.payload["event_id"]) for m in db.outbox]
    await iac.decide(event_id, BOB, "accept", reason="vendor window", security_approver="U0SEC",
                     expires_at=clock.now() + timedelta(days=2))
    stored = await iac.load(event_id)
    assert stored is not None and stored.exception_reason == "vendor window | approver=U0SEC"


async def test_escalate_opens_exactly_one_incident_linked_to_the_drift(iac: IacDrift,
                                                                      db: FakeDatabase) -> None:
    await iac.ingest_data(ssh_opened(), "ci")
    [event_id] = [uuid.UUID(m.payload["event_id"]) for m in db.outbox]
    incident = await iac.escalate(event_id, BOB)
    assert (await iac.load(event_id)).incident_id == incident.id  # type: ignore[union-attr]
    assert "iac-drift" in db.incident(1).labels
    with pytest.raises(DomainError, match="Already escalated as INC-1"):
        await iac.escalate(event_id, BOB)

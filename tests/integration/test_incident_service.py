"""The use cases on a real database (SQLite and PostgreSQL): what is committed together."""

from __future__ import annotations

import asyncio

import pytest

from domain.model import Severity, Status, TimelineEventType
from domain.services import (
    ANNOUNCE,
    DeclareIncident,
    IncidentNotFound,
    IncidentRef,
    UnknownModel,
)
from domain.state_machine import IllegalTransition
from storage.outbox_store import OutboxStore
from tests.conftest import ALICE, BOB


async def declare(service, title="Null predictions since 14:02", sev=Severity.P1):  # type: ignore[no-untyped-def]
    return await service.declare(DeclareIncident(title=title, severity=sev,
                                                 model_name="credit-risk-v3"), ALICE)


async def test_declare_commits_incident_timeline_audit_and_outbox_together(
        service, engine, clock) -> None:  # type: ignore[no-untyped-def]
    incident = await declare(service)
    assert incident.number == 1 and incident.status is Status.OPEN
    assert incident.created_by == ALICE.id
    view = await service.view(IncidentRef(number=1), with_timeline=True)
    assert [e.event_type for e in view.timeline] == [TimelineEventType.STATUS_CHANGE]
    async with service.uow_factory() as uow:
        audit = await uow.audit.list(str(incident.id))
    assert [(a.action, a.actor, a.actor_name) for a in audit] == [
        ("incident.created", ALICE.id, ALICE.name)]
    assert audit[0].details["severity"] == "p1" and audit[0].log_type == "audit"
    rows = await OutboxStore(engine).claim(clock.now())
    assert [r.kind for r in rows] == [ANNOUNCE]  # one head per incident: ordering kept
    assert await OutboxStore(engine).pending_count() == 2  # announce, then create_channel


async def test_unknown_model_names_the_valid_ones_and_changes_nothing(service) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnknownModel) as err:
        await service.declare(DeclareIncident("x", Severity.P2, "no-such-model"), ALICE)
    assert "`credit-risk-v3`" in str(err.value) and "`fraud-detector`" in str(err.value)
    assert await service.list_incidents() == []


async def test_lifecycle_records_timestamps_and_refuses_illegal_moves(service, clock) -> None:  # type: ignore[no-untyped-def]
    await declare(service)
    ref = IncidentRef(number=1)
    clock.advance(minutes=3)
    ack = await service.change_status(ref, Status.INVESTIGATING, BOB)
    assert "time to acknowledge 3m" in ack.message
    clock.advance(minutes=10)
    await service.change_status(ref, Status.MITIGATED, BOB, reason="rolled back")
    with pytest.raises(IllegalTransition) as err:
        await service.change_status(ref, Status.CLOSED, BOB)
    assert "`resolve`" in str(err.value)
    clock.advance(minutes=47)
    resolved = await service.change_status(ref, Status.RESOLVED, BOB, reason="fixed")
    assert "time to resolve 1h" in resolved.message
    view = await service.view(ref, with_timeline=True)
    assert view.incident.resolved_at == clock.now()
    assert [e.body for e in view.timeline if e.event_type is TimelineEventType.STATUS_CHANGE][1:] \
        == ["open → investigating", "investigating → mitigated: rolled back",
            "mitigated → resolved: fixed"]


async def test_two_concurrent_resolves_make_one_status_change(service) -> None:  # type: ignore[no-untyped-def]
    await declare(service)
    ref = IncidentRef(number=1)
    outcomes = await asyncio.gather(*(service.change_status(ref, Status.RESOLVED, BOB)
                                      for _ in range(5)))
    assert sum(o.changed for o in outcomes) == 1
    assert all("already *resolved*" in o.message for o in outcomes if not o.changed)
    view = await service.view(ref, with_timeline=True)
    changes = [e for e in view.timeline if e.event_type is TimelineEventType.STATUS_CHANGE]
    assert len(changes) == 2  # declared + one resolve


async def test_concurrent_declarations_get_distinct_numbers(service) -> None:  # type: ignore[no-untyped-def]
    incidents = await asyncio.gather(*(declare(service, f"t{i}") for i in range(8)))
    assert sorted(i.number for i in incidents) == list(range(1, 9))


async def test_notes_with_the_same_source_are_recorded_once(service, clock) -> None:  # type: ignore[no-untyped-def]
    await declare(service)
    ref = IncidentRef(number=1)
    first = await service.add_note(ref, BOB, "p95 latency back", source_ref="slack:C1:1.0001")
    again = await service.add_note(ref, BOB, "p95 latency back", source_ref="slack:C1:1.0001")
    assert first.changed and not again.changed
    view = await service.view(ref, with_timeline=True)
    assert [e.body for e in view.timeline if e.event_type is TimelineEventType.NOTE] == [
        "p95 latency back"]


async def test_assign_severity_and_unknown_incident(service) -> None:  # type: ignore[no-untyped-def]
    await declare(service)
    ref = IncidentRef(number=1)
    await service.assign(ref, ALICE, BOB.id)
    changed = await service.change_severity(ref, ALICE, Severity.P2)
    assert "SEV-1 → *SEV-2*" in changed.message
    view = await service.view(ref)
    assert view.incident.assigned_to == BOB.id and view.incident.severity is Severity.P2
    with pytest.raises(IncidentNotFound):
        await service.view(IncidentRef(number=99))
    with pytest.raises(IncidentNotFound) as err:
        await service.view(IncidentRef(channel_id="CNOTANINCIDENT"))
    assert "not an incident channel" in str(err.value)

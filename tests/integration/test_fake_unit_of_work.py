"""The in-memory FakeUnitOfWork keeps the promises of the SQL one: the same spec runs on both.

The unit tests of the use cases (``tests/unit/domain/test_services.py``) trust the fake; this module is
why they may. Each test runs on the fake, on SQLite, and on PostgreSQL when reachable.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from domain.model import (
    AuditEvent,
    Incident,
    MLModel,
    ModelStage,
    Severity,
    Status,
    TimelineEvent,
    TimelineEventType,
    TriggerSource,
)
from domain.ports import ConcurrentUpdate, OutboxMessage, SlackLink, UnitOfWork
from storage import migrate
from storage import tables as t
from storage.db import create_engine
from storage.repositories import SqlOutboxRepository
from storage.uow import SqlUnitOfWork, sql_connection, uow_factory, write_lock_for
from tests.databases import create_pg_database, drop_pg_database, sqlite_url
from tests.fakes import FakeClock, FakeDatabase, FakeOutboxRepository, FakeUnitOfWork

UowFactory = Callable[[], UnitOfWork]


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def new_uow(request: pytest.FixtureRequest, tmp_path: Path,
                  clock: FakeClock) -> AsyncIterator[UowFactory]:
    if request.param == "fake":
        yield FakeDatabase().uow_factory(clock)
        return
    url = sqlite_url(tmp_path) if request.param == "sqlite" else await create_pg_database()
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
        yield uow_factory(engine, clock, write_lock_for(engine))
    finally:
        await engine.dispose()
        if request.param == "postgresql":
            await drop_pg_database(url)


def a_model(clock: FakeClock, name: str = "credit-risk-v3") -> MLModel:
    return MLModel(name=name, version="1", stage=ModelStage.PRODUCTION, team="risk",
                   registered_at=clock.now())


def an_incident(model: MLModel, clock: FakeClock, number: int, status: Status = Status.OPEN,
                trigger: TriggerSource = TriggerSource.MANUAL) -> Incident:
    clock.advance(seconds=1)
    return Incident(number=number, title=f"incident {number}", severity=Severity.P2, status=status,
                    model_id=model.id, trigger_source=trigger, created_by="U0A",
                    created_at=clock.now(), updated_at=clock.now())


async def seeded(new_uow: UowFactory, clock: FakeClock, *statuses: Status) -> tuple[MLModel, list[Incident]]:
    """A model and one committed incident per status, numbered from 1."""
    model = a_model(clock)
    incidents = [an_incident(model, clock, n, s) for n, s in enumerate(statuses, start=1)]
    async with new_uow() as uow:
        await uow.models.add(model)
        for incident in incidents:
            await uow.incidents.add(incident)
        await uow.commit()
    return model, incidents


def note(incident: Incident, clock: FakeClock, body: str, source_ref: str | None = None,
         minutes_ago: int = 0) -> TimelineEvent:
    at = clock.now() - timedelta(minutes=minutes_ago)
    return TimelineEvent(incident_id=incident.id, event_type=TimelineEventType.NOTE, body=body,
                         author="U0A", occurred_at=at, created_at=clock.now(), source_ref=source_ref)


# -- transactions -----------------------------------------------------------------------------

async def test_what_is_not_committed_vanishes(new_uow: UowFactory, clock: FakeClock) -> None:
    model = a_model(clock)
    async with new_uow() as uow:
        await uow.models.add(model)
    async with new_uow() as uow:
        assert await uow.models.get(model.id) is None


async def test_a_rollback_discards_the_changes_made_since_the_last_commit(
        new_uow: UowFactory, clock: FakeClock) -> None:
    kept, dropped = a_model(clock, "kept"), a_model(clock, "dropped")
    async with new_uow() as uow:
        await uow.models.add(kept)
        await uow.commit()
        await uow.models.add(dropped)
        await uow.rollback()
    async with new_uow() as uow:
        assert [m.name for m in await uow.models.list()] == ["kept"]


async def test_a_committed_change_is_seen_by_the_next_unit_of_work(
        new_uow: UowFactory, clock: FakeClock) -> None:
    _, [incident] = await seeded(new_uow, clock, Status.OPEN)
    async with new_uow() as uow:
        found = await uow.incidents.get_by_number(1)
    assert found is not None and (found.id, found.title) == (incident.id, "incident 1")


# -- incidents --------------------------------------------------------------------------------

async def test_the_next_number_follows_the_highest_one(new_uow: UowFactory, clock: FakeClock) -> None:
    async with new_uow() as uow:
        assert await uow.incidents.next_number() == 1
    await seeded(new_uow, clock, Status.OPEN, Status.OPEN)
    async with new_uow() as uow:
        assert await uow.incidents.next_number() == 3


async def test_saving_bumps_the_version_and_a_stale_copy_is_a_concurrent_update(
        new_uow: UowFactory, clock: FakeClock) -> None:
    await seeded(new_uow, clock, Status.OPEN)
    async with new_uow() as uow:
        stale = await uow.incidents.get_by_number(1)
    assert stale is not None
    async with new_uow() as uow:
        winner = await uow.incidents.get_by_number(1)
        assert winner is not None
        winner.status = Status.INVESTIGATING
        await uow.incidents.save(winner)
        await uow.commit()
    assert winner.version == 2
    async with new_uow() as uow:
        stale.status = Status.RESOLVED
        with pytest.raises(ConcurrentUpdate):
            await uow.incidents.save(stale)
    async with new_uow() as uow:
        stored = await uow.incidents.get_by_number(1)
    assert stored is not None and (stored.status, stored.version) == (Status.INVESTIGATING, 2)


async def test_changing_an_incident_read_without_saving_it_stores_nothing(
        new_uow: UowFactory, clock: FakeClock) -> None:
    await seeded(new_uow, clock, Status.OPEN)
    async with new_uow() as uow:
        incident = await uow.incidents.get_by_number(1)
        assert incident is not None
        incident.title = "changed in memory only"
        await uow.commit()
    async with new_uow() as uow:
        again = await uow.incidents.get_by_number(1)
    assert again is not None and again.title == "incident 1"


async def test_the_list_is_newest_first_filtered_by_status_and_limited(
        new_uow: UowFactory, clock: FakeClock) -> None:
    await seeded(new_uow, clock, Status.OPEN, Status.RESOLVED, Status.INVESTIGATING, Status.OPEN)
    async with new_uow() as uow:
        everything = await uow.incidents.list()
        active = await uow.incidents.list([Status.OPEN, Status.INVESTIGATING], limit=2)
    assert [i.number for i in everything] == [4, 3, 2, 1]
    assert [i.number for i in active] == [4, 3]


async def test_the_open_incident_of_a_model_is_the_newest_active_one_from_that_source(
        new_uow: UowFactory, clock: FakeClock) -> None:
    model = a_model(clock)
    drift = TriggerSource.AUTOMATED_DRIFT
    incidents = [an_incident(model, clock, 1, Status.OPEN, drift),
                 an_incident(model, clock, 2, Status.MITIGATED, drift),
                 an_incident(model, clock, 3, Status.RESOLVED, drift),
                 an_incident(model, clock, 4, Status.OPEN, TriggerSource.MANUAL)]
    async with new_uow() as uow:
        await uow.models.add(model)
        for incident in incidents:
            await uow.incidents.add(incident)
        await uow.commit()
    async with new_uow() as uow:
        found = await uow.incidents.find_open_for_model(model.id, "automated_drift")
        none = await uow.incidents.find_open_for_model(model.id, "pagerduty")
    assert found is not None and found.number == 2
    assert none is None


# -- timeline ---------------------------------------------------------------------------------

async def test_a_timeline_source_ref_is_recorded_once(new_uow: UowFactory, clock: FakeClock) -> None:
    _, [incident] = await seeded(new_uow, clock, Status.OPEN)
    async with new_uow() as uow:
        assert await uow.timeline.add(note(incident, clock, "first", "slack:C1:1"))
        assert not await uow.timeline.add(note(incident, clock, "retry", "slack:C1:1"))
        assert await uow.timeline.add(note(incident, clock, "no ref"))
        assert await uow.timeline.add(note(incident, clock, "no ref"))
        await uow.timeline.add_many([note(incident, clock, "tick", "slo:1"),
                                     note(incident, clock, "retry again", "slack:C1:1")])
        await uow.commit()
    async with new_uow() as uow:
        bodies = [e.body for e in await uow.timeline.for_incident(incident.id)]
    assert sorted(bodies) == ["first", "no ref", "no ref", "tick"]


async def test_the_timeline_reads_in_the_order_things_happened(new_uow: UowFactory, clock: FakeClock) -> None:
    _, [incident] = await seeded(new_uow, clock, Status.OPEN)
    async with new_uow() as uow:
        await uow.timeline.add(note(incident, clock, "later"))
        await uow.timeline.add(note(incident, clock, "earlier", minutes_ago=5))
        await uow.commit()
    async with new_uow() as uow:
        assert [e.body for e in await uow.timeline.for_incident(incident.id)] == ["earlier", "later"]


# -- models, audit, outbox, links, processed events -------------------------------------------

async def test_models_are_found_by_name_whatever_its_case_and_listed_by_name(
        new_uow: UowFactory, clock: FakeClock) -> None:
    zebra, alpha = a_model(clock, "zebra"), a_model(clock, "Alpha")
    async with new_uow() as uow:
        await uow.models.add(zebra)
        await uow.models.add(alpha)
        zebra.version = "2"
        await uow.models.save(zebra)
        await uow.commit()
    async with new_uow() as uow:
        found = await uow.models.get_by_name("ZEBRA")
        names = [m.name for m in await uow.models.list()]
    assert found is not None and found.version == "2"
    assert names == ["Alpha", "zebra"]


async def test_the_audit_lists_events_in_order_per_resource_and_tells_the_unit_of_work(
        new_uow: UowFactory, clock: FakeClock) -> None:
    def event(action: str, resource: str) -> AuditEvent:
        return AuditEvent(occurred_at=clock.now(), actor="U0A", actor_name="a", action=action,
                          resource_type="incident", resource_id=resource, details={"n": 1})

    async with new_uow() as uow:
        await uow.audit.add(event("one", "r1"))
        await uow.audit.add_many([event("two", "r2"), event("three", "r1")])
        await uow.commit()
        assert isinstance(uow, SqlUnitOfWork | FakeUnitOfWork)
        assert [e.action for e in uow.audit_added] == ["one", "two", "three"]
    async with new_uow() as uow:
        assert [e.action for e in await uow.audit.list("r1")] == ["one", "three"]
        assert [e.action for e in await uow.audit.list()] == ["one", "two", "three"]


async def test_the_outbox_counts_every_message_offered_a_skipped_duplicate_included(
        new_uow: UowFactory, clock: FakeClock) -> None:
    async with new_uow() as uow:
        await uow.outbox.add(OutboxMessage("post_channel", None, {"text": "a"}, dedup_key="k1"))
        await uow.outbox.add(OutboxMessage("post_channel", None, {"text": "b"}, dedup_key="k1"))
        await uow.outbox.add_many([OutboxMessage("post_channel", None, {"text": "c"})])
        assert isinstance(uow.outbox, SqlOutboxRepository | FakeOutboxRepository)
        assert uow.outbox.added == 3
        await uow.commit()


async def committed_outbox_texts(new_uow: UowFactory) -> list[str]:
    async with new_uow() as uow:
        if isinstance(uow, FakeUnitOfWork):
            return [m.payload["text"] for m in uow.db.outbox]
        rows = await sql_connection(uow).execute(sa.select(t.outbox.c.payload).order_by(t.outbox.c.id))
        return [row.payload["text"] for row in rows]


async def test_a_rollback_discards_the_outbox_rows_queued_since_the_last_commit(
        new_uow: UowFactory, clock: FakeClock) -> None:
    async with new_uow() as uow:
        await uow.outbox.add(OutboxMessage("post_channel", None, {"text": "kept"}))
        await uow.commit()
        await uow.outbox.add(OutboxMessage("post_channel", None, {"text": "dropped"}))
        await uow.rollback()
        await uow.outbox.add(OutboxMessage("post_channel", None, {"text": "after"}))
        await uow.commit()
    assert await committed_outbox_texts(new_uow) == ["kept", "after"]


async def test_slack_links_are_upserted_and_found_every_way(new_uow: UowFactory, clock: FakeClock) -> None:
    _, [first, second] = await seeded(new_uow, clock, Status.OPEN, Status.OPEN)
    async with new_uow() as uow:
        assert await uow.slack_links.latest_announcement_channel() is None
        await uow.slack_links.save(SlackLink(first.id, declarer_id="U0A"))
        await uow.slack_links.save(SlackLink(first.id, "C0ANN", "1.1", "C0INC1", "inc-1", "U0A"))
        await uow.slack_links.save(SlackLink(second.id, "C0NEWER", "2.2", "C0INC2", "inc-2"))
        await uow.commit()
    async with new_uow() as uow:
        link = await uow.slack_links.get(first.id)
        assert link == SlackLink(first.id, "C0ANN", "1.1", "C0INC1", "inc-1", "U0A")
        by_channel = await uow.slack_links.by_channel("C0INC2")
        assert by_channel is not None and by_channel.incident_id == second.id
        by_post = await uow.slack_links.by_announcement("C0ANN", "1.1")
        assert by_post is not None and by_post.incident_id == first.id
        assert await uow.slack_links.by_announcement("C0ANN", "9.9") is None
        assert set(await uow.slack_links.for_incidents([first.id, uuid.uuid4()])) == {first.id}
        assert await uow.slack_links.latest_announcement_channel() == "C0NEWER"


async def test_an_event_is_processed_the_first_time_only(new_uow: UowFactory) -> None:
    async with new_uow() as uow:
        assert await uow.processed.first_time("pagerduty", "ev1")
        assert not await uow.processed.first_time("pagerduty", "ev1")
        assert await uow.processed.first_time("alertmanager", "ev1")
        await uow.commit()
    async with new_uow() as uow:
        assert not await uow.processed.first_time("pagerduty", "ev1")

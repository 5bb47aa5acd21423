"""Private incidents and archiving after close (issue 19 item 8): the rules, without Slack or SQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import pytest

from domain.channel_lifecycle import (
    ARCHIVE_CHANNEL,
    HIDDEN_TITLE,
    ArchiveDue,
    ChannelLifecycle,
    ChannelState,
    may_see,
    with_private_label,
)
from domain.commands import parse
from domain.model import Actor, Incident, Severity, Status, TriggerSource
from domain.policy import default_policy
from domain.ports import SlackLink, UnitOfWork
from domain.services import DeclareIncident, IncidentService
from tests.fakes import FakeClock, FakeDatabase

DECLARER, COMMANDER, RESPONDER, OUTSIDER = "U0DECLARER", "U0IC", "U0RESPOND", "U0OUTSIDE"


class MemoryChannels:
    """The channel tables in memory (not transactional: enough for these rules)."""

    def __init__(self, db: FakeDatabase) -> None:
        self.db = db
        self.member_rows: dict[uuid.UUID, set[str]] = {}
        self.states: dict[uuid.UUID, ChannelState] = {}

    def __call__(self, _uow: UnitOfWork) -> MemoryChannels:
        return self

    async def add_members(self, incident_id: uuid.UUID, users: Iterable[str], at: datetime) -> None:
        self.member_rows.setdefault(incident_id, set()).update(users)

    async def members(self, incident_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
        return {i: set(self.member_rows.get(i, set())) for i in incident_ids}

    async def state(self, incident_id: uuid.UUID) -> ChannelState:
        return self.states.get(incident_id, ChannelState())

    async def set_archived(self, incident_id: uuid.UUID, at: datetime | None, by: str | None) -> None:
        old = await self.state(incident_id)
        self.states[incident_id] = ChannelState(at, by, old.queued_at)

    async def mark_queued(self, incident_id: uuid.UUID, at: datetime) -> None:
        old = await self.state(incident_id)
        self.states[incident_id] = ChannelState(old.archived_at, old.archived_by, at)

    async def due(self, closed_before: datetime, limit: int) -> list[ArchiveDue]:
        return [ArchiveDue(i.id, i.number, link.channel_id, i.closed_at)
                for i in self.db.incidents.values()
                if i.status is Status.CLOSED and i.closed_at and i.closed_at <= closed_before
                and (link := self.db.slack_links.get(i.id)) and link.channel_id
                and self.states.get(i.id, ChannelState()).archived_at is None
                and self.states.get(i.id, ChannelState()).queued_at is None][:limit]


@pytest.fixture
def channels(db: FakeDatabase) -> MemoryChannels:
    return MemoryChannels(db)


def lifecycle(db: FakeDatabase, clock: FakeClock, channels: MemoryChannels,
              days: int = 30) -> ChannelLifecycle:
    service = IncidentService(db.uow_factory(clock), clock, default_policy())
    return ChannelLifecycle(service, channels, "private", days,
                            lambda incident, n: f"{incident.key} archived after {n} days")


async def declare(life: ChannelLifecycle, private: bool) -> Incident:
    return await life.service.declare(DeclareIncident(
        "Fraud ring found", Severity.P2, "credit-risk-v3",
        labels=with_private_label(["fraud"], private, "private")), Actor(DECLARER, "dee"))


def test_declare_private_flag_is_parsed_anywhere_and_left_out_of_the_title() -> None:
    parsed = parse("declare P2 credit-risk-v3 --private Fraud ring found")
    assert parsed.private and parsed.title == "Fraud ring found" and not parsed.missing
    assert parse("declare --private").private  # the form opens with the box ticked
    assert parse("declare P2 m \u2014private x").private  # Slack's em dash for "--"
    assert not parse("declare P2 credit-risk-v3 private data leak").private


def test_members_are_the_declarer_the_commander_and_the_invited() -> None:
    incident = Incident(number=1, title="t", severity=Severity.P1, status=Status.OPEN,
                        model_id=uuid.uuid4(), trigger_source=TriggerSource.MANUAL,
                        created_by=DECLARER, created_at=FakeClock().now(),
                        updated_at=FakeClock().now(), assigned_to=COMMANDER)
    link = SlackLink(incident_id=incident.id, declarer_id=DECLARER)
    assert may_see(incident, link, set(), DECLARER) and may_see(incident, link, set(), COMMANDER)
    assert may_see(incident, link, {RESPONDER}, RESPONDER)
    assert not may_see(incident, link, {RESPONDER}, OUTSIDER)
    assert not may_see(incident, link, set(), "")


async def test_a_private_incident_is_redacted_for_non_members_only(
        db: FakeDatabase, clock: FakeClock, channels: MemoryChannels) -> None:
    life = lifecycle(db, clock, channels)
    private = await declare(life, private=True)
    public = await declare(life, private=False)
    await channels.add_members(private.id, [RESPONDER], clock.now())
    views = await life.service.list_incidents(with_links=True)

    seen = {v.incident.number: v for v in await life.shown_to(views, OUTSIDER)}
    assert seen[private.number].incident.title == HIDDEN_TITLE
    assert seen[private.number].incident.description is None
    hidden_model = seen[private.number].model
    assert hidden_model is not None and hidden_model.name == "hidden"
    assert seen[public.number].incident.title == "Fraud ring found"
    for member in (DECLARER, RESPONDER):
        shown = {v.incident.number: v for v in await life.shown_to(views, member)}
        assert shown[private.number].incident.title == "Fraud ring found"
    assert [v.incident.title for v in await life.hidden_from_all(views)
            if v.incident.id == private.id] == [HIDDEN_TITLE]


async def close(life: ChannelLifecycle, db: FakeDatabase, incident: Incident, at: datetime) -> None:
    stored = db.incidents[incident.id]
    stored.status, stored.closed_at = Status.CLOSED, at
    db.slack_links[incident.id].channel_id = f"C{incident.number:08d}"


async def test_the_archive_job_queues_each_channel_once_after_n_days(
        db: FakeDatabase, clock: FakeClock, channels: MemoryChannels) -> None:
    life = lifecycle(db, clock, channels, days=30)
    incident = await declare(life, private=False)
    await close(life, db, incident, clock.now())
    clock.advance(days=29, hours=23)
    assert await life.archive_due() == 0
    clock.advance(hours=2)
    assert await life.archive_due() == 1
    assert await life.archive_due() == 0  # queued: never twice
    [row] = [m for m in db.outbox if m.kind == ARCHIVE_CHANNEL]
    assert row.payload["text"] == "INC-1 archived after 30 days"
    assert [e.action for e in db.audit][-1] == "incident.channel_archive_queued"


async def test_archive_after_zero_days_means_never(
        db: FakeDatabase, clock: FakeClock, channels: MemoryChannels) -> None:
    life = lifecycle(db, clock, channels, days=0)
    incident = await declare(life, private=False)
    await close(life, db, incident, clock.now() - timedelta(days=400))
    assert await life.archive_due() == 0


async def test_archived_by_hand_is_recorded_once_and_unarchive_clears_it(
        db: FakeDatabase, clock: FakeClock, channels: MemoryChannels) -> None:
    life = lifecycle(db, clock, channels)
    incident = await declare(life, private=False)
    db.slack_links[incident.id].channel_id = "C0INC1"
    someone = Actor(RESPONDER, "rae")
    assert await life.record_archived("C0INC1", someone)
    assert not await life.record_archived("C0INC1", someone)  # a redelivered event
    assert (await channels.state(incident.id)).archived_by == RESPONDER
    assert not await life.record_archived("C0ELSEWHERE", someone)  # not an incident channel
    assert await life.record_archived("C0INC1", someone, archived=False)
    assert (await channels.state(incident.id)).archived_at is None
    actions = [e.action for e in db.audit if e.actor == RESPONDER]
    assert actions == ["incident.channel_archived", "incident.channel_unarchived"]


async def test_someone_added_to_the_channel_by_hand_is_a_member_once_slack_says_so(
        db: FakeDatabase, clock: FakeClock, channels: MemoryChannels) -> None:
    life = lifecycle(db, clock, channels)
    private = await declare(life, private=True)
    db.slack_links[private.id].channel_id = "C0PRIVATE"
    asked: list[str] = []

    async def slack_members(channel_id: str) -> set[str]:
        asked.append(channel_id)
        return {DECLARER, OUTSIDER}

    async def slack_down(channel_id: str) -> set[str]:
        raise TimeoutError("Slack is slow")

    views = await life.service.list_incidents(with_links=True)
    life.member_lookup = slack_down
    assert [v.incident.title for v in await life.shown_to(views, OUTSIDER)] == [HIDDEN_TITLE]
    life.member_lookup = slack_members
    assert [v.incident.title for v in await life.shown_to(views, RESPONDER)] == [HIDDEN_TITLE]
    assert [v.incident.title for v in await life.shown_to(views, OUTSIDER)] == ["Fraud ring found"]
    assert OUTSIDER in (await channels.members([private.id]))[private.id]  # recorded
    await life.shown_to(views, OUTSIDER)
    assert asked == ["C0PRIVATE", "C0PRIVATE"]  # not asked again once recorded

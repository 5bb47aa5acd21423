"""Fakes over mocks: a clock that tests move by hand, and an in-memory unit of work.

``FakeDatabase`` holds the committed state of one test; every ``FakeUnitOfWork`` opened on it
works on its own copy (a transaction) and merges what it wrote into the database on ``commit``.
Leaving the ``async with`` block without committing, or calling ``rollback``, discards the copy:
uncommitted changes vanish, as they do on SQLite and PostgreSQL.

The repositories keep the semantics of ``storage/repositories.py`` that the use cases rely on:
incident numbers are max + 1, ``save`` is optimistic (a stale version raises
``ConcurrentUpdate``), a timeline ``source_ref`` and an outbox ``dedup_key`` are unique (a repeat
is skipped), model names are matched case-insensitively, and objects read are copies, so changing
one without ``save`` changes nothing stored.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from domain.model import AuditEvent, Incident, MLModel, ModelStage, Status, TimelineEvent
from domain.ports import (
    AuditRepository,
    ConcurrentUpdate,
    IncidentRepository,
    ModelRepository,
    OutboxMessage,
    OutboxRepository,
    ProcessedEventRepository,
    SlackLink,
    SlackLinkRepository,
    TimelineRepository,
    UnitOfWork,
)
from domain.reminders import Snooze, UpdateSnoozes
from domain.roles import RoleAssignment, RoleAssignments
from domain.timers import IncidentClocks

T = TypeVar("T")


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 22, 14, 0, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **kwargs: float) -> datetime:
        self._now += timedelta(**kwargs)
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when


def _copy(obj: T) -> T:
    return copy.deepcopy(obj)


@dataclass
class _Tables:
    """One view of the data: the committed state, or a transaction's working copy of it.

    Stored objects are never changed in place (repositories store and hand out copies), so a
    working copy needs only new containers.
    """

    incidents: dict[uuid.UUID, Incident] = field(default_factory=dict)
    timeline: list[TimelineEvent] = field(default_factory=list)
    models: dict[uuid.UUID, MLModel] = field(default_factory=dict)
    audit: list[AuditEvent] = field(default_factory=list)
    outbox: list[OutboxMessage] = field(default_factory=list)
    slack_links: dict[uuid.UUID, SlackLink] = field(default_factory=dict)
    processed: set[tuple[str, str]] = field(default_factory=set)
    roles: dict[tuple[uuid.UUID, str], RoleAssignment] = field(default_factory=dict)  # issue 19
    snoozes: dict[uuid.UUID, Snooze] = field(default_factory=dict)  # issue 19

    def working_copy(self) -> _Tables:
        return _Tables(dict(self.incidents), list(self.timeline), dict(self.models),
                       list(self.audit), list(self.outbox), dict(self.slack_links),
                       set(self.processed), roles=dict(self.roles), snoozes=dict(self.snoozes))


class _Transaction:
    """A working copy and what it changed, so commit merges only that (no lost updates)."""

    def __init__(self, committed: _Tables) -> None:
        self.base = committed
        self.tables = committed.working_copy()
        self.dirty_incidents: set[uuid.UUID] = set()
        self.dirty_models: set[uuid.UUID] = set()
        self.dirty_links: set[uuid.UUID] = set()
        self.dirty_roles: set[tuple[uuid.UUID, str]] = set()
        self.dirty_snoozes: set[uuid.UUID] = set()

    def merge_into(self, db: FakeDatabase) -> None:
        target, base, work = db.tables, self.base, self.tables
        for key in self.dirty_incidents:
            target.incidents[key] = work.incidents[key]
        for key in self.dirty_models:
            target.models[key] = work.models[key]
        for key in self.dirty_links:
            target.slack_links[key] = work.slack_links[key]
        for role_key in self.dirty_roles:  # an assignment, or its removal
            if role_key in work.roles:
                target.roles[role_key] = work.roles[role_key]
            else:
                target.roles.pop(role_key, None)
        for key in self.dirty_snoozes:
            target.snoozes[key] = work.snoozes[key]
        target.timeline.extend(work.timeline[len(base.timeline):])
        target.audit.extend(work.audit[len(base.audit):])
        for message in work.outbox[len(base.outbox):]:
            db.last_outbox_id += 1
            message.id = db.last_outbox_id
            target.outbox.append(message)
        target.processed |= work.processed


SaveHook = Callable[[Incident], Awaitable[None]]


class FakeDatabase:
    """The committed state of one test, read by tests to assert what a use case committed."""

    def __init__(self) -> None:
        self.tables = _Tables()
        self.commits = 0
        self.transactions = 0  # units of work opened (a use case in one transaction opens one)
        self.last_outbox_id = 0
        self._save_hooks: list[SaveHook] = []

    # committed rows, for assertions (and for arranging a test's starting state)
    @property
    def incidents(self) -> dict[uuid.UUID, Incident]:
        return self.tables.incidents

    @property
    def timeline(self) -> list[TimelineEvent]:
        return self.tables.timeline

    @property
    def models(self) -> dict[uuid.UUID, MLModel]:
        return self.tables.models

    @property
    def audit(self) -> list[AuditEvent]:
        return self.tables.audit

    @property
    def outbox(self) -> list[OutboxMessage]:
        return self.tables.outbox

    @property
    def slack_links(self) -> dict[uuid.UUID, SlackLink]:
        return self.tables.slack_links

    @property
    def processed(self) -> set[tuple[str, str]]:
        return self.tables.processed

    def incident(self, number: int) -> Incident:
        """The committed incident with this number (a copy)."""
        return _copy(next(i for i in self.incidents.values() if i.number == number))

    def before_next_save(self, hook: SaveHook) -> None:
        """Run ``hook`` once, inside the next ``incidents.save``, before its version check: a
        concurrent writer committing between the use case's read and its write."""
        self._save_hooks.append(hook)

    async def _run_save_hooks(self, incident: Incident) -> None:
        hooks, self._save_hooks = self._save_hooks, []
        for hook in hooks:
            await hook(incident)

    def uow_factory(self, clock: FakeClock | None = None) -> Callable[[], FakeUnitOfWork]:
        """What ``IncidentService`` takes as ``uow_factory``: a fresh unit of work per call."""
        return lambda: FakeUnitOfWork(self, clock)


class FakeIncidentRepository:
    def __init__(self, tx: _Transaction, db: FakeDatabase) -> None:
        self._tx = tx
        self._db = db

    @property
    def _rows(self) -> dict[uuid.UUID, Incident]:
        return self._tx.tables.incidents

    async def add(self, incident: Incident) -> None:
        if incident.id in self._rows or any(i.number == incident.number for i in self._rows.values()):
            raise ValueError(f"duplicate incident {incident.key}")  # the primary / unique keys
        self._rows[incident.id] = _copy(incident)
        self._tx.dirty_incidents.add(incident.id)

    async def get(self, incident_id: uuid.UUID) -> Incident | None:
        found = self._rows.get(incident_id)
        return _copy(found) if found else None

    async def get_by_number(self, number: int) -> Incident | None:
        found = next((i for i in self._rows.values() if i.number == number), None)
        return _copy(found) if found else None

    async def next_number(self) -> int:
        return max((i.number for i in self._rows.values()), default=0) + 1

    async def save(self, incident: Incident) -> None:
        """Optimistic: the row must still carry the version read, in this transaction and in
        what others committed meanwhile (an UPDATE sees the latest committed row)."""
        await self._db._run_save_hooks(incident)
        expected = incident.version
        mine = self._rows.get(incident.id)
        theirs = self._db.incidents.get(incident.id)
        if mine is None or mine.version != expected or (theirs is not None and theirs.version != expected):
            raise ConcurrentUpdate(f"{incident.key} changed meanwhile")
        incident.version = expected + 1
        self._rows[incident.id] = _copy(incident)
        self._tx.dirty_incidents.add(incident.id)

    async def list(self, statuses: Sequence[Status] | None = None, limit: int = 50) -> list[Incident]:
        rows = sorted(self._rows.values(), key=lambda i: i.number, reverse=True)
        if statuses:
            rows = [i for i in rows if i.status in statuses]
        return [_copy(i) for i in rows[:limit]]

    async def find_open_for_model(self, model_id: uuid.UUID, trigger_source: str) -> Incident | None:
        rows = [i for i in await self.list(limit=len(self._rows))
                if i.model_id == model_id and i.trigger_source == trigger_source and i.status.is_active]
        return rows[0] if rows else None


class FakeTimelineRepository:
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    def _seen(self, source_ref: str | None) -> bool:
        return source_ref is not None and any(e.source_ref == source_ref for e in self._tx.tables.timeline)

    async def add(self, event: TimelineEvent) -> bool:
        if self._seen(event.source_ref):
            return False
        self._tx.tables.timeline.append(_copy(event))
        return True

    async def add_many(self, events: Sequence[TimelineEvent]) -> None:
        for event in events:
            await self.add(event)

    async def for_incident(self, incident_id: uuid.UUID) -> list[TimelineEvent]:
        rows = [e for e in self._tx.tables.timeline if e.incident_id == incident_id]
        return [_copy(e) for e in sorted(rows, key=lambda e: (e.occurred_at, e.created_at))]


class FakeModelRepository:
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    async def add(self, model: MLModel) -> None:
        self._tx.tables.models[model.id] = _copy(model)
        self._tx.dirty_models.add(model.id)

    async def get(self, model_id: uuid.UUID) -> MLModel | None:
        found = self._tx.tables.models.get(model_id)
        return _copy(found) if found else None

    async def get_by_name(self, name: str) -> MLModel | None:
        found = next((m for m in self._tx.tables.models.values() if m.name.lower() == name.lower()), None)
        return _copy(found) if found else None

    async def list(self) -> list[MLModel]:
        return [_copy(m) for m in sorted(self._tx.tables.models.values(), key=lambda m: m.name)]

    async def save(self, model: MLModel) -> None:
        if model.id in self._tx.tables.models:  # an UPDATE of a missing row changes nothing
            await self.add(model)


class FakeAuditRepository:
    def __init__(self, tx: _Transaction, added: list[AuditEvent]) -> None:
        self._tx = tx
        self._added = added

    async def add(self, event: AuditEvent) -> None:
        await self.add_many([event])

    async def add_many(self, events: Sequence[AuditEvent]) -> None:
        self._tx.tables.audit.extend(_copy(e) for e in events)
        self._added.extend(events)  # as SqlAuditRepository: the unit of work's audit_added

    async def list(self, resource_id: str | None = None) -> list[AuditEvent]:
        return [_copy(e) for e in self._tx.tables.audit
                if resource_id is None or e.resource_id == resource_id]


class FakeOutboxRepository:
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx
        # as SqlOutboxRepository: counts every message offered, a skipped duplicate included
        self.added = 0

    async def add(self, message: OutboxMessage) -> None:
        self.added += 1
        rows = self._tx.tables.outbox
        if message.dedup_key and any(m.dedup_key == message.dedup_key for m in rows):
            return
        stored = _copy(message)
        stored.lane = message.destination_lane
        rows.append(stored)

    async def add_many(self, messages: Sequence[OutboxMessage]) -> None:
        for message in messages:
            await self.add(message)


class FakeSlackLinkRepository:
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    @property
    def _rows(self) -> dict[uuid.UUID, SlackLink]:
        return self._tx.tables.slack_links

    def _first(self, match: Callable[[SlackLink], bool]) -> SlackLink | None:
        found = next((link for link in self._rows.values() if match(link)), None)
        return _copy(found) if found else None

    async def get(self, incident_id: uuid.UUID) -> SlackLink | None:
        return self._first(lambda link: link.incident_id == incident_id)

    async def for_incidents(self, incident_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, SlackLink]:
        return {i: _copy(self._rows[i]) for i in incident_ids if i in self._rows}

    async def by_channel(self, channel_id: str) -> SlackLink | None:
        return self._first(lambda link: link.channel_id == channel_id)

    async def by_announcement(self, channel_id: str, ts: str) -> SlackLink | None:
        return self._first(lambda link: (link.announcement_channel, link.announcement_ts) == (channel_id, ts))

    async def latest_announcement_channel(self) -> str | None:
        incidents = self._tx.tables.incidents
        announced = [link for link in self._rows.values()
                     if link.announcement_channel and link.incident_id in incidents]
        if not announced:
            return None
        newest = max(announced, key=lambda link: incidents[link.incident_id].created_at)
        return newest.announcement_channel

    async def save(self, link: SlackLink) -> None:
        self._rows[link.incident_id] = _copy(link)  # an upsert on incident_id
        self._tx.dirty_links.add(link.incident_id)


class FakeProcessedEventRepository:
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    async def first_time(self, source: str, event_id: str) -> bool:
        key = (source, event_id)
        if key in self._tx.tables.processed:
            return False
        self._tx.tables.processed.add(key)
        return True


class FakeRoleAssignments:
    """``domain.roles.RoleAssignments`` in memory."""

    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    async def for_incident(self, incident_id: uuid.UUID) -> dict[str, RoleAssignment]:
        return (await self.for_incidents([incident_id])).get(incident_id, {})

    async def for_incidents(self, incident_ids: Sequence[uuid.UUID],
                            ) -> dict[uuid.UUID, dict[str, RoleAssignment]]:
        out: dict[uuid.UUID, dict[str, RoleAssignment]] = {}
        for (incident_id, role), assignment in self._tx.tables.roles.items():
            if incident_id in incident_ids:
                out.setdefault(incident_id, {})[role] = assignment
        return out

    async def assign(self, assignment: RoleAssignment) -> None:
        key = (assignment.incident_id, assignment.role)
        self._tx.tables.roles[key] = assignment
        self._tx.dirty_roles.add(key)

    async def clear(self, incident_id: uuid.UUID, role: str) -> None:
        self._tx.tables.roles.pop((incident_id, role), None)
        self._tx.dirty_roles.add((incident_id, role))


class FakeUpdateSnoozes:
    """``domain.reminders.UpdateSnoozes`` in memory (no clock rows: episode = declaration)."""

    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    async def get(self, incident_id: uuid.UUID) -> Snooze | None:
        return self._tx.tables.snoozes.get(incident_id)

    async def set(self, snooze: Snooze) -> None:
        self._tx.tables.snoozes[snooze.incident_id] = snooze
        self._tx.dirty_snoozes.add(snooze.incident_id)

    async def clocks(self, incident: Incident) -> IncidentClocks:
        snooze = self._tx.tables.snoozes.get(incident.id)
        return IncidentClocks.of(incident, update_snoozed_until=snooze.until if snooze else None)


class FakeUnitOfWork:
    """``async with uow: ...; await uow.commit()``; leaving without commit rolls back.

    After ``commit`` or ``rollback`` the same unit of work goes on in a new transaction, as a
    SQL connection does. ``commits`` counts this unit of work's commits; ``audit_added`` lists
    the audit events it wrote (what ``after_commit`` logs).
    """

    incidents: IncidentRepository
    timeline: TimelineRepository
    models: ModelRepository
    audit: AuditRepository
    outbox: OutboxRepository
    slack_links: SlackLinkRepository
    processed: ProcessedEventRepository

    def __init__(self, db: FakeDatabase, clock: FakeClock | None = None) -> None:
        self.db = db
        self.clock = clock
        self.audit_added: list[AuditEvent] = []
        self.committed = False
        self.commits = 0
        self._tx: _Transaction | None = None
        self.fake_outbox: FakeOutboxRepository | None = None

    def _begin(self) -> None:
        tx = self._tx = _Transaction(self.db.tables)
        self.incidents = FakeIncidentRepository(tx, self.db)
        self.timeline = FakeTimelineRepository(tx)
        self.models = FakeModelRepository(tx)
        self.audit = FakeAuditRepository(tx, self.audit_added)
        self.outbox = self.fake_outbox = FakeOutboxRepository(tx)
        self.slack_links = FakeSlackLinkRepository(tx)
        self.processed = FakeProcessedEventRepository(tx)
        self.roles = FakeRoleAssignments(tx)  # issue 19: domain.roles.RoleAssignments
        self.snoozes = FakeUpdateSnoozes(tx)  # issue 19: domain.reminders.UpdateSnoozes

    async def __aenter__(self) -> FakeUnitOfWork:
        self.db.transactions += 1
        self._begin()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._tx = None  # whatever was not committed vanishes

    async def commit(self) -> None:
        assert self._tx is not None, "commit outside `async with`"
        self._tx.merge_into(self.db)
        self.db.commits += 1
        self.commits += 1
        self.committed = True
        self._begin()

    async def rollback(self) -> None:
        assert self._tx is not None, "rollback outside `async with`"
        self._begin()


def _typing_check(db: FakeDatabase, tx: _Transaction) -> None:
    """Never called: mypy checks here that the fakes implement the domain's ports."""
    _uow: UnitOfWork = FakeUnitOfWork(db)
    _factory: Callable[[], UnitOfWork] = db.uow_factory()
    _incidents: IncidentRepository = FakeIncidentRepository(tx, db)
    _timeline: TimelineRepository = FakeTimelineRepository(tx)
    _models: ModelRepository = FakeModelRepository(tx)
    _audit: AuditRepository = FakeAuditRepository(tx, [])
    _outbox: OutboxRepository = FakeOutboxRepository(tx)
    _links: SlackLinkRepository = FakeSlackLinkRepository(tx)
    _processed: ProcessedEventRepository = FakeProcessedEventRepository(tx)
    _roles: RoleAssignments = FakeRoleAssignments(tx)
    _snoozes: UpdateSnoozes = FakeUpdateSnoozes(tx)


def database_with_models(clock: FakeClock, *models: tuple[str, str, str]) -> FakeDatabase:
    """A fake database holding production models given as (name, version, team); by default
    the one most unit tests declare on: credit-risk-v3 1 of team risk."""
    db = FakeDatabase()
    for name, version, team in models or (("credit-risk-v3", "1", "risk"),):
        model = MLModel(name=name, version=version, stage=ModelStage.PRODUCTION, team=team,
                        registered_at=clock.now())
        db.models[model.id] = model
    return db

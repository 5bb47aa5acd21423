"""The unit of work: one transaction, the repositories on it, and what it produced."""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry.trace import NoOpTracer, SpanKind, Tracer
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.iac.ports import DriftEvents
from domain.model import AuditEvent
from domain.note_changes import NoteChanges
from domain.paging.ports import AlertGroups, PagerDutyLinks
from domain.ports import (
    AuditRepository,
    Clock,
    IncidentRepository,
    ModelRepository,
    OutboxRepository,
    ProcessedEventRepository,
    SlackLinkRepository,
    TimelineRepository,
)
from domain.reminders import UpdateSnoozes
from domain.roles import RoleAssignments
from storage.db import is_sqlite
from storage.iac_repositories import SqlDriftEvents
from storage.inbox_store import CURRENT_REQUEST, record_applied_in
from storage.note_changes import SqlNoteChanges
from storage.paging_repositories import SqlAlertGroups, SqlPagerDutyLinks
from storage.repositories import (
    SqlAuditRepository,
    SqlIncidentRepository,
    SqlModelRepository,
    SqlOutboxRepository,
    SqlProcessedEventRepository,
    SqlSlackLinkRepository,
    SqlTimelineRepository,
)
from storage.roles import SqlRoleAssignments, SqlUpdateSnoozes
from storage.write_lock import WriteLock


class SqlUnitOfWork:
    """``async with uow: ...; await uow.commit()``; leaving without commit rolls back.

    On SQLite, write transactions are serialised in-process (the embedded default runs one
    process): SQLite cannot upgrade two concurrent readers to writers without one failing.
    """

    def __init__(self, engine: AsyncEngine, clock: Clock, write_lock: WriteLock | None,
                 tracer: Tracer | None = None) -> None:
        self.engine = engine
        self.tracer = tracer or NoOpTracer()  # a span per commit: where a use case's time goes
        self.clock = clock
        self._write_lock = write_lock
        self.conn: AsyncConnection | None = None
        self.audit_added: list[AuditEvent] = []
        self.committed = False

    async def __aenter__(self) -> SqlUnitOfWork:
        if self._write_lock is not None:
            await self._write_lock.acquire()
        try:
            self.conn = await self.engine.connect()
            await self.conn.begin()
        except BaseException:
            if self._write_lock is not None:
                self._write_lock.release()
            raise
        now = self.clock.now()
        conn = self.conn
        # typed as the domain's ports: the service layer sees only what the protocol promises
        self.incidents: IncidentRepository = SqlIncidentRepository(conn)
        self.timeline: TimelineRepository = SqlTimelineRepository(conn)
        self.models: ModelRepository = SqlModelRepository(conn)
        self.audit: AuditRepository = SqlAuditRepository(conn, self.audit_added)
        self._outbox = SqlOutboxRepository(conn, now)  # queues its rows until commit
        self.outbox: OutboxRepository = self._outbox
        self.slack_links: SlackLinkRepository = SqlSlackLinkRepository(conn)
        self.processed: ProcessedEventRepository = SqlProcessedEventRepository(conn, now)
        # feature repositories (their ports are in the feature's domain package)
        self.pagerduty_links: PagerDutyLinks = SqlPagerDutyLinks(conn)
        self.alert_groups: AlertGroups = SqlAlertGroups(conn)
        self.iac_drift: DriftEvents = SqlDriftEvents(conn)
        self.roles: RoleAssignments = SqlRoleAssignments(conn)  # issue 19: roles beyond the IC
        self.snoozes: UpdateSnoozes = SqlUpdateSnoozes(conn)  # issue 19: update-reminder snoozes
        self.note_changes: NoteChanges = SqlNoteChanges(conn)  # key marks, edits, deletes
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            assert self.conn is not None
            if self.conn.in_transaction():
                await self.conn.rollback()
            await self.conn.close()
        finally:
            if self._write_lock is not None:
                self._write_lock.release()

    async def commit(self) -> None:
        assert self.conn is not None
        claim = CURRENT_REQUEST.get()  # an acked Slack request: done when this commits
        with self.tracer.start_as_current_span("db.commit", kind=SpanKind.CLIENT, attributes={
                "db.system": self.engine.dialect.name, "db.operation": "COMMIT"}):
            await self._outbox.flush()
            await record_applied_in(self.conn, claim, self.clock.now())
            await self.conn.commit()
        self.committed = True
        if claim is not None and claim.inbox_id is not None:
            claim.recorded = True

    async def rollback(self) -> None:
        assert self.conn is not None
        self._outbox.discard()  # queued rows belong to the transaction rolled back
        await self.conn.rollback()


def write_lock_for(engine: AsyncEngine) -> WriteLock | None:
    """SQLite (embedded, one process) serialises writers; PostgreSQL needs no lock."""
    return WriteLock() if is_sqlite(str(engine.url)) else None


def uow_factory(engine: AsyncEngine, clock: Clock, write_lock: WriteLock | None = None,
                tracer: Tracer | None = None) -> Callable[[], SqlUnitOfWork]:
    return lambda: SqlUnitOfWork(engine, clock, write_lock, tracer)


def sql_connection(uow: object) -> AsyncConnection:
    """The open connection of a SQL unit of work, for the adapters (feature wiring) that write
    their own tables in the same transaction as the use case that called them."""
    conn = getattr(uow, "conn", None)
    if not isinstance(conn, AsyncConnection):
        raise RuntimeError("not inside an open SQL unit of work")
    return conn

"""Action items <-> trackers (issue 21): export new items, close items whose ticket is done.

:meth:`TrackerSync.sync` runs every ``TRACKER_SYNC_MINUTES`` (and on demand): each open action
item without a ticket, of a team with a tracker, is filed there and the ticket's key and link
are stored with it; each stored ticket still open is asked about, and one closed in the tracker
closes its item (audited, and said in the incident's thread through the outbox).

A tracker that fails is logged and retried at the next run; the others carry on. Filing and
storing are two steps: a crash between them files the ticket again at the next run (at most
one duplicate ticket, never a lost one). On PostgreSQL one replica syncs at a time (an advisory
lock). The trackers' webhooks (handlers/insights.py) call :meth:`TrackerSync.close` directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp
import structlog

from bot.trackers import tracker_for
from domain.model import AuditEvent
from domain.ports import OutboxMessage
from domain.services import THREAD
from domain.trackers import KIND_LABELS, Tracker, TrackerConfig, TrackerError, TrackerRouting, ticket_request
from storage.insights_store import (
    close_item_for_ticket,
    items_without_ticket,
    open_tickets,
    release_sync_lock,
    save_ticket,
    try_sync_lock,
)

if TYPE_CHECKING:
    from bot.app import Container

log = structlog.get_logger("trackers")
TIMEOUT = aiohttp.ClientTimeout(total=20)


@dataclass
class SyncResult:
    exported: list[str] = field(default_factory=list)  # ticket keys filed
    closed: list[str] = field(default_factory=list)  # ticket keys whose items were closed
    failed: list[str] = field(default_factory=list)
    skipped: bool = False  # another replica was syncing


class TrackerSync:
    def __init__(self, container: Container, routing: TrackerRouting) -> None:
        self.container = container
        self.routing = routing

    def _tracker(self, config: TrackerConfig, session: aiohttp.ClientSession) -> Tracker:
        return tracker_for(config, session)

    async def sync(self) -> SyncResult:
        """One run; skipped (``skipped=True``) while another replica runs one."""
        result = SyncResult()
        if not self.routing.by_team:
            return result
        async with self.container.engine.connect() as lock:
            if not await try_sync_lock(lock):
                result.skipped = True
                return result
            try:
                async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
                    await self._export(session, result)
                    await self._check(session, result)
            finally:
                await release_sync_lock(lock)
                await lock.commit()
        return result

    async def scheduled(self) -> None:
        try:
            result = await self.sync()
        except Exception:
            log.exception("trackers.sync_failed")
            return
        if result.exported or result.closed or result.failed:
            log.info("trackers.synced", exported=result.exported, closed=result.closed,
                     failed=result.failed)

    async def _export(self, session: aiohttp.ClientSession, result: SyncResult) -> None:
        async with self.container.engine.connect() as conn:
            items = await items_without_ticket(conn)
        for item in items:
            config = self.routing.for_team(item.team)
            if config is None:
                continue
            request = ticket_request(
                incident_number=item.incident_number, incident_title=item.incident_title,
                item_number=item.number, text=item.text, owner=item.owner,
                due=item.due, severity=item.severity, reference=item.ticket,
                labels=config.labels)
            try:
                ticket = await self._tracker(config, session).create(request)
            except TrackerError as exc:
                log.error("trackers.export_failed", incident=item.incident_number, item=item.number,
                          tracker=config.kind, error=str(exc))
                result.failed.append(f"INC-{item.incident_number}#{item.number}")
                continue
            now = self.container.clock.now()
            async with self.container.uow_factory() as uow:
                await save_ticket(uow, item.id, ticket.tracker, ticket.key, ticket.url, now)
                await uow.audit.add(AuditEvent(
                    occurred_at=now, actor="incident-bot", actor_name="incident-bot",
                    action="action_item.exported", resource_type="action_item", resource_id=str(item.id),
                    details={"incident": item.incident_number, "number": item.number,
                             "tracker": ticket.tracker, "ticket": ticket.key, "url": ticket.url}))
                await uow.commit()
            result.exported.append(ticket.key)

    async def _check(self, session: aiohttp.ClientSession, result: SyncResult) -> None:
        async with self.container.engine.connect() as conn:
            tickets = await open_tickets(conn)
        for ticket in tickets:
            config = self.routing.for_team(ticket.team)
            if config is None or config.kind != ticket.tracker:
                continue  # the team's tracker changed since: the old ticket is not ours to ask
            try:
                closed = await self._tracker(config, session).is_closed(ticket.key)
            except TrackerError as exc:
                log.error("trackers.check_failed", ticket=ticket.key, error=str(exc))
                result.failed.append(ticket.key)
                continue
            if closed and await self.close(ticket.tracker, ticket.key):
                result.closed.append(ticket.key)

    async def close(self, tracker: str, key: str) -> bool:
        """The tracker says ``key`` is done (the periodic check, or its webhook): close the
        item. False when no open item has that ticket (unknown, or closed already)."""
        now = self.container.clock.now()
        async with self.container.uow_factory() as uow:
            closed = await close_item_for_ticket(uow, tracker, key, now)
            if closed is None:
                return False
            number, incident_id, item_number, url = closed
            label = KIND_LABELS.get(tracker, tracker)
            await uow.audit.add(AuditEvent(
                occurred_at=now, actor="incident-bot", actor_name="incident-bot",
                action="action_item.closed_by_tracker", resource_type="incident",
                resource_id=str(incident_id),
                details={"incident": number, "number": item_number, "tracker": tracker, "ticket": key}))
            await uow.outbox.add(OutboxMessage(THREAD, incident_id, {
                "text": f":white_check_mark: Action item #{item_number} is done: <{url}|{key}> "
                        f"was closed in {label}."}))
            await uow.commit()
        self.container.dispatcher.wake()
        return True

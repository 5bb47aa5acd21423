"""Infrastructure drift in Slack (issue 7), composed: ingest a report, one message per drift
event with the DriftGuard choices, and Escalate opening exactly one incident linked to the event.

The bot never changes the cloud: Revert and Codify show what to run or write; Accept records an
exception with a reason and an expiry; Escalate opens an incident. Every choice is audited with
the Slack actor. Use cases: domain/iac/decisions.py; ways in: handlers/webhooks/iac.py,
handlers/slack_iac.py and ``incident-bot iac ingest``; Slack texts: bot/slack_ui/iac.py.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from aiohttp import web

from bot.delivery.iac import IacDelivery
from bot.features.governance import require_role
from bot.slack_ui import iac as iac_ui
from domain.governance.roles import Activity
from domain.iac.decisions import IacDrift
from domain.iac.ingest import decode_report
from domain.iac.model import IacInputError
from handlers import slack_iac
from handlers.webhooks import iac as iac_webhook
from storage.uow import uow_factory

if TYPE_CHECKING:

    from bot.app import Container

log = structlog.get_logger("iac")


class ReportWatcher:
    """A scheduled job ingesting each new or changed ``*.json`` report in ``IAC_WATCH_DIR``.

    A file is read again only when its content hash changes; a malformed one is logged and
    skipped until it changes, never retried in a loop or allowed to stop the job.
    """

    def __init__(self, iac: IacDrift, directory: str) -> None:
        self.iac = iac
        self.directory = Path(directory)
        self.seen: dict[str, str] = {}

    async def scan(self) -> int:
        ingested = 0
        for path in sorted([*self.directory.glob("*.json"), *self.directory.glob("*.jsonl")]):
            try:
                raw = await asyncio.to_thread(path.read_bytes)
            except OSError as exc:
                log.warning("iac.watch_unreadable", file=str(path), error=str(exc))
                continue
            digest = hashlib.sha256(raw).hexdigest()
            if self.seen.get(path.name) == digest:
                continue
            self.seen[path.name] = digest
            try:
                counts = await self.iac.ingest_data(decode_report(raw), path.name)
                log.info("iac.watch_ingested", file=str(path), **counts)
                ingested += 1
            except (ValueError, IacInputError) as exc:
                log.error("iac.watch_rejected", file=str(path), error=str(exc)[:300])
        return ingested


def install(container: Container) -> None:
    settings = container.settings
    # reads need not queue behind SQLite's one writer; the repository is on the unit of work
    read = uow_factory(container.engine, container.clock)
    iac = IacDrift(container.service, read, settings.iac_default_model, iac_ui.SlackIacTexts())
    container.features.iac = iac
    if settings.iac_watch_dir:
        watcher = ReportWatcher(iac, settings.iac_watch_dir)
        container.features.iac_watcher = watcher
        container.scheduler.add_job(watcher.scan, "interval", seconds=settings.iac_watch_seconds,
                                    id="iac-watch", max_instances=1, coalesce=True)
    container.scheduler.add_job(iac.expire_exceptions, "interval", minutes=10,
                                id="iac-exception-expiry", max_instances=1, coalesce=True)
    delivery = IacDelivery(iac, container.slack_client, settings.incident_channel, container.uow_factory)
    container.dispatcher.handlers.update(delivery.handlers())
    container.routes.append(web.post("/webhooks/iac", iac_webhook.endpoint(iac, settings.iac_token)))

    async def role_check(actor_id: str, activity: Activity, resource_type: str, resource_id: str) -> None:
        await require_role(container, actor_id, activity, resource_type, resource_id)

    slack_iac.register(container.bolt, container.slack, iac, role_check,
                       settings.iac_max_exception_days)

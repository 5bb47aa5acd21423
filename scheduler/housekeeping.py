"""The housekeeping job: once an hour, prune what ``LOG_RETENTION_DAYS`` lets go."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import structlog

from storage.housekeeping import prune

if TYPE_CHECKING:
    from bot.app import Container

log = structlog.get_logger("housekeeping")

INBOX_KEEP = timedelta(days=1)


def install(container: Container) -> None:
    lock = container.outbox_store.write_lock  # SQLite's one writer at a time, shared with the rest
    keep = timedelta(days=container.settings.log_retention_days)

    async def housekeeping() -> dict[str, int]:
        now = container.clock.now()
        pruned = await prune(container.engine, now - keep, lock)
        # settled Slack requests (their bodies are already gone) are kept a day: long enough
        # to recognise a replayed signed request, which Slack's 5-minute window bounds
        pruned["slack_inbox"] = await container.intake.store.prune(now - INBOX_KEEP)
        pruned["applied_requests"] = await container.intake.store.applied.prune(now - INBOX_KEEP)
        if any(pruned.values()):
            log.info("housekeeping.pruned", retention_days=keep.days, **pruned)
        return pruned

    container.features.housekeeping = housekeeping
    container.scheduler.add_job(housekeeping, "interval", hours=1, id="housekeeping",
                                max_instances=1, coalesce=True)

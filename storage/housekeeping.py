"""Housekeeping: the bot's own operational records are kept ``LOG_RETENTION_DAYS``, then go.

Delivered outbox rows (a log of what was sent to Slack) and the ids of processed Slack events
(kept to recognise Slack's retries, which come within minutes) would otherwise grow for ever.
Pending and failed outbox rows stay: one is still to be delivered, the other is for an
operator to look at. Incidents, their timeline and the audit trail are never deleted here:
GOV-001 section 7.1 sets a minimum retention, and the audit trail is a hash chain.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from storage.tables import outbox, processed_events


async def prune(engine: AsyncEngine, before: datetime, write_lock: Any = None) -> dict[str, int]:
    """Delete what is older than ``before``; returns how many rows per table."""
    async with write_lock or contextlib.nullcontext(), engine.begin() as conn:
        sent = await conn.execute(outbox.delete().where(
            outbox.c.status == "done", outbox.c.delivered_at < before))
        seen = await conn.execute(processed_events.delete().where(
            processed_events.c.processed_at < before))
    return {"outbox": sent.rowcount, "processed_events": seen.rowcount}

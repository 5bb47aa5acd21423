"""Reading the tamper-evident audit trail (storage/governance_tables.py) and recording its
checkpoints: the SQL behind ``incident-bot audit`` and the audit anchor job."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.governance.audit_chain import Checkpoint
from storage.governance_tables import audit_chain, audit_checkpoints

EXPORT_FIELDS = ("seq", "id", "occurred_at", "actor", "actor_name", "action", "resource_type",
                 "resource_id", "details", "log_type", "prev_hash", "row_hash")
BATCH = 2000


async def iter_batches(engine: AsyncEngine, since: datetime | None = None,
                       ) -> AsyncIterator[list[dict[str, Any]]]:
    """The trail in seq order, a batch at a time through a server-side cursor."""
    query = sa.select(*(audit_chain.c[name] for name in EXPORT_FIELDS)).order_by(audit_chain.c.seq)
    if since is not None:
        query = query.where(audit_chain.c.occurred_at >= since)
    async with engine.connect() as conn:
        result = await conn.stream(query.execution_options(yield_per=BATCH))
        async for part in result.mappings().partitions(BATCH):
            yield [dict(row) for row in part]


async def stored_checkpoints(engine: AsyncEngine) -> list[Checkpoint]:
    async with engine.connect() as conn:
        found = (await conn.execute(sa.select(audit_checkpoints).order_by(audit_checkpoints.c.id))).all()
    return [Checkpoint(r.row_count, r.head_hash, r.mac, f"checkpoint {r.id} of {r.taken_at:%Y-%m-%d %H:%M}")
            for r in found]


async def record_checkpoint(engine: AsyncEngine, taken_at: datetime,
                            sign: Callable[[int, str], str | None]) -> Checkpoint:
    """Read the chain's row count and head (one statement, one snapshot), sign them with
    ``sign(row_count, head_hash)`` and store the checkpoint row, in one transaction."""
    head = (sa.select(audit_chain.c.seq, audit_chain.c.row_hash)
            .order_by(audit_chain.c.seq.desc()).limit(1).subquery())
    count = (sa.select(sa.func.count()).select_from(audit_chain)
             .where(audit_chain.c.seq <= head.c.seq).scalar_subquery())
    async with engine.begin() as conn:
        found = (await conn.execute(sa.select(count, head.c.seq, head.c.row_hash))).first()
        row_count, head_seq, head_hash = (int(found[0]), int(found[1]), str(found[2])) if found \
            else (0, None, "0" * 64)
        mac = sign(row_count, head_hash)
        await conn.execute(audit_checkpoints.insert().values(
            taken_at=taken_at, row_count=row_count, head_seq=head_seq, head_hash=head_hash, mac=mac))
    return Checkpoint(row_count, head_hash, mac)

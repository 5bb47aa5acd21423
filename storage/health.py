"""What the probes and /metrics ask the database, so the HTTP layer needs no SQL of its own."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import migrate


async def database_revision(engine: AsyncEngine) -> str | None:
    """The schema revision the database is at; raises when the database does not answer."""
    async with engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))
    return await migrate.current_revision(engine)


def code_revision() -> str | None:
    """The revision this code expects (the migrations' head)."""
    return migrate.head_revision()

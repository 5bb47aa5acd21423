"""Apply Alembic migrations on an async engine (``incident-bot db upgrade``; ``serve`` on start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import is_sqlite
from storage.locks import Lock, xact_lock_sync

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> str | None:
    """Upgrade to ``revision`` and return the revision now in force."""

    def run(connection: Connection) -> str | None:
        config = alembic_config()
        config.attributes["connection"] = connection
        xact_lock_sync(connection, Lock.MIGRATIONS)  # two replicas starting together: one migrates
        command.upgrade(config, revision)
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.begin() as conn:
        return await conn.run_sync(run)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    def run(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(run)


__all__ = ["upgrade", "downgrade", "head_revision", "current_revision", "is_sqlite"]

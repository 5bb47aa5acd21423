"""What ``incident-bot check`` may learn from the database without changing it (issue 16).

A pre-flight check must never write: it must not create ``./incidents.db`` where none exists,
migrate, or take a lock a running bot needs. SQLite is opened read-only (``mode=ro``; with
``immutable=1`` when no WAL file shows a writer, so not even SQLite's ``-wal``/``-shm`` files
appear); PostgreSQL sessions are ``default_transaction_read_only``. Only SELECTs run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from sqlalchemy import make_url
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from storage import tables as t
from storage.db import DatabaseUrlError, create_engine, normalise_url


@dataclass(frozen=True)
class DatabaseState:
    """What the database holds. ``missing``: a SQLite file that does not exist yet."""

    missing: bool = False
    in_memory: bool = False
    revision: str | None = None
    models: int = 0
    path: str | None = None


def sqlite_path(url: str) -> str | None:
    """The file of a SQLite URL (None for an in-memory database or another dialect)."""
    parsed = make_url(normalise_url(url))
    if not parsed.drivername.startswith("sqlite"):
        return None
    database = parsed.database or ""
    return None if database in ("", ":memory:") or database.startswith("file:") else database


def read_only_engine(url: str) -> AsyncEngine:
    """An engine that cannot write: SQLite read-only, PostgreSQL read-only transactions."""
    create_engine(url).sync_engine.dispose()  # the same DatabaseUrlError for an unsupported URL
    url = normalise_url(url)
    path = sqlite_path(url)
    if path is not None:
        file = Path(path).resolve()
        wal_exists = Path(f"{file}-wal").exists()
        mode = "mode=ro" if wal_exists else "mode=ro&immutable=1"
        return create_async_engine(f"sqlite+aiosqlite:///{file.as_uri()}?{mode}&uri=true",
                                   poolclass=NullPool)
    if url.startswith("sqlite"):
        return create_async_engine(url, poolclass=NullPool)
    return create_async_engine(
        url, poolclass=NullPool,
        connect_args={"server_settings": {"default_transaction_read_only": "on"}, "timeout": 10})


def _nothing_to_open(url: str) -> DatabaseState | None:
    """A SQLite file that does not exist (opening it would create it), or an in-memory one."""
    path = sqlite_path(url)
    if path is not None and not Path(path).exists():
        return DatabaseState(missing=True, path=path)
    if path is None and normalise_url(url).startswith("sqlite"):
        return DatabaseState(in_memory=True)
    return None


async def inspect_database(url: str) -> DatabaseState:
    """The schema revision and the number of registered models, read without writing."""
    state = _nothing_to_open(url)
    if state is not None:
        return state
    path = sqlite_path(url)
    engine = read_only_engine(url)
    try:
        async with engine.connect() as conn:
            revision = await conn.run_sync(_revision)
            models = 0
            if revision is not None:
                models = (await conn.execute(sa.select(sa.func.count()).select_from(t.models))).scalar_one()
            return DatabaseState(revision=revision, models=int(models), path=path)
    finally:
        await engine.dispose()


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


__all__ = ["DatabaseState", "DatabaseUrlError", "inspect_database", "read_only_engine", "sqlite_path"]

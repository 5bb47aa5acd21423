"""Test databases: a SQLite file, or a fresh PostgreSQL database per test.

PostgreSQL comes from ``TEST_POSTGRES_URL`` (default: the local server, database ``test``).
When it is unreachable the PostgreSQL variants skip with the reason, except under ``CI=true``
where they fail: CI must prove the PostgreSQL path.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import asyncpg
import pytest

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
_pg_status: dict[str, str | None] = {}


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _probe() -> str | None:
    try:
        conn = await asyncio.wait_for(asyncpg.connect(_dsn(PG_URL)), timeout=3)
    except Exception as exc:  # any failure means: no PostgreSQL here
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


async def require_postgres() -> None:
    if "error" not in _pg_status:
        _pg_status["error"] = await _probe()
    error = _pg_status["error"]
    if error is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL must be reachable in CI at {PG_URL}: {error}")
    pytest.skip(f"no PostgreSQL reachable at {PG_URL} ({error}); set TEST_POSTGRES_URL")


async def create_pg_database() -> str:
    await require_postgres()
    name = f"t_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(_dsn(PG_URL))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = PG_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


async def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(_dsn(PG_URL))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'incidents.db'}"

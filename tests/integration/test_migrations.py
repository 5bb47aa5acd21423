"""Alembic migrations: upgrade from empty, downgrade to empty, upgrade again; both databases."""

from __future__ import annotations

import importlib
import pkgutil

import sqlalchemy as sa

import storage
from storage import migrate
from storage.db import create_engine
from storage.tables import metadata

# Every feature's tables (storage/*_tables.py) must be created by the migrations too.
for _module in pkgutil.iter_modules(storage.__path__):
    if _module.name.endswith("_tables"):
        importlib.import_module(f"storage.{_module.name}")


async def test_migrations_round_trip_and_match_the_tables(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert await migrate.upgrade(engine) == migrate.head_revision()
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
        assert {t.name for t in metadata.sorted_tables} <= tables
        if engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                labels = (await conn.execute(sa.text(
                    "SELECT enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
                    "WHERE t.typname = 'incident_status' ORDER BY e.enumsortorder"))).scalars().all()
            assert labels == ["open", "investigating", "mitigated", "resolved", "closed"]
        await migrate.downgrade(engine, "base")
        async with engine.connect() as conn:
            left = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
        assert left <= {"alembic_version"}
        assert await migrate.upgrade(engine) == migrate.head_revision()
        assert await migrate.upgrade(engine) == migrate.head_revision()  # idempotent
    finally:
        await engine.dispose()

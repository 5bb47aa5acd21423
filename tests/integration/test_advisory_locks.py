"""The named advisory locks (storage/locks.py) on PostgreSQL: a second session meets the first
one's lock, a transaction lock ends with its transaction, a session lock with ``unlock``; and on
SQLite every lock is a no-op that succeeds."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import create_async_engine

from storage.locks import KeyedLock, Lock, try_session_lock, try_xact_lock, unlock, xact_lock
from tests.databases import create_pg_database, drop_pg_database


def test_every_fixed_key_is_distinct_and_keyed_locks_are_per_name() -> None:
    assert len({int(k) for k in Lock}) == len(Lock)
    assert KeyedLock.DRIFT_JOB.key("m1") != KeyedLock.DRIFT_JOB.key("m2")
    assert KeyedLock.DRIFT_JOB.key("m1") != KeyedLock.REGISTRY_MODEL.key("m1")
    assert KeyedLock.DRIFT_JOB.key("m1") not in {int(k) for k in Lock}


async def test_postgres_sessions_take_turns_on_a_named_lock() -> None:
    url = await create_pg_database()  # advisory locks are per database: none of another test's
    engine = create_async_engine(url)
    try:
        async with engine.connect() as first, engine.connect() as second:
            await first.begin()
            await xact_lock(first, Lock.CLOCK_TICK)
            await second.begin()
            assert await try_xact_lock(second, Lock.CLOCK_TICK) is False
            assert await try_xact_lock(second, Lock.AUDIT_CHAIN) is True  # another key is free
            await first.rollback()  # the transaction lock ends with the transaction
            assert await try_xact_lock(second, Lock.CLOCK_TICK) is True
            await second.rollback()

            assert await try_session_lock(first, Lock.TRACKER_SYNC) is True
            await second.begin()
            assert await try_xact_lock(second, Lock.TRACKER_SYNC) is False
            await second.rollback()
            await unlock(first, Lock.TRACKER_SYNC)
            assert await try_session_lock(second, Lock.TRACKER_SYNC) is True
            await unlock(second, Lock.TRACKER_SYNC)
    finally:
        await engine.dispose()
        await drop_pg_database(url)


async def test_sqlite_locks_are_no_ops_that_succeed() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    try:
        async with engine.connect() as conn:
            await xact_lock(conn, Lock.INCIDENT_NUMBER)
            assert await try_xact_lock(conn, KeyedLock.DRIFT_JOB.key("m")) is True
            assert await try_session_lock(conn, Lock.TRACKER_SYNC) is True
            await unlock(conn, Lock.TRACKER_SYNC)
    finally:
        await engine.dispose()

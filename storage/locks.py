"""Every PostgreSQL advisory lock the bot takes, named in one place.

Replicas share one database, and these locks are how they take turns where two of them acting
together would do a thing twice (migrate, number an incident, append to the audit chain, run the
clock tick, a drift job, a registry sync or a tracker sync). All keys live in one bigint space,
so they are listed here where a clash shows. Keyed locks (one per model) are the CRC-32 of
``namespace:name`` (which could equal a fixed key with odds of about 5 in 4 billion). The values
are those the bot has always used, so a replica of the previous release waits on the same key
during a rolling upgrade.

On other databases the functions do nothing and a "try" succeeds: SQLite serves one process and
has one writer at a time, and the other dialects are for drift reads only."""

from __future__ import annotations

import enum
import zlib

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection


class Lock(enum.IntEnum):
    """The fixed advisory lock keys."""

    MIGRATIONS = 4242000  # two replicas starting together must not both migrate
    INCIDENT_NUMBER = 4242001  # numbers are max()+1: one allocation at a time
    AUDIT_CHAIN = 4242006  # each audit row hashes the previous one
    TRACKER_SYNC = 4242021  # two syncs would file one action item twice (session lock)
    CLOCK_TICK = 0x51C10C  # one replica runs the SLO clock tick


class KeyedLock(enum.Enum):
    """Namespaces of the per-name locks (the key is the CRC-32 of ``namespace:name``)."""

    DRIFT_JOB = "drift"  # one replica runs a model's drift job
    REGISTRY_MODEL = "registry"  # one sync of a model's registry moves at a time

    def key(self, name: str) -> int:
        return zlib.crc32(f"{self.value}:{name}".encode())


def _postgres(conn: AsyncConnection | Connection) -> bool:
    return conn.dialect.name == "postgresql"


async def xact_lock(conn: AsyncConnection, key: int) -> None:
    """Wait for the lock; it is held until the transaction ends."""
    if _postgres(conn):
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(int(key))))


async def try_xact_lock(conn: AsyncConnection, key: int) -> bool:
    """Take the lock until the transaction ends if it is free; False if another holds it."""
    if not _postgres(conn):
        return True
    return bool((await conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(int(key))))).scalar())


async def try_session_lock(conn: AsyncConnection, key: int) -> bool:
    """Take the lock for this connection's session if it is free (release with ``unlock``):
    for work that spans several transactions."""
    if not _postgres(conn):
        return True
    return bool((await conn.execute(sa.select(sa.func.pg_try_advisory_lock(int(key))))).scalar())


async def unlock(conn: AsyncConnection, key: int) -> None:
    """Release a session lock taken with ``try_session_lock``."""
    if _postgres(conn):
        await conn.execute(sa.select(sa.func.pg_advisory_unlock(int(key))))


def xact_lock_sync(conn: Connection, key: int) -> None:
    """``xact_lock`` for a synchronous connection (Alembic runs migrations on one)."""
    if _postgres(conn):
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(int(key))))

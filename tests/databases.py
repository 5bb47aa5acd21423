"""Test databases: a SQLite file, or a PostgreSQL database of its own per test.

PostgreSQL comes from ``TEST_POSTGRES_URL`` (default: the local server, database ``test``).
When it is unreachable the PostgreSQL variants skip with the reason, except under ``CI=true``
where they fail: CI must prove the PostgreSQL path.

Speed-ups, none visible to a test:

- ``migrated_pg_database`` / ``migrated_sqlite_url``: a database already at the migrations' head,
  cloned (``CREATE DATABASE ... TEMPLATE``, a file copy) from a template this process migrates once,
  instead of running every migration again for each test (0.5-2 s on PostgreSQL under load).
- ``drop_pg_database`` empties the database and keeps it for the process's next test (rows
  truncated when its schema is still the migrated template's, schemas dropped otherwise) instead
  of dropping it: PostgreSQL's CREATE and DROP DATABASE wait for checkpoints of the whole server
  (seconds when the suite writes on four workers). A database that cannot be emptied exactly is
  dropped in a background thread; ``finish_drops`` (the session's end, and at exit) drops the
  rest and waits.
- ``synchronous_commit = off`` on each test database (see ``_create``).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import queue
import shutil
import tempfile
import threading
import uuid
from pathlib import Path

import asyncpg
import pytest

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
_pg_status: dict[str, str | None] = {}
_templates: dict[str, str] = {}  # "postgresql": template database URL, "sqlite": template file


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


async def _create(template: str | None = None) -> str:
    name = f"t_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(_dsn(PG_URL))
    try:
        clause = f' TEMPLATE "{template}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{clause}')
        # a commit returns without waiting for its WAL flush: the same visibility, locking and
        # isolation, only a crash of the server itself could lose the last commits (never in
        # a test); the flush is 0.5-1 ms a commit on this machine, more while others write
        await conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    finally:
        await conn.close()
    base = PG_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


async def create_pg_database() -> str:
    """An empty PostgreSQL database: one a previous test of this process gave back (emptied by
    ``drop_pg_database``), or a new one."""
    await require_postgres()
    if _pools["empty"]:
        return _pools["empty"].pop()
    url = await _create()
    if "empty" not in _fingerprints:
        _fingerprints["empty"] = await _fingerprint(url)
    return url


# Everything a test could change in a database's schema (tables, columns, defaults, constraints,
# indexes, triggers, functions, types, schemas, extensions, the migration revision): a database
# whose fingerprint is still the template's differs from a fresh clone only by its rows.
_FINGERPRINT = """
SELECT md5(string_agg(x, E'\\n' ORDER BY x)) FROM (
  SELECT 'rel ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
  UNION ALL
  SELECT 'col ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
         || ' ' || a.attnotnull || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT 'con ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'idx ' || pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'trg ' || tgrelid::regclass::text || ' ' || tgname || ' ' || tgenabled::text || ' '
         || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL
  SELECT 'fn ' || p.oid::regprocedure::text || ' ' || md5(p.prosrc)
    FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'typ ' || t.typname || ' ' || coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                                                 FROM pg_enum e WHERE e.enumtypid = t.oid), '')
    FROM pg_type t WHERE t.typnamespace = 'public'::regnamespace
  UNION ALL SELECT 'ns ' || nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%'
  UNION ALL SELECT 'ext ' || extname FROM pg_extension
) AS s(x)
"""
_pools: dict[str, list[str]] = {"empty": [], "migrated": []}  # given back, emptied, for the next test
_fingerprints: dict[str, str] = {}  # "empty": a new database's, "migrated": the template's


async def _fingerprint(url: str, conn: asyncpg.Connection | None = None) -> str:
    own = conn is None
    conn = conn or await asyncpg.connect(_dsn(url))
    try:
        schema = str(await conn.fetchval(_FINGERPRINT))
        has_version = await conn.fetchval("SELECT to_regclass('public.alembic_version') IS NOT NULL")
        version = await conn.fetchval("SELECT string_agg(version_num, ',') FROM alembic_version") \
            if has_version else None
        return f"{schema} {version}"
    finally:
        if own:
            await conn.close()


async def migrated_pg_database() -> str:
    """A PostgreSQL database at the migrations' head and without rows: the state the bot's
    start-up (or ``migrate.upgrade``) leaves an empty one in. One a previous test gave back
    (emptied by ``drop_pg_database``), or a clone of this process's migrated template."""
    await require_postgres()
    if _pools["migrated"]:
        return _pools["migrated"].pop()
    template = _templates.get("postgresql")
    if template is None:
        from storage import migrate
        from storage.db import create_engine

        template = await _create()
        engine = create_engine(template)
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()
        _fingerprints["migrated"] = await _fingerprint(template)
        _templates["postgresql"] = template
    return await _create(template.rsplit("/", 1)[1])


async def drop_pg_database(url: str) -> None:
    """Give the database up. It is emptied and kept for this process's next test when that is
    exact: a schema still the migrations' head loses its rows (TRUNCATE ... RESTART IDENTITY of
    the tables that have any, triggers off for the append-only audit tables) and serves
    ``migrated_pg_database``; anything else loses every schema (``public`` made again as a new
    database has it) and serves ``create_pg_database``, once its fingerprint is a new database's.
    Otherwise it is dropped, in the background (see the module's docstring)."""
    name = url.rsplit("/", 1)[1]
    try:
        admin = await asyncpg.connect(_dsn(PG_URL))
        try:  # what the test left connected goes, as DROP DATABASE ... WITH (FORCE) would do
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = $1 AND pid <> pg_backend_pid()", name)
        finally:
            await admin.close()
        conn = await asyncpg.connect(_dsn(url))
        try:
            if "migrated" in _fingerprints and await _fingerprint(url, conn) == _fingerprints["migrated"]:
                await _empty_tables(conn)
                _pools["migrated"].append(url)
                return
            await _empty_schemas(conn)
            if "empty" in _fingerprints and await _fingerprint(url, conn) == _fingerprints["empty"]:
                _pools["empty"].append(url)
                return
        finally:
            await conn.close()
    except Exception:  # noqa: S110 - it could not be emptied: dropped below, a new one next time
        pass
    _dropper.submit(url)


async def _empty_tables(conn: asyncpg.Connection) -> None:
    names = [r["t"] for r in await conn.fetch(
        "SELECT quote_ident(tablename) AS t FROM pg_tables "
        "WHERE schemaname = 'public' AND tablename <> 'alembic_version'")]
    used = [r["t"] for r in await conn.fetch(" UNION ALL ".join(
        f"SELECT '{t}' AS t WHERE EXISTS (SELECT 1 FROM {t})" for t in names))] if names else []
    sequences = await conn.fetch(  # a rolled-back insert moves a sequence too
        "SELECT quote_ident(sequencename) AS s FROM pg_sequences "
        "WHERE schemaname = 'public' AND last_value IS NOT NULL")
    async with conn.transaction():
        await conn.execute("SET LOCAL lock_timeout = '5s'")
        await conn.execute("SET LOCAL session_replication_role = replica")
        if used:  # only the tables with rows: each TRUNCATE makes new files
            await conn.execute(f"TRUNCATE {', '.join(used)} RESTART IDENTITY CASCADE")
        for row in sequences:
            await conn.execute(f"ALTER SEQUENCE {row['s']} RESTART")


async def _empty_schemas(conn: asyncpg.Connection) -> None:
    schemas = [r["n"] for r in await conn.fetch(
        "SELECT quote_ident(nspname) AS n FROM pg_namespace "
        "WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'")]
    extensions = [r["e"] for r in await conn.fetch(
        "SELECT quote_ident(extname) AS e FROM pg_extension WHERE extname <> 'plpgsql'")]
    async with conn.transaction():
        await conn.execute("SET LOCAL lock_timeout = '5s'")
        for extension in extensions:
            await conn.execute(f"DROP EXTENSION {extension} CASCADE")
        for schema in schemas:
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.execute("CREATE SCHEMA public AUTHORIZATION pg_database_owner")
        await conn.execute("COMMENT ON SCHEMA public IS 'standard public schema'")
        await conn.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")


async def _drop_now(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(_dsn(PG_URL))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


class _Dropper:
    """One thread that drops the databases handed to it on an event loop of its own: whatever is
    waiting at once is dropped at once, so their DROPs share the server's checkpoints (the pools
    and templates at the session's end: one wait instead of one each)."""

    def __init__(self) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, url: str) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pg-drops", daemon=True)
                self._thread.start()
        self._queue.put(url)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            urls = [url for url in batch if url is not None]
            if urls:
                asyncio.run(self._drop_all(urls))
            if None in batch:
                return

    @staticmethod
    async def _drop_all(urls: list[str]) -> None:
        results = await asyncio.gather(*(_drop_now(url) for url in urls), return_exceptions=True)
        for url, result in zip(urls, results, strict=True):
            if isinstance(result, BaseException):  # a database left behind costs disk, not a test
                print(f"tests.databases: could not drop {url.rsplit('/', 1)[1]}: {result}")

    def finish(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(300)


_dropper = _Dropper()


def finish_drops() -> None:
    """Drop this process's templates and wait until every database handed over is dropped."""
    template = _templates.pop("postgresql", None)
    for url in [*_pools["empty"], *_pools["migrated"], *([template] if template else [])]:
        _dropper.submit(url)
    for pool in _pools.values():
        pool.clear()
    _dropper.finish()
    sqlite_template = _templates.pop("sqlite", None)
    if sqlite_template is not None:
        shutil.rmtree(Path(sqlite_template).parent, ignore_errors=True)


atexit.register(finish_drops)


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'incidents.db'}"


async def migrated_sqlite_url(tmp_path: Path) -> str:
    """``sqlite_url(tmp_path)`` holding a database at the migrations' head: a copy of this
    process's migrated template file."""
    template = _templates.get("sqlite")
    if template is None:
        from storage import migrate
        from storage.db import create_engine

        path = Path(tempfile.mkdtemp(prefix="sqlite-template-")) / "incidents.db"
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()
        template = _templates["sqlite"] = str(path)
    _copy_sqlite(Path(template), tmp_path / "incidents.db")
    return sqlite_url(tmp_path)


def _copy_sqlite(source: Path, target: Path) -> None:
    for suffix in ("", "-wal"):  # the last connection's close folds the WAL in; if it did not, both
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")

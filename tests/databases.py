"""Test databases: a SQLite file, or a fresh PostgreSQL database per test.

PostgreSQL comes from ``TEST_POSTGRES_URL`` (default: the local server, database ``test``).
When it is unreachable the PostgreSQL variants skip with the reason, except under ``CI=true``
where they fail: CI must prove the PostgreSQL path.

Two speed-ups, neither visible to a test:

- ``migrated_pg_database`` / ``migrated_sqlite_url``: a database already at the migrations' head,
  cloned (``CREATE DATABASE ... TEMPLATE``, a file copy) from a template this process migrates once,
  instead of running every migration again for each test (0.5-2 s on PostgreSQL under load).
  A migrated PostgreSQL database given back with ``release_pg_database`` is emptied (TRUNCATE)
  and handed to the next test, provided its schema is still the template's; otherwise dropped.
- ``drop_pg_database`` drops in a background thread: PostgreSQL's DROP DATABASE waits for a
  checkpoint of the whole server (seconds when the suite writes on four workers), which no test
  needs to wait for. ``finish_drops`` (the session's end, and at exit) waits for them all.
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
    finally:
        await conn.close()
    base = PG_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


async def create_pg_database() -> str:
    """A new, empty PostgreSQL database."""
    await require_postgres()
    return await _create()


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
  UNION ALL SELECT 'ver ' || version_num FROM alembic_version
) AS s(x)
"""
_pool: list[str] = []  # migrated databases emptied by release_pg_database, for the next test


async def _fingerprint(conn: asyncpg.Connection) -> str:
    return str(await conn.fetchval(_FINGERPRINT))


async def migrated_pg_database() -> str:
    """A PostgreSQL database at the migrations' head and without rows: the state the bot's
    start-up (or ``migrate.upgrade``) leaves an empty one in. A clone of this process's migrated
    template, or one a previous test gave back (``release_pg_database``), emptied."""
    await require_postgres()
    if _pool:
        return _pool.pop()
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
        conn = await asyncpg.connect(_dsn(template))
        try:
            _templates["postgresql_fingerprint"] = await _fingerprint(conn)
        finally:
            await conn.close()
        _templates["postgresql"] = template
    return await _create(template.rsplit("/", 1)[1])


async def release_pg_database(url: str) -> None:
    """Give back a database of ``migrated_pg_database``: if its schema is still the template's,
    empty its tables (TRUNCATE ... RESTART IDENTITY, triggers off for the append-only audit
    tables) and keep it for the next test; otherwise drop it."""
    name = url.rsplit("/", 1)[1]
    try:
        admin = await asyncpg.connect(_dsn(PG_URL))
        try:  # what the test left connected (as DROP DATABASE ... WITH (FORCE) would)
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = $1 AND pid <> pg_backend_pid()", name)
        finally:
            await admin.close()
        conn = await asyncpg.connect(_dsn(url))
        try:
            if await _fingerprint(conn) != _templates.get("postgresql_fingerprint"):
                raise LookupError("schema changed")
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
        finally:
            await conn.close()
    except Exception:  # schema changed, or the database would not empty: a fresh one next time
        _dropper.submit(url)
        return
    _pool.append(url)


async def _drop_now(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(_dsn(PG_URL))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


class _Dropper:
    """One thread that drops the databases handed to it, in order, on an event loop of its own."""

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
        while (url := self._queue.get()) is not None:
            try:
                asyncio.run(_drop_now(url))
            except Exception as exc:  # a database left behind costs disk, not a test
                print(f"tests.databases: could not drop {url.rsplit('/', 1)[1]}: {exc}")

    def finish(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(300)


_dropper = _Dropper()


async def drop_pg_database(url: str) -> None:
    """Drop the database (in the background: see the module's docstring)."""
    _dropper.submit(url)


def finish_drops() -> None:
    """Drop this process's templates and wait until every database handed over is dropped."""
    template = _templates.pop("postgresql", None)
    for url in [*_pool, *([template] if template else [])]:
        _dropper.submit(url)
    _pool.clear()
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

"""Engine creation: aiosqlite by default, asyncpg when DATABASE_URL is PostgreSQL."""

from __future__ import annotations

from sqlalchemy import event, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

Engine = AsyncEngine  # the engine's type for modules outside storage/, which import no SQLAlchemy
# The driver's errors, for modules outside storage/ that tell "the database is unreachable"
# (OperationalError, or no statement ran) from "a statement failed" (a bug)
DatabaseError = DBAPIError


def unreachable(exc: BaseException) -> bool:
    """True when ``exc`` says the database could not be reached rather than that a statement
    failed on a live connection."""
    return not isinstance(exc, DBAPIError) or exc.statement is None or isinstance(
        exc, OperationalError)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def normalise_url(url: str) -> str:
    """Accept ``postgres://`` / ``postgresql://`` and plain ``sqlite:///`` and pick async drivers."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url[len("postgresql://"):]
    if url.startswith("sqlite:///") or url == "sqlite://":
        url = "sqlite+aiosqlite" + url[len("sqlite"):]
    return url


class DatabaseUrlError(ValueError):
    """DATABASE_URL names a database this bot does not run on."""


SUPPORTED = ("sqlite+aiosqlite", "postgresql+asyncpg")


def safe_url(url: str) -> str:
    """The URL for messages and logs, password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not even parseable: show only the scheme
        return url.split("://", 1)[0] + "://..."


def failure_reason(exc: BaseException) -> str:
    """Why a database could not be reached: the innermost cause's message, on one line."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    url = normalise_url(url)
    try:
        driver = make_url(url).drivername
    except Exception:
        driver = ""
    if driver not in SUPPORTED:
        raise DatabaseUrlError(
            f"DATABASE_URL {safe_url(url)!r} is not supported: use sqlite+aiosqlite:///path.db "
            "(the default, ./incidents.db) or postgresql+asyncpg://user@host:5432/dbname "
            "(postgres:// and postgresql:// are accepted too).")
    if is_sqlite(url):
        # as many connections at once as before (SQLAlchemy's default 5 + 10 overflow), but all
        # kept: an overflow connection was closed on its return, and each new one is a thread
        # aiosqlite starts (the event loop waits for it) and three PRAGMAs; a burst's
        # deliveries opened one per request that way (benchmarks/ack_cost.py --profile delivery)
        from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
        from sqlalchemy.pool import AsyncAdaptedQueuePool

        queued = SQLiteDialect_aiosqlite.get_pool_class(make_url(url)) is AsyncAdaptedQueuePool
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30}, **(
            {"pool_size": 15, "max_overflow": 0} if queued else {}))  # in memory: one, static

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:
            # WAL lets readers run beside the writer; foreign keys are off by default in SQLite.
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_async_engine(url, echo=echo, pool_size=10, max_overflow=20, pool_pre_ping=True)


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database could not be reached (down, restarting, locked for
    too long), as opposed to a statement it refused: the work may succeed once it is back."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        return True
    if isinstance(exc, ConnectionError | TimeoutError | OSError):
        # a refused or dropped database connection; not an HTTP client's (Slack, PagerDuty)
        return not type(exc).__module__.startswith(("aiohttp", "slack_sdk", "httpx"))
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and type(cause).__module__.startswith(
        "asyncpg") and "Connection" in type(cause).__name__

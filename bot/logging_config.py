"""Structured logging: one JSON object per line (``LOG_FORMAT=json``), or readable console lines.

Both structlog events and stdlib records (slack_sdk, slack_bolt, aiohttp, alembic, asyncpg,
aiosqlite, SQLAlchemy) pass the same processors, the scrubber included (issue 14): a DEBUG line
of a third-party library is JSON and scrubbed like ours. The libraries that print raw request
bodies or SQL parameters at DEBUG are held at INFO whatever ``LOG_LEVEL`` says.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog

from bot.tracing import add_trace_context
from domain.governance.scrubber import scrub_log_event

# At DEBUG these print whole Slack request bodies (message texts, response_url capability
# URLs) or SQL with its parameters: never below INFO.
CAPPED_AT_INFO = ("slack_sdk", "slack_bolt", "aiosqlite", "sqlalchemy", "asyncpg", "aiohttp.client")
# Libraries that, on import, give a logger a handler of their own and stop it propagating
# (``import mlflow`` does so for "mlflow" and "alembic"): their lines would bypass the JSON
# renderer and the scrubber. ``adopt_library_loggers`` routes them back through the root.
SELF_HANDLING = ("mlflow", "alembic")
_HANDLER_MARK = "_incident_bot_handler"
_LIBRARY_LEVELS: dict[str, int] = {}  # each capped logger's level before the first configure()


class _StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is at each line (the CLI or a test may have swapped it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _processors(fmt: str) -> tuple[list[Any], Any]:
    """(the processors before rendering, the renderer) shared by structlog and stdlib lines."""
    # console lines go to stderr: coloured only when it is a terminal and NO_COLOR is unset
    colours = sys.stderr.isatty() and not os.environ.get("NO_COLOR", "")
    renderer = (structlog.processors.JSONRenderer() if fmt == "json"
                else structlog.dev.ConsoleRenderer(colors=colours))
    exceptions = (
        # the exception itself, not ``"exc_info": true``: JSON gets a structured traceback
        # (frames without their local variables: those may hold tokens or message texts)
        structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False))
        if fmt == "json" else structlog.processors.format_exc_info)
    return [exceptions, scrub_log_event], renderer


def configure(level: str = "INFO", fmt: str = "json") -> None:
    numeric = logging.getLevelName(level.upper())
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    tail, renderer = _processors(fmt)

    # stdlib records: rendered by structlog, scrubbed (PII and secrets never reach a log line)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.contextvars.merge_contextvars, add_trace_context,
                           structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name,
                           stamp],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail, renderer])
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    handler = _StderrHandler()  # stderr, as basicConfig did
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in CAPPED_AT_INFO:  # raised, never lowered: SQLAlchemy sets itself to WARNING
        library = logging.getLogger(name)
        own = _LIBRARY_LEVELS.setdefault(name, library.level)  # as the library left it
        library.setLevel(max(numeric, logging.INFO, own))
    adopt_library_loggers()
    # bookkeeping, not events: "Adding job tentatively", "setup plugin ..."
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        processors=[
            structlog.contextvars.merge_contextvars,
            add_trace_context,  # the current span's trace id (a delivery, a use case)
            structlog.processors.add_log_level,
            stamp,
            *tail,  # exception rendering, then the scrubber (issue 6), tracebacks included
            renderer,
        ])


def adopt_library_loggers(names: tuple[str, ...] = SELF_HANDLING) -> None:
    """Route the loggers a library configured for itself back through the root handler (so
    its lines are JSON and scrubbed like every other): drop their own handlers, let them
    propagate, and let them inherit the level. Call after importing such a library."""
    for name in names:
        if name not in logging.Logger.manager.loggerDict:
            continue  # never imported: nothing to undo
        library = logging.getLogger(name)
        if not library.handlers and library.propagate:
            continue
        for own in list(library.handlers):
            library.removeHandler(own)
        library.propagate = True
        library.setLevel(logging.NOTSET)

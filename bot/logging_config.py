"""Structured logging: one JSON object per line (``LOG_FORMAT=json``), or readable console lines."""

from __future__ import annotations

import logging

import structlog

from domain.governance.scrubber import scrub_log_event


def configure(level: str = "INFO", fmt: str = "json") -> None:
    logging.basicConfig(level=level.upper(), format="%(message)s")
    # bookkeeping, not events: "Adding job tentatively", "setup plugin ..."
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    renderer = (structlog.processors.JSONRenderer() if fmt == "json"
                else structlog.dev.ConsoleRenderer())
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # the exception itself, not ``"exc_info": true``: JSON gets a structured traceback
            # (frames without their local variables: those may hold tokens or message texts)
            (structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False))
             if fmt == "json" else structlog.processors.format_exc_info),
            scrub_log_event,  # PII and secrets never reach a log line (issue 6), tracebacks included
            renderer,
        ])

"""Logging entry point used by the CLI; delegates to ``bot.logging_setup`` when present."""

from __future__ import annotations

import logging

import structlog


def configure(level: str = "INFO", fmt: str = "json") -> None:
    try:
        from bot.logging_setup import configure_logging
    except ModuleNotFoundError:
        logging.basicConfig(level=level.upper(), format="%(message)s")
        renderer = (structlog.processors.JSONRenderer() if fmt == "json"
                    else structlog.dev.ConsoleRenderer())
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelName(level.upper())), processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ])
        return
    configure_logging(level, fmt)

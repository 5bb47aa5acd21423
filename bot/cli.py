"""The ``incident-bot`` command line.

Feature modules (``bot/cli_*.py``) each expose ``register(subparsers)`` which adds their
sub-commands with ``set_defaults(func=...)``; ``func(args) -> int`` is the exit code.

A command's results go to stdout and its log lines (audit events included) to stderr, so
``incident-bot models list | grep ...`` or ``drift check --format json | jq`` see only results.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import socket
import sys
from collections.abc import Sequence

import structlog
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError

from bot.settings import Settings, describe
from storage.db import DatabaseUrlError, failure_reason, safe_url

FEATURE_MODULES = (
    "bot.cli_core",
    "bot.cli_policy",
    "bot.cli_drift",
    "bot.cli_runbooks",
    "bot.cli_iac",
    "bot.cli_audit",
    "bot.cli_check",
    "bot.cli_outbox",
)


def version() -> str:
    try:
        return importlib.metadata.version("incident-bot")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree never installed
        return "0+unknown"


def _stderr_logger(*_args: object) -> structlog.PrintLogger:
    """structlog's printer, on the stderr of the moment (a test may have swapped it)."""
    return structlog.PrintLogger(sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="incident-bot", description="ChatOps bot for ML incident response."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in FEATURE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # not written yet
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its log lines go to stderr (results alone on stdout)."""
    previous = structlog.get_config()["logger_factory"]
    structlog.configure(logger_factory=_stderr_logger)
    try:
        return _main(argv)
    finally:  # in-process callers (tests) get their logging back as it was
        structlog.configure(logger_factory=previous)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except DatabaseUrlError as exc:
        print(f"incident-bot: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:  # a bad setting: one line, not a pydantic traceback
        print(f"incident-bot: invalid configuration: {describe(exc)}", file=sys.stderr)
        return 2
    except (ConnectionError, socket.gaierror, TimeoutError, DBAPIError) as exc:
        if isinstance(exc, DBAPIError) and exc.statement is not None and not isinstance(
                exc, OperationalError):
            raise  # a statement failed on a live connection: a bug, to be seen whole
        print(f"incident-bot: cannot reach the database at {safe_url(Settings().database_url)}: "
              f"{failure_reason(exc)}. Check DATABASE_URL and that the server is up.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

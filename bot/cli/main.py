"""The ``incident-bot`` command line.

Each sub-command group is a module of :mod:`bot.cli` listed in :data:`COMMAND_MODULES`; each
exposes ``register(subparsers)`` which adds its sub-commands with ``set_defaults(func=...)``;
``func(args) -> int`` is the exit code.

A command's results go to stdout and its log lines (audit events included) to stderr, so
``incident-bot models list | grep ...`` or ``drift check --format json | jq`` see only results.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import socket
import sys
from collections.abc import Sequence

import structlog
from pydantic import ValidationError
from pydantic_settings import SettingsError

from bot.cli import (  # users, keys, webhooks: the platform API (issue 17)
    audit,
    check,
    core,
    drift,
    iac,
    keys,
    outbox,
    policy,
    report,
    runbooks,
    users,
    webhooks,
)
from bot.cli.output import colour_enabled
from bot.settings_problems import load_settings
from storage.db import DatabaseError, DatabaseUrlError, failure_reason, safe_url, unreachable

# the sub-command groups, in the order `incident-bot --help` lists them
COMMAND_MODULES = (core, policy, drift, runbooks, iac, audit, check, outbox, report,
                   users, keys, webhooks)


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
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def _cli_processors() -> list[structlog.typing.Processor]:
    """structlog's default chain, coloured only when stderr is a terminal and NO_COLOR unset
    (structlog's own default decides on stdout, where the results go)."""
    return [structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
            structlog.processors.StackInfoRenderer(), structlog.dev.set_exc_info,
            structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False),
            structlog.dev.ConsoleRenderer(colors=colour_enabled(sys.stderr))]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its log lines go to stderr (results alone on stdout)."""
    configured = structlog.is_configured()
    previous = structlog.get_config()
    if configured:  # the caller's chain (a test's capture, `serve`'s JSON), printed to stderr
        structlog.configure(logger_factory=_stderr_logger)
    else:
        structlog.configure(logger_factory=_stderr_logger, processors=_cli_processors())
    try:
        return _main(argv)
    finally:  # in-process callers (tests) get their logging back as it was
        if configured:
            structlog.configure(**previous)
        else:
            structlog.reset_defaults()


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
    except (ValidationError, SettingsError):  # bad settings: one line each, not a traceback
        problems = load_settings()[1]
        if not problems:
            raise  # not the settings: a bug, to be seen whole
        for problem in problems:
            print(f"incident-bot: invalid configuration: {problem}", file=sys.stderr)
        return 2
    except (ConnectionError, socket.gaierror, TimeoutError, DatabaseError) as exc:
        if not unreachable(exc):
            raise  # a statement failed on a live connection: a bug, to be seen whole
        print(f"incident-bot: cannot reach the database at {safe_url(load_settings()[0].database_url)}: "
              f"{failure_reason(exc)}. Check DATABASE_URL and that the server is up.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

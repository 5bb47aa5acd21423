"""The ``incident-bot`` command line.

Feature modules (``bot/cli_*.py``) each expose ``register(subparsers)`` which adds their
sub-commands with ``set_defaults(func=...)``; ``func(args) -> int`` is the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

FEATURE_MODULES = (
    "bot.cli_core",
    "bot.cli_policy",
    "bot.cli_drift",
    "bot.cli_runbooks",
    "bot.cli_iac",
    "bot.cli_audit",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="incident-bot", description="ChatOps bot for ML incident response."
    )
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
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

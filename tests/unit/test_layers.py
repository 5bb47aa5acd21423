"""What each layer may import (docs/architecture.md), checked on the source tree.

``domain/`` holds the rules and use cases: no I/O, no SQL, no Slack. ``handlers/`` are thin ways
in: they never touch SQL either. Storage is reached through ports declared in ``domain/``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOT_IN_DOMAIN = ("bot", "handlers", "storage", "scheduler", "runbooks", "sqlalchemy", "slack_bolt",
                 "slack_sdk", "aiohttp", "apscheduler")
NOT_IN_HANDLERS = ("sqlalchemy",)
BLOCK_KIT = re.compile(r'"type":\s*"(button|section|actions|header|divider|input|modal)"'
                       r'|action_id|callback_id')


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def refused(path: Path, prefixes: tuple[str, ...]) -> list[str]:
    return sorted(n for n in imports(path) if any(n == p or n.startswith(p + ".") for p in prefixes))


@pytest.mark.parametrize("path", sorted((ROOT / "domain").rglob("*.py")), ids=lambda p: p.name)
def test_domain_imports_no_adapter_no_sql_and_no_slack(path: Path) -> None:
    assert refused(path, NOT_IN_DOMAIN) == []


@pytest.mark.parametrize("path", sorted((ROOT / "domain").rglob("*.py")), ids=lambda p: p.name)
def test_domain_builds_no_block_kit_and_owns_no_action_ids(path: Path) -> None:
    assert BLOCK_KIT.findall(path.read_text()) == []


@pytest.mark.parametrize("path", sorted((ROOT / "handlers").rglob("*.py")), ids=lambda p: p.name)
def test_handlers_import_no_sql(path: Path) -> None:
    assert refused(path, NOT_IN_HANDLERS) == []

"""Finding the external validators (promtool, hadolint) the deploy tests run."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def tool(name: str, how: str) -> str:
    """The path of ``name``: next to this Python (a dev-extra wheel) or on PATH. Without it the
    test skips with ``how`` to get it, except under CI=true, where a skipped check is a hole."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.is_file() else shutil.which(name)
    if found:
        return found
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{name} is required under CI=true: {how}")
    pytest.skip(f"{name} not found: {how}")

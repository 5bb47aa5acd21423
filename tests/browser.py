"""Debian's chromium for the browser tests (status page, HTML report), driven by playwright."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# screenshots are kept here when REPORT_ARTIFACTS is set (gitignored), else in tmp_path
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def need_chromium() -> None:
    """Skip without chromium, with the reason; in CI (CI=true) its absence is a failure."""
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"chromium must be installed in CI at {CHROMIUM}")
    pytest.skip(f"no chromium at {CHROMIUM}; set CHROMIUM")

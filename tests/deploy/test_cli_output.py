"""`incident-bot --version`, and results on stdout with log lines on stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from bot.cli.main import main
from tests.deploy.tools import ROOT


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"incident-bot {version('incident-bot')}"


def test_results_on_stdout_log_lines_on_stderr(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db"}
    env.pop("SLACK_BOT_TOKEN", None)
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "models", "add", "credit-risk-v3", "--version", "3.1.0",
         "--stage", "production", "--team", "risk-ml"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "registered credit-risk-v3 v3.1.0 (production, team risk-ml)\n"
    assert "model.registered" in result.stderr and "log_type=audit" in result.stderr  # the audit line


def test_in_process_callers_get_their_logging_back(capsys: pytest.CaptureFixture[str]) -> None:
    """main() sends log lines to stderr only while it runs."""
    import structlog

    before = structlog.get_config()["logger_factory"]
    with pytest.raises(SystemExit):
        main(["--version"])
    assert structlog.get_config()["logger_factory"] is before

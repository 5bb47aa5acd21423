"""JSON logs carry the exception that was logged: type, scrubbed message and frames."""

from __future__ import annotations

import json

import pytest
import structlog

from bot.logging_config import configure


@pytest.fixture
def json_logs() -> object:
    saved = structlog.get_config()
    configure("INFO", "json")
    yield
    structlog.configure(**saved)


def fail(token: str = "xoxb-secret-token") -> None:
    raise ValueError("alice@example.com could not be paged")


def test_an_exception_is_logged_with_its_traceback_scrubbed_and_without_locals(
        json_logs: object, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        fail()
    except ValueError:
        structlog.get_logger("t").exception("command.failed", verb="declare")
    [line] = capsys.readouterr().out.splitlines()
    event = json.loads(line)
    assert event["event"] == "command.failed" and event["level"] == "error"
    [exc] = event["exception"]
    assert exc["exc_type"] == "ValueError"
    assert exc["exc_value"] == "[email] could not be paged"  # the scrubber sees tracebacks too
    assert [f["name"] for f in exc["frames"]][-1] == "fail"
    assert "xoxb-secret-token" not in line and all("locals" not in f for f in exc["frames"])

"""Third-party log lines are JSON and scrubbed, and the chatty libraries stay at INFO (issue 14)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from bot.logging_config import CAPPED_AT_INFO, adopt_library_loggers, configure


@pytest.fixture
def restore_logging() -> Iterator[None]:
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {n: logging.getLogger(n).level for n in (*CAPPED_AT_INFO, "alembic")}
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)


def test_stdlib_lines_are_json_scrubbed_and_capped(
        restore_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    configure("DEBUG", "json")
    logging.getLogger("alembic").setLevel(logging.INFO)  # as a migration at start-up logs
    body = "{'channel': 'C1', 'text': 'told jane.doe@example.com password=hunter2'}"
    logging.getLogger("slack_sdk.web.async_base_client").debug("Sending a request - body: %s", body)
    logging.getLogger("aiosqlite").debug("executing INSERT ... jane.doe@example.com")
    logging.getLogger("sqlalchemy.engine.Engine").debug("[raw sql] ('jane.doe@example.com',)")
    logging.getLogger("slack_sdk.http_retry").info("Retrying for jane.doe@example.com token=xoxb-1-2")
    logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
    logging.getLogger("bot.anything").debug("debug of our own %s", "+1 415 555 0100")
    try:
        raise ValueError("paging jane.doe@example.com failed")
    except ValueError:
        logging.getLogger("aiohttp.server").exception("Error handling request")
    lines = capsys.readouterr().err.splitlines()
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    assert [e["event"] for e in events] == [
        "Retrying for [email] token=[secret]", "Context impl SQLiteImpl.",
        "debug of our own [phone]", "Error handling request"]
    assert events[0]["logger"] == "slack_sdk.http_retry" and events[0]["level"] == "info"
    assert events[-1]["exception"][0]["exc_value"] == "paging [email] failed"
    assert "jane.doe" not in "\n".join(lines) and "hunter2" not in "\n".join(lines)


def test_the_cap_never_lowers_a_library_level(restore_logging: None) -> None:
    """SQLAlchemy holds itself at WARNING (no SQL in the log): LOG_LEVEL=DEBUG must not open it."""
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
    configure("DEBUG", "json")
    assert logging.getLogger("sqlalchemy").level == logging.WARNING
    assert logging.getLogger("slack_sdk").level == logging.INFO


def test_a_library_that_handles_its_own_logger_is_routed_back_through_the_scrubber(
        restore_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    """``import mlflow`` gives "mlflow" and "alembic" a stream handler of their own and stops
    them propagating: their lines would be neither JSON nor scrubbed."""
    import mlflow  # noqa: F401  (the real library, as the registry adapter imports it)

    configure("INFO", "json")
    logging.getLogger("mlflow").warning("registry at jane.doe@example.com is slow")
    logging.getLogger("alembic.runtime.migration").warning("Context impl SQLiteImpl.")
    late = logging.getLogger("mlflow.tracking")  # a library configuring itself after configure()
    logging.getLogger("mlflow").addHandler(logging.StreamHandler())
    logging.getLogger("mlflow").propagate = False
    adopt_library_loggers()
    late.warning("token=xoxb-1-2 refused")
    lines = capsys.readouterr().err.splitlines()
    events = [json.loads(line) for line in lines]  # every line is one JSON object, once
    assert [e["event"] for e in events] == [
        "registry at [email] is slow", "Context impl SQLiteImpl.", "token=[secret] refused"]

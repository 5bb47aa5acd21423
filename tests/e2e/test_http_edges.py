"""The HTTP edge answers bad requests with a 4xx and a reason, never a 5xx or a traceback."""

from __future__ import annotations

from typing import Any

from bot.local.stack import LocalStack
from bot.web import serve_http


async def test_a_timestamp_that_is_not_a_number_is_refused_as_unsigned(database_url: str) -> None:
    async with LocalStack(database_url) as stack:
        session = await stack.driver._http()
        for timestamp in ("abc", "9" * 5000, "", "1e9"):
            async with session.post(stack.driver.url, data=b"command=%2Fincident&text=help",
                                    headers={"X-Slack-Request-Timestamp": timestamp,
                                             "X-Slack-Signature": "v0=00",
                                             "Content-Type": "application/x-www-form-urlencoded"}
                                    ) as answer:
                assert answer.status == 401, timestamp
                assert "signature" in (await answer.json())["error"]


async def test_without_a_signing_secret_http_mode_refuses_and_the_bot_still_serves(
        database_url: str) -> None:
    """Socket Mode needs no signing secret: the bot starts, /slack/events says what is missing."""
    async with LocalStack(database_url) as stack:
        stack.container.settings.slack_signing_secret = None
        runner = await serve_http(stack.container, "127.0.0.1", 0)
        try:
            host, port = runner.addresses[0][:2]
            session = await stack.driver._http()
            async with session.post(f"http://{host}:{port}/slack/events", data=b"x") as answer:
                assert answer.status == 401
                assert "SLACK_SIGNING_SECRET" in (await answer.json())["error"]
            async with session.get(f"http://{host}:{port}/health") as health:
                assert health.status == 200
        finally:
            await runner.cleanup()


async def test_ready_names_no_database_host_when_it_is_down(database_url: str) -> None:
    async with LocalStack(database_url) as stack:
        engine = stack.container.engine

        def down(*_: Any, **__: Any) -> Any:
            raise OSError("connect to 10.1.2.3:5432 refused for user secret_user")

        stack.container.engine = type("Down", (), {"connect": down})()  # type: ignore[assignment]
        try:
            session = await stack.driver._http()
            async with session.get(stack.url + "/ready") as ready:
                body = await ready.text()
            assert ready.status == 503 and "unreachable" in body
            assert "10.1.2.3" not in body and "secret_user" not in body
        finally:
            stack.container.engine = engine

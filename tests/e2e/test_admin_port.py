"""ADMIN_PORT (issue 16): /metrics, /ready and /health on a listener of their own, for the
cluster only; the public listener then answers Slack, the webhooks and /health, not /metrics."""

from __future__ import annotations

import aiohttp
import pytest
from pydantic import ValidationError

from bot.app import build
from bot.local.stack import LocalStack
from bot.settings import Settings, describe

ADMIN = {"admin_port": 0, "host": "127.0.0.1"}  # 0: any free port


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, str, str | None]:
    async with session.get(url) as answer:
        return answer.status, await answer.text(), answer.headers.get("X-Trace-Id")


async def test_the_admin_port_serves_metrics_and_probes_and_the_public_one_no_metrics(
        database_url: str) -> None:
    async with LocalStack(database_url, settings_overrides=ADMIN) as stack:
        assert stack.container.admin is not None
        host, port = stack.container.admin.addresses[0][:2]
        admin = f"http://{host}:{port}"
        assert admin != stack.url
        session = await stack.driver._http()

        status, body, trace_id = await get(session, admin + "/metrics")
        assert status == 200 and trace_id
        assert "incident_bot_outbox_depth" in body and "process_resident_memory_bytes" in body
        assert "incident_bot_database_up 1.0" in body
        assert (await get(session, admin + "/ready"))[0] == 200
        assert (await get(session, admin + "/health"))[0] == 200
        assert (await get(session, admin + "/slack/events"))[0] == 404  # not Slack's way in

        status, _, trace_id = await get(session, stack.url + "/metrics")
        assert status == 404 and trace_id
        assert (await get(session, stack.url + "/health"))[0] == 200  # load balancers
        status, _ = await stack.driver.slash_command("help")
        assert status == 200
        await stack.settle()
    assert stack.container.admin is None  # closed with the bot


async def test_without_admin_port_everything_is_on_the_public_port(database_url: str) -> None:
    async with LocalStack(database_url) as stack:
        assert stack.container.admin is None
        session = await stack.driver._http()
        status, body, _ = await get(session, stack.url + "/metrics")
        assert status == 200 and "incident_bot_outbox_depth" in body
        assert (await get(session, stack.url + "/ready"))[0] == 200


async def test_a_one_shot_command_opens_no_admin_listener(database_url: str) -> None:
    """The CLI builds the same container beside a running server: it must not take the port."""
    async with LocalStack(database_url, settings_overrides=ADMIN) as stack:
        cli = build(stack.settings)
        await cli.start(serving=False)
        try:
            assert cli.admin is None
        finally:
            await cli.stop()


def test_an_admin_port_equal_to_the_public_one_is_a_one_line_setting_error() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, port=3000, admin_port=3000)
    assert describe(refused.value) == ("ADMIN_PORT=3000: Value error, must differ from PORT "
                                       "(the admin listener is a second one)")

"""The operator's side of the API: `incident-bot users add`, `keys create`, `webhooks add`
write what the running bot then honours (a login, a key, a subscriber), audited."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from bot.cli.main import main
from tests.databases import sqlite_url
from tests.integration.api_support import Api, api_stack, require_redis, store

pytestmark = pytest.mark.asyncio


async def cli(argv: list[str]) -> int:
    """The command as an operator runs it: its own process's event loop and engine."""
    return await asyncio.to_thread(main, argv)


async def test_users_keys_and_webhooks_made_on_the_command_line_work_over_http(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    await require_redis()
    url = sqlite_url(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    async with api_stack(url) as stack:
        monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password-123\n"))
        assert await cli(["users", "add", "Carol", "--role", "incident_commander",
                     "--password-stdin"]) == 0
        assert await cli(["keys", "create", "airflow", "--scope", "incidents:write"]) == 0
        assert await cli(["webhooks", "add", "https://hooks.example.com/inc",
                     "--events", "incident.resolved,incident.created"]) == 0
        out = capsys.readouterr().out
        key = next(line for line in out.splitlines() if line.startswith("ibk_"))
        assert "signing secret (shown once):" in out
        assert await cli(["webhooks", "add", "ftp://nope", "--events", "incident.*"]) == 2
        assert await cli(["webhooks", "add", "https://x.test", "--events", "incident.deleted"]) == 2
        assert "matches no event" in capsys.readouterr().err

        api = Api(stack)
        try:
            token = (await api.login("carol", "a-long-password-123"))["access_token"]
            assert (await api.call("GET", "/incidents", token))[0] == 200
            status, body, _ = await api.call("POST", "/incidents", key, json={
                "title": "From Airflow", "severity": "p4", "model": "fraud-detector"})
            assert status == 201 and body["created_by"] == "key:airflow"
            assert await cli(["keys", "revoke", "airflow"]) == 0
            status, body, _ = await api.call("GET", "/incidents", key)
            assert status == 401 and body["detail"] == "API key revoked"
        finally:
            await api.close()
        subs = await store(stack).subscribers()
        assert [s.events for s in subs] == [["incident.resolved", "incident.created"]]
        async with stack.container.uow_factory() as uow:
            actions = {a.action for a in await uow.audit.list() if a.actor == "cli"}
        assert {"api_user.created", "api_key.created", "api_key.revoked",
                "webhook.subscribed"} <= actions

"""Two `incident-bot serve` processes on one PostgreSQL, as the scale-out section promises:
Slack requests go to either, both dispatch the outbox and both tick the SLO clocks, and every
message still reaches Slack exactly once. Real OS processes, real time (the fast policy's
seconds), signed HTTP requests, and SIGTERM at the end."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.local.slack_driver import SlackDriver
from bot.local.slack_standin import SlackStandIn
from bot.local.stack import BOT_TOKEN, SIGNING_SECRET
from tests.databases import create_pg_database, drop_pg_database

ROOT = Path(__file__).resolve().parents[2]
INCIDENTS = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    url = await create_pg_database()
    try:
        yield url
    finally:
        await drop_pg_database(url)


async def wait_healthy(url: str, proc: asyncio.subprocess.Process, within: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    async with aiohttp.ClientSession() as session:
        while asyncio.get_running_loop().time() < deadline:
            assert proc.returncode is None, f"replica exited with {proc.returncode}"
            try:
                async with session.get(f"{url}/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"{url} not ready in {within}s")


@pytest.mark.postgres
async def test_two_replicas_deliver_every_message_and_clock_once(pg_url: str, tmp_path: Path) -> None:
    async with SlackStandIn() as slack:
        env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
               "SLACK_API_URL": slack.url, "DATABASE_URL": pg_url, "LOG_FORMAT": "json",
               "POLICY_FILE": str(ROOT / "policies" / "fast-demo.yml"), "TICK_SECONDS": "0.2",
               "OUTBOX_POLL_SECONDS": "0.1"}
        ports = [free_port(), free_port()]
        logs = [tmp_path / f"replica-{i}.log" for i in range(2)]
        replicas = [await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "serve", "--port", str(port), cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT) for port in ports]
        output = [asyncio.create_task(r.stdout.read()) for r in replicas]  # type: ignore[union-attr]
        try:
            urls = [f"http://127.0.0.1:{p}" for p in ports]
            await asyncio.gather(*(wait_healthy(u, r) for u, r in zip(urls, replicas, strict=True)))
            models = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "models", "add", "credit-risk-v3", "--version",
                "3.1.0", "--team", "risk-ml", cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL)
            assert await asyncio.wait_for(models.wait(), 60) == 0
            drivers = [SlackDriver(u, SIGNING_SECRET, slack=slack) for u in urls]
            answers = await asyncio.gather(*(
                drivers[i % 2].slash_command(f"declare P1 credit-risk-v3 Replica case {i}")
                for i in range(INCIDENTS)))
            assert [code for code, _ in answers] == [200] * INCIDENTS

            def channels() -> list[str]:
                return [c["id"] for c in slack.channels if c["name"].startswith("inc-")]

            def breached(channel: str) -> list[str]:
                return [m["text"] for m in slack.messages(channel)
                        if m["text"].startswith((":rotating_light:", ":warning:"))]

            # SEV-1 under the fast policy: not acknowledged and no commander after 5 s
            try:
                await slack.wait_until(lambda: len(channels()) >= INCIDENTS
                                       and all(len(breached(c)) >= 2 for c in channels()), 30)
            except TimeoutError:
                state = {slack.channel(c)["name"]: breached(c) for c in channels()}  # type: ignore[index]
                raise AssertionError(f"{len(state)} incident channels; breach messages: {state}") from None
            await asyncio.sleep(1.5)  # a few more ticks on both replicas: nothing is repeated
            announcements = [m for m in slack.top_level("ml-incidents") if "Replica case" in m["text"]]
            numbers = sorted(int(m["text"].split("INC-")[1].split()[0]) for m in announcements)
            assert numbers == list(range(1, INCIDENTS + 1))  # one announcement each, no gaps
            names = sorted(c["name"] for c in slack.channels if c["name"].startswith("inc-"))
            assert len(names) == INCIDENTS, names  # one channel each (a repeat would get "-2")
            for channel in channels():
                texts = breached(channel)
                assert len(texts) == 2, texts
                assert sum("not acknowledged" in t for t in texts) == 1, texts
                assert sum("no Incident Commander" in t for t in texts) == 1, texts
            for driver in drivers:
                await driver.close()
        finally:
            for replica in replicas:
                if replica.returncode is None:
                    replica.send_signal(signal.SIGTERM)
            codes = [await asyncio.wait_for(replica.wait(), 30) for replica in replicas]
            for log, out in zip(logs, output, strict=True):
                log.write_bytes(await out)
        assert codes == [0, 0], [log.read_text()[-2000:] for log in logs]

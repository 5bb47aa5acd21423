"""Slash-command and button ack latency under 50 concurrent requests, bot vs a bare Bolt app.

Each app runs in its own process (so neither shares an event loop with the load generator),
on loopback, each with its own Slack stand-in for the Web API calls it makes. The load
generator sends the same correctly signed requests to both, alternating, and times each
HTTP answer. The bare app only acks; the bot acks and then does its real work (SQLite,
outbox, Slack calls), which competes with the next requests for its event loop, so the ratio
is what the bot's work costs the ack. The bot's replies to ``response_url`` go to a fourth
process (Slack's servers are remote), so the load generator's clock never waits on serving
them. Logs go to /dev/null in JSON as in production.

    .venv/bin/python benchmarks/ack_latency.py [--rounds 20] [--concurrency 50]

Target (issue 2): bot p99 under 100 ms and under 2x the bare app's p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import statistics
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import build, serve_http
from bot.local_stack import ADMIN, BOT_TOKEN, SIGNING_SECRET
from bot.logging_config import configure
from bot.settings import Settings
from bot.slack_driver import SlackDriver
from bot.slack_standin import SlackStandIn
from domain.model import ModelStage, Severity
from domain.services import DeclareIncident

Send = Callable[[SlackDriver, int], Awaitable[Any]]


def bare_bolt_app(api_url: str) -> AsyncApp:
    """The floor: a Bolt app whose listeners only ack."""
    app = AsyncApp(token=BOT_TOKEN, signing_secret=SIGNING_SECRET,
                   client=AsyncWebClient(token=BOT_TOKEN, base_url=api_url))

    @app.command("/incident")
    async def command(ack: Any) -> None:
        await ack()

    @app.action(re.compile(".*"))
    async def action(ack: Any) -> None:
        await ack()

    return app


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(driver: SlackDriver, send: Send, rounds: int, concurrency: int) -> list[float]:
    """Latencies (ms) of ``rounds`` bursts of ``concurrency`` simultaneous requests."""
    latencies: list[float] = []
    for r in range(rounds):
        first = len(driver.sent)
        results = await asyncio.gather(*(send(driver, r * concurrency + i) for i in range(concurrency)))
        bad = [code for code, _ in results if code != 200]
        if bad:
            raise SystemExit(f"non-200 answers: {bad[:5]}")
        latencies += [s.elapsed * 1000 for s in driver.sent[first:]]
    return latencies


class RemoteResponses(SlackStandIn):
    """Mints ``response_url``s that a sink in another process answers, as Slack's servers do."""

    sink = ""

    def new_response_url(self, **_: Any) -> str:
        return f"{self.sink}/response/{secrets.token_hex(12)}"


async def serve_sink(ready: Path) -> None:
    """Child process: answers the bot's ``response_url`` posts with Slack's ``ok``."""

    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="ok", content_type="text/html")

    app = web.Application()
    app.router.add_post("/response/{response_id}", accept)
    runner, url = await serve(app)
    ready.write_text(json.dumps({"url": url}))
    await asyncio.Event().wait()


async def serve_slack(ready: Path) -> None:
    """Child process: the Slack stand-in the bot calls (Slack is remote in production)."""
    async with SlackStandIn() as slack:
        ready.write_text(json.dumps({"url": slack.url}))
        await asyncio.Event().wait()


async def serve_bot(ready: Path, slack_url: str) -> None:
    """Child process: the whole bot, Bolt over HTTP, on SQLite, with one anchor incident."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
                            slack_api_url=slack_url, database_url=f"sqlite+aiosqlite:///{tmp}/bench.db")
        container = build(settings)
        await container.start()
        runner = await serve_http(container, "127.0.0.1", 0)
        host, port = runner.addresses[0][:2]
        for name in ("credit-risk-v3", "fraud-detector"):
            await container.service.register_model(name, "1.0.0", ModelStage.PRODUCTION, "ml", ADMIN)
        incident = await container.service.declare(
            DeclareIncident("benchmark anchor", Severity.P2, "credit-risk-v3"), ADMIN)
        container.freeze_heap()  # as `incident-bot serve` does once it is up
        if os.environ.get("BENCH_SLOW_STEPS"):  # diagnosis: log event-loop steps over 15 ms
            import logging
            loop = asyncio.get_running_loop()
            loop.set_debug(True)
            loop.slow_callback_duration = 0.015
            asyncio_log = logging.getLogger("asyncio")
            asyncio_log.addHandler(logging.FileHandler(os.environ["BENCH_SLOW_STEPS"]))
            asyncio_log.propagate = False
        ready.write_text(json.dumps({"url": f"http://{host}:{port}", "incident_id": str(incident.id)}))
        await asyncio.Event().wait()


async def serve_bare(ready: Path) -> None:
    """Child process: the bare Bolt app, acking only."""
    async with SlackStandIn() as slack:
        runner, url = await serve(bare_bolt_app(slack.url).web_app(path="/slack/events"))
        ready.write_text(json.dumps({"url": url, "incident_id": str(uuid.uuid4())}))
        await asyncio.Event().wait()


async def start_child(kind: str, tmp: str, *extra: str) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    ready = Path(tmp) / f"{kind}.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", kind, "--ready", str(ready), *extra,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "LOG_LEVEL": "INFO", "LOG_FORMAT": "json"})
    for _ in range(600):
        if ready.exists() and ready.read_text():
            return proc, json.loads(ready.read_text())
        await asyncio.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{kind} server did not start")


async def run(rounds: int, concurrency: int, gap: float) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        slack_proc, slack_info = await start_child("slack", tmp)
        bot_proc, bot_info = await start_child("bot", tmp, "--slack-url", slack_info["url"])
        bare_proc, bare_info = await start_child("bare", tmp)
        sink_proc, sink_info = await start_child("sink", tmp)
        try:
            async with RemoteResponses(seed_users=False) as receiver:  # mints the response_urls
                receiver.sink = sink_info["url"]
                rows = await compare(receiver, bot_info, bare_info, rounds, concurrency, gap)
        finally:
            for proc in (bot_proc, bare_proc, slack_proc, sink_proc):
                proc.terminate()
                await proc.wait()
    print(f"ack latency, {concurrency} concurrent requests x {rounds} rounds per row, loopback, ms")
    print(f"{'request':22} {'bare p50':>9} {'bare p99':>9} {'bot p50':>9} {'bot p99':>9} "
          f"{'p99 ratio':>9}  verdict")
    ok = True
    for name, base, mine in rows:
        b50, b99 = statistics.median(base), percentile(base, 0.99)
        m50, m99 = statistics.median(mine), percentile(mine, 0.99)
        ratio = m99 / b99 if b99 else float("inf")
        good = m99 < 100 and ratio < 2
        ok &= good
        print(f"{name:22} {b50:9.1f} {b99:9.1f} {m50:9.1f} {m99:9.1f} {ratio:8.2f}x  "
              f"{'ok' if good else 'MISSED (p99 < 100 ms and < 2x bare)'}")
    return 0 if ok else 1


async def compare(receiver: SlackStandIn, bot_info: dict[str, str], bare_info: dict[str, str],
                  rounds: int, concurrency: int, gap: float) -> list[tuple[str, list[float], list[float]]]:
    bot = SlackDriver(bot_info["url"], SIGNING_SECRET, slack=receiver)
    bare = SlackDriver(bare_info["url"], SIGNING_SECRET, slack=receiver)
    channel = receiver.channel_id("ml-incidents")

    async def declare(driver: SlackDriver, i: int) -> Any:
        return await driver.slash_command(f"declare P3 fraud-detector bench incident {i}",
                                          user_id="U0DECLARER")

    async def status(driver: SlackDriver, i: int) -> Any:
        return await driver.slash_command("status 1", user_id="U0RESPOND")

    def click_for(info: dict[str, str]) -> Send:
        async def click(driver: SlackDriver, i: int) -> Any:
            return await driver.block_action("incident_ack", value=info["incident_id"],
                                             message_ts="1700000000.000100", channel_id=channel,
                                             user_id="U0RESPOND")
        return click

    rows = []
    for name, bot_send, bare_send in (("slash: declare", declare, declare),
                                      ("slash: status", status, status),
                                      ("button: acknowledge", click_for(bot_info), click_for(bare_info))):
        await measure(bare, bare_send, 1, 5)  # warm-up
        await measure(bot, bot_send, 1, 5)
        base: list[float] = []
        mine: list[float] = []
        for _ in range(rounds):  # alternate so both see the same machine state
            base += await measure(bare, bare_send, 1, concurrency)
            mine += await measure(bot, bot_send, 1, concurrency)
            await asyncio.sleep(gap)
        rows.append((name, base, mine))
        await asyncio.sleep(2)  # let the bot finish the burst's Slack work before the next row
    await bot.close()
    await bare.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--gap", type=float, default=0.0,
                        help="seconds between bursts (0: the next burst meets the last one's work)")
    parser.add_argument("--serve", choices=("bot", "bare", "slack", "sink"), help=argparse.SUPPRESS)
    parser.add_argument("--ready", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--slack-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        configure("INFO", "json")
        if args.serve == "bot":
            asyncio.run(serve_bot(args.ready, args.slack_url))
        else:
            serve_child = {"bare": serve_bare, "slack": serve_slack, "sink": serve_sink}[args.serve]
            asyncio.run(serve_child(args.ready))
        return 0
    return asyncio.run(run(args.rounds, args.concurrency, args.gap))


if __name__ == "__main__":
    raise SystemExit(main())

"""Platform API latency under 50 concurrent requests (issue 17): authenticated
``GET /incidents`` and ``POST /incidents`` (declare) beside ``/health``, in the same run.

The bot runs in a child process (the real app, its Slack stand-in, SQLite or the given
database, Redis for the token denylist when reachable), so the load generator never shares its
event loop. Each round sends ``--concurrency`` requests of one kind at once; kinds alternate
round by round. Every authenticated request verifies the JWT and asks Redis's denylist.

    .venv/bin/python benchmarks/api_load.py [--rounds 10] [--concurrency 50] [--database-url URL]

Prints p50 / p99 / max per endpoint and the ratio of each to /health's p50.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


async def serve(database_url: str, info_file: str) -> None:
    """The child: a bot with the API on; prints its URL and a token, runs until stdin closes."""
    sys.path.insert(0, str(ROOT))
    from bot.local.stack import LocalStack
    from bot.logging_config import configure
    from handlers.api.tokens import hash_password
    from storage.api_repositories import ApiStore

    configure("WARNING", "json")
    redis_url: str | None = REDIS_URL
    try:
        import redis.asyncio as redis

        client = redis.from_url(REDIS_URL, socket_connect_timeout=1)
        await client.ping()  # type: ignore[misc]
        await client.aclose()
    except Exception:
        redis_url = None
    jwt_secret = "benchmark-secret-benchmark-secret-0123456789"  # pragma: allowlist secret
    async with LocalStack(database_url, settings_overrides={
            "jwt_secret": jwt_secret, "redis_url": redis_url, "tick_seconds": 0}) as stack:
        store = ApiStore(stack.container.engine, stack.container.outbox_store.write_lock)
        await store.set_user("bench", hash_password("bench-password", rounds=4),
                             ["incident_commander"], stack.container.clock.now())
        async with aiohttp.ClientSession() as http, http.post(
                stack.url + "/auth/token",
                json={"username": "bench", "password": "bench-password"}) as resp:  # pragma: allowlist secret
            token = (await resp.json())["access_token"]
        Path(info_file).write_text(json.dumps({"url": stack.url, "token": token,
                                               "redis": redis_url is not None}))
        Container = type(stack.container)
        Container.freeze_heap()
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def one(http: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str],
              body: Any) -> tuple[float, int]:
    started = time.perf_counter()
    async with http.request(method, url, headers=headers, json=body) as resp:
        await resp.read()
        return time.perf_counter() - started, resp.status


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def load(url: str, token: str, rounds: int, concurrency: int) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {token}"}
    kinds: dict[str, tuple[str, str, dict[str, str], Any]] = {
        "GET /health": ("GET", url + "/health", {}, None),
        "GET /incidents": ("GET", url + "/incidents?limit=50", auth, None),
        "POST /incidents": ("POST", url + "/incidents", auth, {
            "title": "Load test", "severity": "p4", "model": "fraud-detector"}),
    }
    times: dict[str, list[float]] = {k: [] for k in kinds}
    errors: dict[str, int] = {k: 0 for k in kinds}
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as http:
        for method, target, headers, body in kinds.values():  # warm-up
            await one(http, method, target, headers, body)
        for _ in range(rounds):
            for name, (method, target, headers, body) in kinds.items():
                results = await asyncio.gather(*(one(http, method, target, headers, body)
                                                  for _ in range(concurrency)))
                for seconds, status in results:
                    times[name].append(seconds)
                    errors[name] += status >= 400
    return {"times": times, "errors": errors}


async def fresh_postgres() -> str:
    import uuid

    import asyncpg

    name = f"bench_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def drop_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--postgres", action="store_true",
                        help="a fresh database on the local PostgreSQL (postgres@127.0.0.1)")
    parser.add_argument("--serve", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--info", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.info))
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="api-load-"))
    url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    if args.postgres:
        url = asyncio.run(fresh_postgres())
    info_file = workdir / "info.json"
    child = subprocess.Popen([sys.executable, __file__, "--serve", url, "--info", str(info_file)],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    try:
        for _ in range(600):
            if info_file.exists() and info_file.stat().st_size:
                break
            if child.poll() is not None:
                raise SystemExit("the bot did not start")
            time.sleep(0.1)
        info = json.loads(info_file.read_text())
        result = asyncio.run(load(info["url"], info["token"], args.rounds, args.concurrency))
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(timeout=30)
        if args.postgres:
            asyncio.run(drop_postgres(url))
    base = statistics.median(result["times"]["GET /health"])
    print(f"{args.concurrency} concurrent, {args.rounds} rounds each, database "
          f"{url.split(':', 1)[0]}, Redis denylist {'on' if info['redis'] else 'OFF'}")
    print(f"{'endpoint':<18}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'p50/health':>12}{'errors':>8}")
    for name, values in result["times"].items():
        p50 = statistics.median(values)
        print(f"{name:<18}{p50 * 1000:>9.1f}{pct(values, 0.99) * 1000:>9.1f}"
              f"{max(values) * 1000:>9.1f}{p50 / base:>12.1f}{result['errors'][name]:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

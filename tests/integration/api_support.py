"""Shared by the API tests: a running bot with the API on, real Redis, users and keys."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from bot.local.stack import LocalStack
from handlers.api.tokens import create_key, hash_password
from storage.api_repositories import ApiStore

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
JWT_SECRET = "test-jwt-secret-that-is-long-enough-for-hs256"  # pragma: allowlist secret


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def require_redis() -> None:
    import redis.asyncio as redis

    client = redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        await client.ping()
    except Exception as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis must be reachable in CI at {REDIS_URL}: {exc}")
        pytest.skip(f"no Redis at {REDIS_URL} ({exc}); set TEST_REDIS_URL")
    finally:
        await client.aclose()


@asynccontextmanager
async def api_stack(database_url: str, clock: Any = None,
                    **overrides: Any) -> AsyncIterator[LocalStack]:
    settings = {"jwt_secret": JWT_SECRET, "redis_url": REDIS_URL, **overrides}
    async with LocalStack(database_url, clock=clock, settings_overrides=settings) as stack:
        yield stack


def store(stack: LocalStack) -> ApiStore:
    return ApiStore(stack.container.engine, stack.container.outbox_store.write_lock)


async def add_user(stack: LocalStack, name: str, password: str, roles: list[str]) -> None:
    # cost 4: the tests check the scheme, not bcrypt's work factor
    await store(stack).set_user(name, hash_password(password, rounds=4), roles,
                                stack.container.clock.now())


async def add_key(stack: LocalStack, name: str, scopes: list[str],
                  roles: list[str] | None = None) -> str:
    _, whole = await create_key(store(stack), stack.container.clock, name, scopes, roles or [])
    return whole


class Api:
    """A small client for the bot's HTTP API."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.http = aiohttp.ClientSession()

    async def close(self) -> None:
        await self.http.close()

    async def call(self, method: str, path: str, token: str | None = None,
                   json: Any = None, headers: dict[str, str] | None = None,
                   raw: bytes | None = None) -> tuple[int, Any, dict[str, str]]:
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        async with self.http.request(method, self.stack.url + path, json=json, data=raw,
                                     headers=hdrs) as resp:
            text = await resp.text()
            try:
                import json as j
                body: Any = j.loads(text) if text else None
            except ValueError:
                body = text
            return resp.status, body, dict(resp.headers)

    async def login(self, user: str, password: str) -> dict[str, Any]:
        status, body, _ = await self.call("POST", "/auth/token",
                                          json={"username": user, "password": password})
        assert status == 200, body
        return dict(body)


async def gather(*aws: Any) -> list[Any]:
    return list(await asyncio.gather(*aws))

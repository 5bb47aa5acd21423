"""Seed 002's auth on the bot's API: password login, rotating refresh tokens, logout into the
Redis denylist, which fails closed; API keys with scopes; login rate limits; audit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest

from bot.local.stack import LocalStack
from tests.databases import sqlite_url
from tests.fakes import FakeClock
from tests.integration.api_support import (
    JWT_SECRET,
    Api,
    add_key,
    add_user,
    api_stack,
    closed_port,
    require_redis,
    store,
)

pytestmark = pytest.mark.asyncio


@asynccontextmanager
async def running(database_url: str) -> AsyncIterator[tuple[LocalStack, Api]]:
    await require_redis()
    async with api_stack(database_url, clock=FakeClock(datetime.now(UTC))) as s:
        await add_user(s, "carol", "correct horse", ["incident_commander"])
        await add_user(s, "victor", "viewer pass", ["viewer"])
        client = Api(s)
        try:
            yield s, client
        finally:
            await client.close()


@pytest.fixture
async def stack(database_url: str) -> AsyncIterator[LocalStack]:
    """The bot on SQLite and on PostgreSQL: for what the database keeps (users, keys,
    refresh-token families, the audit trail)."""
    async with running(database_url) as (s, _):
        yield s


@pytest.fixture
async def api(stack: LocalStack) -> AsyncIterator[Api]:
    client = Api(stack)
    yield client
    await client.close()


@pytest.fixture
async def lite(tmp_path: Path) -> AsyncIterator[tuple[LocalStack, Api]]:
    """The bot on SQLite only: for rules the database plays no part in (JWT checks, scopes,
    rate limits, headers)."""
    async with running(sqlite_url(tmp_path)) as pair:
        yield pair


async def test_login_gives_15_minute_access_and_7_day_refresh_tokens(api: Api) -> None:
    tokens = await api.login("carol", "correct horse")
    access = jwt.decode(tokens["access_token"], JWT_SECRET, algorithms=["HS256"],
                        options={"verify_exp": False})
    refresh = jwt.decode(tokens["refresh_token"], JWT_SECRET, algorithms=["HS256"],
                         options={"verify_exp": False})
    assert access["exp"] - access["iat"] == 15 * 60 and access["sub"] == "carol" and access["jti"]
    assert refresh["exp"] - refresh["iat"] == 7 * 24 * 3600 and refresh["jti"] != access["jti"]
    status, body, _ = await api.call("GET", "/incidents", tokens["access_token"])
    assert status == 200 and body["items"] == []


async def test_a_wrong_password_is_401_and_the_login_audited(api: Api, stack: LocalStack) -> None:
    wrong = {"username": "carol", "password": "nope"}  # pragma: allowlist secret
    status, body, headers = await api.call("POST", "/auth/token", json=wrong)
    assert status == 401 and headers["Content-Type"].startswith("application/problem+json")
    assert body["detail"] == "wrong user name or password"
    await api.login("carol", "correct horse")
    async with stack.container.uow_factory() as uow:
        actions = [(a.action, a.actor) for a in await uow.audit.list("carol")]
    assert actions == [("auth.login_failed", "api:carol"), ("auth.login", "api:carol")]


async def test_login_attempts_are_limited_per_user(lite: tuple[LocalStack, Api]) -> None:
    _, api = lite
    for _ in range(5):
        guess = {"username": "carol", "password": "guess"}  # pragma: allowlist secret
        status, _, _ = await api.call("POST", "/auth/token", json=guess)
        assert status == 401
    right = {"username": "carol", "password": "correct horse"}  # pragma: allowlist secret
    status, body, headers = await api.call("POST", "/auth/token", json=right)
    assert status == 429 and int(headers["Retry-After"]) > 0, body


async def test_refresh_rotates_and_a_reused_refresh_token_revokes_its_family(api: Api) -> None:
    first = await api.login("carol", "correct horse")
    status, second, _ = await api.call("POST", "/auth/refresh",
                                       json={"refresh_token": first["refresh_token"]})
    assert status == 200 and second["refresh_token"] != first["refresh_token"]
    # the old refresh token again: someone replays a stolen token -> the whole family dies
    status, body, _ = await api.call("POST", "/auth/refresh",
                                     json={"refresh_token": first["refresh_token"]})
    assert status == 401 and "already used" in body["detail"]
    status, body, _ = await api.call("POST", "/auth/refresh",
                                     json={"refresh_token": second["refresh_token"]})
    assert status == 401 and "revoked" in body["detail"]


async def test_logout_revokes_the_access_token_through_redis(api: Api) -> None:
    tokens = await api.login("carol", "correct horse")
    status, body, _ = await api.call("POST", "/auth/logout", tokens["access_token"],
                                     json={"refresh_token": tokens["refresh_token"]})
    assert status == 200 and len(body["revoked"]) == 2
    status, body, _ = await api.call("GET", "/incidents", tokens["access_token"])
    assert status == 401 and body["detail"] == "token revoked"
    status, body, _ = await api.call("POST", "/auth/refresh",
                                     json={"refresh_token": tokens["refresh_token"]})
    assert status == 401


async def test_expired_and_tampered_tokens_are_401(lite: tuple[LocalStack, Api]) -> None:
    stack, api = lite
    tokens = await api.login("carol", "correct horse")
    header, payload, sig = tokens["access_token"].split(".")
    tampered = f"{header}.{payload}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}"
    status, body, headers = await api.call("GET", "/incidents", tampered)
    assert status == 401 and "invalid token" in body["detail"]
    assert headers["WWW-Authenticate"].startswith("Bearer")
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    forged = jwt.encode({**claims, "roles": ["platform_governance"]},
                        "another-secret-of-32-bytes-or-more!!", algorithm="HS256")
    assert (await api.call("GET", "/incidents", forged))[0] == 401
    stack.container.clock.advance(minutes=15, seconds=1)  # type: ignore[attr-defined]
    status, body, _ = await api.call("GET", "/incidents", tokens["access_token"])
    assert status == 401 and body["detail"] == "token expired"


async def test_api_keys_carry_scopes_and_are_stored_hashed(api: Api, stack: LocalStack) -> None:
    reader = await add_key(stack, "dashboards", ["incidents:read"])
    assert (await api.call("GET", "/incidents", reader))[0] == 200
    status, body, _ = await api.call("POST", "/incidents", reader, json={
        "title": "x", "severity": "p3", "model": "fraud-detector"})
    assert status == 403 and "incidents:write" in body["detail"]
    keys = await store(stack).keys()
    assert reader.split("_", 2)[2] not in repr(keys)  # only a digest of the secret is kept
    assert (await api.call("GET", "/incidents", reader[:-3] + "xyz"))[0] == 401


async def test_a_viewer_reads_but_may_not_write(lite: tuple[LocalStack, Api]) -> None:
    _, api = lite
    token = (await api.login("victor", "viewer pass"))["access_token"]
    assert (await api.call("GET", "/incidents", token))[0] == 200
    status, body, _ = await api.call("POST", "/incidents", token, json={
        "title": "x", "severity": "p3", "model": "fraud-detector"})
    assert status == 403 and "incidents:write" in body["detail"]


async def test_no_token_is_401_naming_how_to_authenticate(lite: tuple[LocalStack, Api]) -> None:
    _, api = lite
    status, body, _ = await api.call("GET", "/incidents")
    assert status == 401 and "/auth/token" in body["detail"]


async def test_unreachable_redis_fails_closed_and_reports_the_gauge(tmp_path: Path) -> None:
    async with api_stack(sqlite_url(tmp_path), redis_url=f"redis://127.0.0.1:{closed_port()}/0") as s:
        await add_user(s, "carol", "correct horse", ["incident_commander"])
        key = await add_key(s, "ci", ["incidents:read"])
        api = Api(s)
        try:
            token = (await api.login("carol", "correct horse"))["access_token"]
            for credential in (token, key):
                status, body, _ = await api.call("GET", "/incidents", credential)
                assert status == 401 and "denylist is unreachable" in body["detail"]
            status, metrics, _ = await api.call("GET", "/metrics")
            assert "redis_denylist_up 0.0" in metrics
        finally:
            await api.close()


async def test_without_redis_url_logout_is_refused_with_the_reason(tmp_path: Path) -> None:
    async with api_stack(sqlite_url(tmp_path), redis_url=None) as s:
        await add_user(s, "carol", "correct horse", ["incident_commander"])
        api = Api(s)
        try:
            token = (await api.login("carol", "correct horse"))["access_token"]
            status, body, _ = await api.call("POST", "/auth/logout", token, json={})
            assert status == 503 and "REDIS_URL is not set" in body["detail"]
        finally:
            await api.close()


async def test_hostile_login_names_are_refused_like_wrong_passwords(
        lite: tuple[LocalStack, Api]) -> None:
    stack, api = lite
    for name in ("carol\x00", "x" * 255, "<script>", "carol'; --"):
        status, body, _ = await api.call("POST", "/auth/token",
                                         json={"username": name, "password": "p"})
        assert status == 401 and body["detail"] == "wrong user name or password"
    async with stack.container.uow_factory() as uow:
        failed = [a for a in await uow.audit.list() if a.action == "auth.login_failed"]
    assert {a.actor for a in failed} == {"api:(invalid)"}


async def test_a_form_encoded_password_grant_works_as_oauth2_clients_send_it(
        lite: tuple[LocalStack, Api]) -> None:
    stack, api = lite
    password = "correct horse"  # pragma: allowlist secret
    form = {"grant_type": "password", "username": "carol", "password": password}
    async with api.http.post(stack.url + "/auth/token", data=form) as resp:
        assert resp.status == 200 and (await resp.json())["token_type"] == "bearer"

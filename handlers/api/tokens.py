"""Authentication of API callers (seed 002): bcrypt passwords, HS256 JWT access and refresh
tokens (PyJWT), scoped API keys, and the Redis denylist that fails closed.

Token times come from the injected clock, never the library's wall clock, so the SLO-style
time travel of the tests and the demo applies to tokens too.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import bcrypt
import jwt

from domain.api.auth import (
    ACCESS_TTL,
    NAME_RE,
    REFRESH_TTL,
    AuthError,
    LoginThrottle,
    Principal,
    Scope,
    access_claims,
    check_claims,
    parse_scopes,
    refresh_claims,
    scopes_for_roles,
)
from domain.api.ports import ApiAccounts, Denylist, DenylistUnavailable, KeyRow
from domain.ports import Clock

KEY_PREFIX = "ibk_"
BCRYPT_ROUNDS = 12
# checked against when the user does not exist, so a miss costs what a wrong password costs
_DUMMY_HASH = bcrypt.hashpw(b"not-a-password", bcrypt.gensalt(4))


def hash_password(password: str, rounds: int = BCRYPT_ROUNDS) -> str:
    return bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(rounds)).decode()


def new_api_key() -> tuple[str, str, str]:
    """(key id, the whole key shown once, SHA-256 of its secret stored)."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return key_id, f"{KEY_PREFIX}{key_id}_{secret}", hashlib.sha256(secret.encode()).hexdigest()


class LoginThrottled(AuthError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many login attempts; try again in {retry_after} s.")
        self.retry_after = retry_after


class DenylistRequired(Exception):
    """Logout without REDIS_URL: refused rather than silently not revoking."""


@dataclass
class TokenPair:
    access_token: str
    refresh_token: str
    access_jti: str
    expires_in: int = int(ACCESS_TTL.total_seconds())
    refresh_expires_in: int = int(REFRESH_TTL.total_seconds())


class TokenService:
    def __init__(self, store: ApiAccounts, clock: Clock, secret: str,
                 denylist: Denylist | None, throttle: LoginThrottle | None = None,
                 on_event: Callable[[str, str], Awaitable[None]] | None = None) -> None:
        self.store = store
        self.clock = clock
        self.secret = secret
        self.denylist = denylist
        self.throttle = throttle or LoginThrottle()
        self.on_event = on_event  # (event, user): audit-worthy auth events for the wiring

    def _now(self) -> int:
        return int(self.clock.now().timestamp())

    def _encode(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def _decode(self, token: str, typ: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self.secret, algorithms=["HS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                         "require": ["exp", "jti", "sub"]})
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"invalid token ({type(exc).__name__})") from exc
        check_claims(claims, self.clock.now(), typ)
        return claims

    async def _check_denylist(self, jti: str) -> None:
        if self.denylist is None:
            return
        try:
            revoked = await self.denylist.is_revoked(jti, self._now())
        except DenylistUnavailable as exc:
            raise AuthError("token revocation cannot be checked (the Redis denylist is "
                            "unreachable); refusing every token until it is back") from exc
        if revoked:
            raise AuthError("token revoked")

    # -- login, refresh, logout --------------------------------------------------------------

    async def login(self, username: str, password: str, address: str) -> TokenPair:
        now = self.clock.now()
        name = username.strip().lower()
        wait = self.throttle.retry_after(name, address, now)
        if wait is not None:
            raise LoginThrottled(wait)
        # a name no user can have is not looked up (NULs and the like never reach SQL)
        user = await self.store.user(name) if NAME_RE.fullmatch(name) else None
        stored = user.password_hash.encode() if user else _DUMMY_HASH
        ok = await asyncio.to_thread(bcrypt.checkpw, password.encode()[:72], stored)
        if not ok or user is None or user.disabled_at is not None:
            self.throttle.failed(name, address, now)
            await self._event("auth.login_failed", name if NAME_RE.fullmatch(name) else "(invalid)")
            raise AuthError("wrong user name or password")
        self.throttle.succeeded(name)
        family = uuid.uuid4().hex
        pair = self._pair(name, user.roles, family)
        await self.store.start_family(family, name, self._refresh_jti(pair), now)
        await self._event("auth.login", name)
        return pair

    def _pair(self, name: str, roles: list[str], family: str) -> TokenPair:
        now = self.clock.now()
        access = access_claims(name, roles, now)
        refresh = refresh_claims(name, family, now)
        return TokenPair(self._encode(access), self._encode(refresh), access["jti"])

    def _refresh_jti(self, pair: TokenPair) -> str:
        return str(jwt.decode(pair.refresh_token, options={"verify_signature": False})["jti"])

    async def refresh(self, token: str) -> TokenPair:
        claims = self._decode(token, "refresh")
        await self._check_denylist(claims["jti"])
        user = await self.store.user(claims["sub"])
        if user is None or user.disabled_at is not None:
            raise AuthError("user unknown or disabled")
        pair = self._pair(user.name, user.roles, str(claims.get("fam")))
        outcome = await self.store.rotate(str(claims.get("fam")), claims["jti"],
                                          self._refresh_jti(pair), self.clock.now())
        if outcome == "reused":
            await self._event("auth.refresh_reuse_detected", user.name)
            raise AuthError("refresh token already used: this login's refresh tokens are "
                            "revoked; log in again")
        if outcome != "rotated":
            raise AuthError(f"refresh token {outcome}; log in again")
        return pair

    async def logout(self, principal: Principal, refresh_token: str | None) -> list[str]:
        """Revoke the access token presented (and the refresh family, if given)."""
        if self.denylist is None:
            raise DenylistRequired(
                "logout cannot revoke tokens: REDIS_URL is not set, so there is no token "
                "denylist. Set REDIS_URL; until then tokens stay valid until they expire "
                f"({int(ACCESS_TTL.total_seconds() // 60)} min).")
        revoked: list[str] = []
        if principal.kind == "user" and principal.expires_at is not None:
            await self.denylist.revoke(principal.token_id, int(principal.expires_at.timestamp()),
                                       self._now())
            revoked.append(principal.token_id)
        if refresh_token:
            claims = self._decode(refresh_token, "refresh")
            if claims["sub"] != principal.name:
                raise AuthError("that refresh token belongs to someone else")
            await self.denylist.revoke(claims["jti"], int(claims["exp"]), self._now())
            await self.store.revoke_family(str(claims.get("fam")), "logout", self.clock.now())
            revoked.append(claims["jti"])
        await self._event("auth.logout", principal.name)
        return revoked

    # -- every request -----------------------------------------------------------------------

    async def authenticate(self, authorization: str | None, api_key: str | None) -> Principal:
        credential = api_key
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise AuthError("use `Authorization: Bearer <token or API key>`")
            credential = value.strip()
        if not credential:
            raise AuthError("authentication required: `Authorization: Bearer <token>` "
                            "(POST /auth/token) or an API key")
        if credential.startswith(KEY_PREFIX):
            return await self._key_principal(credential)
        claims = self._decode(credential, "access")
        await self._check_denylist(claims["jti"])
        roles = frozenset(str(r) for r in claims.get("roles") or [])
        from datetime import UTC, datetime

        return Principal(claims["sub"], "user", roles, scopes_for_roles(roles), claims["jti"],
                         datetime.fromtimestamp(int(claims["exp"]), UTC))

    async def _key_principal(self, presented: str) -> Principal:
        key_id, _, secret = presented[len(KEY_PREFIX):].partition("_")
        row = await self.store.key(key_id) if key_id and secret else None
        digest = hashlib.sha256(secret.encode()).hexdigest()
        if row is None or not hmac.compare_digest(row.secret_hash, digest):
            raise AuthError("unknown API key")
        if row.revoked_at is not None:
            raise AuthError("API key revoked")
        await self._check_denylist(f"key:{key_id}")
        return Principal(row.name, "key", frozenset(row.roles), parse_scopes(row.scopes),
                         key_id)

    async def _event(self, event: str, user: str) -> None:
        if self.on_event is not None:
            await self.on_event(event, user)


async def create_key(store: ApiAccounts, clock: Clock, name: str, scopes: list[str],
                     roles: list[str]) -> tuple[KeyRow, str]:
    """A service account's key: stored hashed; the whole key is returned once."""
    parsed = sorted(s.value for s in parse_scopes(scopes))
    key_id, whole, digest = new_api_key()
    row = KeyRow(key_id, name, digest, parsed, sorted(roles), clock.now(), None)
    await store.add_key(row)
    return row, whole


__all__ = ["TokenService", "TokenPair", "DenylistRequired", "LoginThrottled", "hash_password",
           "create_key", "Scope"]

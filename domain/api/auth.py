"""Token rules, scopes and roles of API callers (seed 002; issue 17). Pure, clock injected.

An API *user* logs in with a password and gets a 15-minute access token and a 7-day refresh
token; a *service account* presents a long-lived API key with scopes. Either way the caller
becomes an :class:`Actor` (``api:NAME`` / ``key:NAME``) so audit rows name them like Slack
users, and their governance roles feed the same RACI decisions.
"""

from __future__ import annotations

import re
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from domain.governance.roles import Role
from domain.model import Actor, DomainError

ACCESS_TTL = timedelta(minutes=15)
REFRESH_TTL = timedelta(days=7)
ISSUER = "incident-bot"
NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


class Scope(StrEnum):
    INCIDENTS_READ = "incidents:read"
    INCIDENTS_WRITE = "incidents:write"
    MODELS_READ = "models:read"
    MODELS_WRITE = "models:write"
    DRIFT_WRITE = "drift:write"


VIEWER = "viewer"  # read-only API users: no governance role, no write scope
API_ROLES = (VIEWER, *(r.value for r in Role))
READ_SCOPES = frozenset({Scope.INCIDENTS_READ, Scope.MODELS_READ})
ALL_SCOPES = frozenset(Scope)
# what each write scope also lets you read
IMPLIES: dict[Scope, frozenset[Scope]] = {
    Scope.INCIDENTS_WRITE: frozenset({Scope.INCIDENTS_READ}),
    Scope.MODELS_WRITE: frozenset({Scope.MODELS_READ}),
    Scope.DRIFT_WRITE: frozenset({Scope.MODELS_READ}),
}


class AuthError(DomainError):
    """401: the caller is not who they claim (bad, expired, revoked or unverifiable token)."""


class Forbidden(DomainError):
    """403: the caller is known but may not do this."""


def parse_name(name: str) -> str:
    """User and key names become actor ids and audit names: short lowercase slugs."""
    name = name.strip().lower()
    if not NAME_RE.fullmatch(name):
        raise DomainError(f"`{name}` is not a valid name: lowercase letters, digits, `.`, `_`, "
                          "`-`, at most 63 characters, starting with a letter or digit.")
    return name


def parse_roles(roles: Iterable[str]) -> frozenset[str]:
    parsed = frozenset(r.strip().lower() for r in roles if r.strip())
    unknown = sorted(parsed - set(API_ROLES))
    if unknown or not parsed:
        raise DomainError(f"Unknown role(s) {', '.join(unknown) or '(none given)'}; valid: "
                          f"{', '.join(API_ROLES)}.")
    return parsed


def parse_scopes(scopes: Iterable[str]) -> frozenset[Scope]:
    wanted = [s.strip().lower() for s in scopes if s.strip()]
    valid = {s.value for s in Scope}
    unknown = sorted(set(wanted) - valid)
    if unknown or not wanted:
        raise DomainError(f"Unknown scope(s) {', '.join(unknown) or '(none given)'}; valid: "
                          f"{', '.join(sorted(valid))}.")
    return frozenset(Scope(s) for s in wanted)


def scopes_for_roles(roles: Iterable[str]) -> frozenset[Scope]:
    """A user's scopes follow their roles: a viewer reads; any governance role also writes
    (which writes succeed is then the RACI gates' decision, as in Slack)."""
    if any(r != VIEWER for r in roles):
        return ALL_SCOPES
    return READ_SCOPES


def governance_roles(roles: Iterable[str]) -> frozenset[Role]:
    return frozenset(Role(r) for r in roles if r in Role._value2member_map_)


@dataclass(frozen=True)
class Principal:
    """An authenticated API caller."""

    name: str
    kind: str  # "user" | "key"
    roles: frozenset[str]
    scopes: frozenset[Scope]
    token_id: str  # the access token's jti, or the API key's id
    expires_at: datetime | None = None

    @property
    def actor(self) -> Actor:
        prefix = "api" if self.kind == "user" else "key"
        # the token's or key's roles reach the RACI gate with the actor (domain/governance/roles.py)
        return Actor(f"{prefix}:{self.name}", f"{self.name} (API {self.kind})",
                     roles=governance_roles(self.roles))

    def may(self, scope: Scope) -> bool:
        return scope in self.scopes or any(scope in IMPLIES.get(s, ()) for s in self.scopes)

    def require(self, scope: Scope) -> None:
        if not self.may(scope):
            raise Forbidden(f"This {'token' if self.kind == 'user' else 'API key'} lacks the "
                            f"`{scope.value}` scope (it has: "
                            f"{', '.join(sorted(s.value for s in self.scopes)) or 'none'}).")


def access_claims(user: str, roles: Iterable[str], now: datetime) -> dict[str, Any]:
    return {"iss": ISSUER, "sub": user, "typ": "access", "jti": uuid.uuid4().hex,
            "iat": int(now.timestamp()), "exp": int((now + ACCESS_TTL).timestamp()),
            "roles": sorted(roles)}


def refresh_claims(user: str, family: str, now: datetime) -> dict[str, Any]:
    return {"iss": ISSUER, "sub": user, "typ": "refresh", "jti": uuid.uuid4().hex, "fam": family,
            "iat": int(now.timestamp()), "exp": int((now + REFRESH_TTL).timestamp())}


def check_claims(claims: dict[str, Any], now: datetime, typ: str) -> None:
    """Expiry against the injected clock (not the library's wall clock), type and shape."""
    if claims.get("iss") != ISSUER or claims.get("typ") != typ:
        raise AuthError(f"not an {typ} token of this service")
    if not isinstance(claims.get("jti"), str) or not isinstance(claims.get("sub"), str):
        raise AuthError("token lacks jti or sub")
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= int(now.timestamp()):
        raise AuthError("token expired")


@dataclass
class LoginThrottle:
    """Failed logins per user name and per client address within ``window`` (in memory, per
    process: a replica limits what reaches it): per user against guessing one password, per
    address against spraying many users. Only failures count, so the people behind one proxy
    or ingress address can all log in."""

    per_user: int = 5
    per_address: int = 50
    window: timedelta = timedelta(minutes=15)
    _users: dict[str, deque[datetime]] = field(default_factory=dict)
    _addresses: dict[str, deque[datetime]] = field(default_factory=dict)

    def retry_after(self, user: str, address: str, now: datetime) -> int | None:
        """Seconds until the next attempt is allowed, or None when it is allowed now."""
        waits = [self._wait(self._users, user, self.per_user, now),
                 self._wait(self._addresses, address, self.per_address, now)]
        real = [w for w in waits if w is not None]
        return max(real) if real else None

    def failed(self, user: str, address: str, now: datetime) -> None:
        self._users.setdefault(user, deque()).append(now)
        self._addresses.setdefault(address, deque()).append(now)

    def succeeded(self, user: str) -> None:
        self._users.pop(user, None)

    def _wait(self, table: dict[str, deque[datetime]], key: str, limit: int,
              now: datetime) -> int | None:
        times = table.get(key)
        if not times:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            table.pop(key, None)
            return None
        if len(times) < limit:
            return None
        return max(1, int((times[0] + self.window - now).total_seconds()) + 1)

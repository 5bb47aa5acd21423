"""What the API needs from storage (issue 17): records and Protocols; ``storage/`` implements
them, ``bot/features/api.py`` injects them, the handlers see only these."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from domain.ports import UnitOfWork


@dataclass(frozen=True)
class UserRow:
    name: str
    password_hash: str
    roles: list[str]
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True)
class KeyRow:
    key_id: str
    name: str
    secret_hash: str
    scopes: list[str]
    roles: list[str]
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class IdempotencyRow:
    request_hash: str
    state: str
    resource_id: str | None
    status_code: int | None
    response: Any
    created_at: datetime


@dataclass(frozen=True)
class IncidentFilter:
    statuses: list[str] | None = None
    severities: list[str] | None = None
    model_id: uuid.UUID | None = None
    since: datetime | None = None
    before_number: int | None = None  # the cursor: numbers below this one


class DenylistUnavailable(Exception):
    """The token denylist could not be asked: callers fail closed."""


class Denylist(Protocol):
    async def revoke(self, jti: str, expires_at: int, now: int) -> None: ...
    async def is_revoked(self, jti: str, now: int) -> bool:
        """Raises :class:`DenylistUnavailable` when it cannot tell."""
        ...


class ApiAccounts(Protocol):
    """Users, keys, refresh-token families and idempotency keys."""

    async def user(self, name: str) -> UserRow | None: ...
    async def key(self, key_id: str) -> KeyRow | None: ...
    async def add_key(self, key: KeyRow) -> None: ...
    async def start_family(self, family_id: str, user: str, jti: str, now: datetime) -> None: ...
    async def rotate(self, family_id: str, presented: str, new_jti: str, now: datetime) -> str: ...
    async def revoke_family(self, family_id: str, reason: str, now: datetime) -> None: ...
    async def claim_idempotency(self, principal: str, key: str, request_hash: str,
                                now: datetime) -> IdempotencyRow | None: ...
    async def finish_idempotency(self, principal: str, key: str, status: int,
                                 response: Any) -> None: ...
    async def forget_idempotency(self, principal: str, key: str) -> None: ...
    async def reclaim_idempotency(self, principal: str, key: str, stale_before: datetime,
                                  now: datetime) -> bool: ...


class ApiQueries(Protocol):
    """Reads shaped for the API and the status page, and what a use case records for it."""

    async def incident_rows(self, where: IncidentFilter, limit: int) -> list[dict[str, Any]]: ...
    async def last_stakeholder_updates(self, incident_ids: list[Any]) -> dict[Any, datetime]: ...
    async def remember_resource(self, uow: UnitOfWork, principal: str, key: str,
                                resource_id: str) -> None: ...

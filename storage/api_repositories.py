"""Storage of the platform API (issue 17): users, keys, refresh families, idempotency keys and
webhook subscribers in SQL; the token denylist in Redis (seed 002: a sorted set of revoked
``jti`` scored by their expiry, so expired entries are pruned and the key itself expires).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.api.ports import (
    DenylistUnavailable,
    IdempotencyRow,
    IncidentFilter,
    KeyRow,
    UserRow,
)
from storage.api_tables import (
    api_keys,
    api_users,
    idempotency_keys,
    refresh_families,
    webhook_subscribers,
)


@dataclass(frozen=True)
class Subscriber:
    id: str
    url: str
    events: list[str]
    secret: str
    created_at: datetime
    failing_since: datetime | None
    last_error: str | None
    disabled_at: datetime | None
    disabled_reason: str | None


def _insert(conn: AsyncConnection, table: sa.Table) -> Any:
    return (postgresql.insert(table) if conn.dialect.name == "postgresql"
            else sqlite.insert(table))


class ApiStore:
    """SQL reads and writes of the API's own tables (writes serialised on SQLite)."""

    def __init__(self, engine: AsyncEngine, write_lock: Any = None) -> None:
        self.engine = engine
        self.write_lock = write_lock

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        lock = self.write_lock if self.write_lock is not None else contextlib.nullcontext()
        async with lock, self.engine.begin() as conn:
            yield conn

    async def _one(self, query: Any) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).first()

    # -- users -------------------------------------------------------------------------------

    async def set_user(self, name: str, password_hash: str, roles: list[str],
                       now: datetime) -> bool:
        """Add a user, or replace the password and roles of one (enabling it). True if new."""
        async with self._write() as conn:
            found = (await conn.execute(sa.select(api_users.c.name).where(
                api_users.c.name == name))).first()
            if found is None:
                await conn.execute(api_users.insert().values(
                    name=name, password_hash=password_hash, roles=roles, created_at=now))
                return True
            await conn.execute(api_users.update().where(api_users.c.name == name).values(
                password_hash=password_hash, roles=roles, disabled_at=None))
            return False

    async def user(self, name: str) -> UserRow | None:
        row = await self._one(sa.select(api_users).where(api_users.c.name == name))
        return UserRow(**row._mapping) if row else None

    async def users(self) -> list[UserRow]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(api_users).order_by(api_users.c.name))
            return [UserRow(**r._mapping) for r in rows]

    async def disable_user(self, name: str, now: datetime) -> bool:
        async with self._write() as conn:
            done = await conn.execute(api_users.update().where(
                api_users.c.name == name, api_users.c.disabled_at.is_(None)).values(
                disabled_at=now))
            await conn.execute(refresh_families.update().where(
                refresh_families.c.user_name == name, refresh_families.c.revoked_at.is_(None)
            ).values(revoked_at=now, revoked_reason="user disabled"))
            return bool(done.rowcount)

    # -- API keys ----------------------------------------------------------------------------

    async def add_key(self, key: KeyRow) -> None:
        async with self._write() as conn:
            await conn.execute(api_keys.insert().values(**key.__dict__))

    async def key(self, key_id: str) -> KeyRow | None:
        row = await self._one(sa.select(api_keys).where(api_keys.c.key_id == key_id))
        return KeyRow(**row._mapping) if row else None

    async def keys(self) -> list[KeyRow]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at))
            return [KeyRow(**r._mapping) for r in rows]

    async def revoke_key(self, key_id_or_name: str, now: datetime) -> int:
        async with self._write() as conn:
            done = await conn.execute(api_keys.update().where(
                sa.or_(api_keys.c.key_id == key_id_or_name, api_keys.c.name == key_id_or_name),
                api_keys.c.revoked_at.is_(None)).values(revoked_at=now))
            return int(done.rowcount or 0)

    # -- refresh-token families --------------------------------------------------------------

    async def start_family(self, family_id: str, user: str, jti: str, now: datetime) -> None:
        async with self._write() as conn:
            await conn.execute(refresh_families.insert().values(
                family_id=family_id, user_name=user, current_jti=jti, created_at=now,
                rotated_at=now))

    async def rotate(self, family_id: str, presented: str, new_jti: str, now: datetime) -> str:
        """Swap the family's current refresh token for a new one: ``rotated``; or, when the
        presented one is not current (used before: stolen and replayed), revoke the family:
        ``reused``; ``revoked`` / ``unknown`` otherwise. One conditional UPDATE: of two
        concurrent refreshes with the same token, exactly one rotates."""
        async with self._write() as conn:
            done = await conn.execute(refresh_families.update().where(
                refresh_families.c.family_id == family_id,
                refresh_families.c.current_jti == presented,
                refresh_families.c.revoked_at.is_(None)).values(
                current_jti=new_jti, rotated_at=now))
            if done.rowcount:
                return "rotated"
            row = (await conn.execute(sa.select(refresh_families).where(
                refresh_families.c.family_id == family_id))).first()
            if row is None:
                return "unknown"
            if row.revoked_at is not None:
                return "revoked"
            await conn.execute(refresh_families.update().where(
                refresh_families.c.family_id == family_id).values(
                revoked_at=now, revoked_reason="refresh token reused"))
            return "reused"

    async def revoke_family(self, family_id: str, reason: str, now: datetime) -> None:
        async with self._write() as conn:
            await conn.execute(refresh_families.update().where(
                refresh_families.c.family_id == family_id,
                refresh_families.c.revoked_at.is_(None)).values(
                revoked_at=now, revoked_reason=reason))

    async def family(self, family_id: str) -> dict[str, Any] | None:
        row = await self._one(sa.select(refresh_families).where(
            refresh_families.c.family_id == family_id))
        return dict(row._mapping) if row else None

    # -- idempotency keys --------------------------------------------------------------------

    async def claim_idempotency(self, principal: str, key: str, request_hash: str,
                                now: datetime) -> IdempotencyRow | None:
        """Claim ``key`` for this request (None), or return the row of whoever holds it."""
        async with self._write() as conn:
            inserted = await conn.execute(_insert(conn, idempotency_keys).values(
                principal=principal, key=key, request_hash=request_hash, state="in_progress",
                created_at=now).on_conflict_do_nothing(index_elements=["principal", "key"]))
            if inserted.rowcount:
                return None
        return await self.idempotency(principal, key)

    async def idempotency(self, principal: str, key: str) -> IdempotencyRow | None:
        row = await self._one(sa.select(
            idempotency_keys.c.request_hash, idempotency_keys.c.state,
            idempotency_keys.c.resource_id, idempotency_keys.c.status_code,
            idempotency_keys.c.response, idempotency_keys.c.created_at).where(
            idempotency_keys.c.principal == principal, idempotency_keys.c.key == key))
        return IdempotencyRow(**row._mapping) if row else None

    async def finish_idempotency(self, principal: str, key: str, status: int,
                                 response: Any) -> None:
        async with self._write() as conn:
            await conn.execute(idempotency_keys.update().where(
                idempotency_keys.c.principal == principal, idempotency_keys.c.key == key).values(
                state="done", status_code=status, response=response))

    async def forget_idempotency(self, principal: str, key: str) -> None:
        """A request that failed for a reason a retry may not meet again: free its key."""
        async with self._write() as conn:
            await conn.execute(idempotency_keys.delete().where(
                idempotency_keys.c.principal == principal, idempotency_keys.c.key == key))

    async def reclaim_idempotency(self, principal: str, key: str, stale_before: datetime,
                                  now: datetime) -> bool:
        """Take over a key whose request died mid-way (still in progress since before
        ``stale_before``)."""
        async with self._write() as conn:
            done = await conn.execute(idempotency_keys.update().where(
                idempotency_keys.c.principal == principal, idempotency_keys.c.key == key,
                idempotency_keys.c.state == "in_progress",
                idempotency_keys.c.created_at < stale_before).values(created_at=now))
            return bool(done.rowcount)

    # -- webhook subscribers -----------------------------------------------------------------

    async def add_subscriber(self, sub: Subscriber) -> None:
        async with self._write() as conn:
            await conn.execute(webhook_subscribers.insert().values(**sub.__dict__))

    async def subscribers(self, enabled_only: bool = False) -> list[Subscriber]:
        async with self.engine.connect() as conn:
            return await enabled_subscribers(conn) if enabled_only else [
                Subscriber(**r._mapping) for r in await conn.execute(
                    sa.select(webhook_subscribers).order_by(webhook_subscribers.c.created_at))]

    async def subscriber(self, sub_id: str) -> Subscriber | None:
        row = await self._one(sa.select(webhook_subscribers).where(
            webhook_subscribers.c.id == sub_id))
        return Subscriber(**row._mapping) if row else None

    async def remove_subscriber(self, sub_id: str) -> bool:
        async with self._write() as conn:
            done = await conn.execute(webhook_subscribers.delete().where(
                webhook_subscribers.c.id == sub_id))
            return bool(done.rowcount)

    async def delivered(self, sub_id: str) -> None:
        async with self._write() as conn:
            await conn.execute(webhook_subscribers.update().where(
                webhook_subscribers.c.id == sub_id,
                webhook_subscribers.c.failing_since.is_not(None)).values(
                failing_since=None, last_error=None))

    async def failed(self, sub_id: str, now: datetime, error: str) -> datetime:
        """Record a failed delivery; returns since when the subscriber has been failing."""
        async with self._write() as conn:
            await conn.execute(webhook_subscribers.update().where(
                webhook_subscribers.c.id == sub_id).values(
                failing_since=sa.func.coalesce(webhook_subscribers.c.failing_since, now),
                last_error=error[:500]))
            since = (await conn.execute(sa.select(webhook_subscribers.c.failing_since).where(
                webhook_subscribers.c.id == sub_id))).scalar()
        return since or now

    async def disable_subscriber(self, sub_id: str, reason: str, now: datetime) -> bool:
        async with self._write() as conn:
            done = await conn.execute(webhook_subscribers.update().where(
                webhook_subscribers.c.id == sub_id,
                webhook_subscribers.c.disabled_at.is_(None)).values(
                disabled_at=now, disabled_reason=reason[:500]))
            return bool(done.rowcount)

    async def enable_subscriber(self, sub_id: str) -> bool:
        async with self._write() as conn:
            done = await conn.execute(webhook_subscribers.update().where(
                webhook_subscribers.c.id == sub_id).values(
                disabled_at=None, disabled_reason=None, failing_since=None, last_error=None))
            return bool(done.rowcount)


async def enabled_subscribers_in(uow: object) -> list[Subscriber]:
    """Inside a use case's unit of work: who is to hear of the change being committed."""
    from storage.uow import sql_connection
    return await enabled_subscribers(sql_connection(uow))


# read by every change (the API's webhooks): built once (storage/repositories.py)
_ENABLED_SUBSCRIBERS = sa.select(webhook_subscribers).where(
    webhook_subscribers.c.disabled_at.is_(None)).order_by(webhook_subscribers.c.created_at)


async def enabled_subscribers(conn: AsyncConnection) -> list[Subscriber]:
    """Inside a use case's transaction: who is to hear of the change being committed."""
    rows = await conn.execute(_ENABLED_SUBSCRIBERS)
    return [Subscriber(**r._mapping) for r in rows]


async def record_idempotent_resource(conn: AsyncConnection, principal: str, key: str,
                                     resource_id: str) -> None:
    """Inside the use case's transaction: what the request made, so a retry after a crash
    between the commit and the stored answer finds it instead of making another."""
    await conn.execute(idempotency_keys.update().where(
        idempotency_keys.c.principal == principal, idempotency_keys.c.key == key).values(
        resource_id=resource_id))


class RedisDenylist:
    """Revoked token ids in a Redis sorted set, scored by their expiry (unix seconds)."""

    KEY = "incident-bot:jwt-denylist"

    def __init__(self, url: str, on_state: Callable[[bool], None] | None = None,
                 timeout: float = 0.5) -> None:
        import redis.asyncio as redis

        self.client = redis.from_url(url, socket_timeout=timeout,
                                     socket_connect_timeout=timeout, retry_on_timeout=False)
        self.on_state = on_state

    def _report(self, up: bool) -> None:
        if self.on_state is not None:
            self.on_state(up)

    async def revoke(self, jti: str, expires_at: int, now: int) -> None:
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.zadd(self.KEY, {jti: expires_at})
                pipe.zremrangebyscore(self.KEY, "-inf", now)
                # the set lives as long as its longest-lived member (7-day refresh tokens);
                # a relative TTL, so the service's clock (injected) and Redis's need not agree
                ttl = max(1, expires_at - now)
                pipe.expire(self.KEY, ttl, gt=True)
                pipe.expire(self.KEY, ttl, nx=True)
                await pipe.execute()
        except Exception as exc:
            self._report(False)
            raise DenylistUnavailable(f"{type(exc).__name__}: {exc}") from exc
        self._report(True)

    async def is_revoked(self, jti: str, now: int) -> bool:
        try:
            score = await self.client.zscore(self.KEY, jti)
        except Exception as exc:
            self._report(False)
            raise DenylistUnavailable(f"{type(exc).__name__}: {exc}") from exc
        self._report(True)
        return score is not None and score > now

    async def size(self) -> int:
        try:
            return int(await self.client.zcard(self.KEY))
        except Exception as exc:
            self._report(False)
            raise DenylistUnavailable(str(exc)) from exc

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.aclose()


# -- incident queries of the API and the status page ------------------------------------------

async def incident_rows(engine: AsyncEngine, where: IncidentFilter,
                        limit: int) -> list[dict[str, Any]]:
    """Incidents newest first (by number) with their model's name and Slack channel: one
    query, whatever the page size."""
    from storage.tables import incidents, models, slack_links

    query = (sa.select(incidents, models.c.name.label("model"),
                       slack_links.c.channel_id.label("slack_channel_id"))
             .select_from(incidents.join(models, models.c.id == incidents.c.model_id)
                          .outerjoin(slack_links, slack_links.c.incident_id == incidents.c.id))
             .order_by(incidents.c.number.desc()).limit(limit))
    if where.statuses:
        query = query.where(incidents.c.status.in_(where.statuses))
    if where.severities:
        query = query.where(incidents.c.severity.in_(where.severities))
    if where.model_id is not None:
        query = query.where(incidents.c.model_id == where.model_id)
    if where.since is not None:
        query = query.where(incidents.c.created_at >= where.since)
    if where.before_number is not None:
        query = query.where(incidents.c.number < where.before_number)
    async with engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(query)]


async def last_stakeholder_updates(engine: AsyncEngine, incident_ids: list[Any]) -> dict[Any, datetime]:
    """When each incident's last stakeholder update (``/incident update``) was posted: what the
    update cadence clock keeps (``incident_clocks.last_update_at``)."""
    from storage.timer_tables import incident_clocks

    if not incident_ids:
        return {}
    query = sa.select(incident_clocks.c.incident_id, incident_clocks.c.last_update_at).where(
        incident_clocks.c.incident_id.in_(incident_ids),
        incident_clocks.c.last_update_at.is_not(None))
    async with engine.connect() as conn:
        return {incident_id: at for incident_id, at in await conn.execute(query)}


class SqlApiQueries:
    """:class:`domain.api.ports.ApiQueries` on the bot's database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def incident_rows(self, where: IncidentFilter, limit: int) -> list[dict[str, Any]]:
        return await incident_rows(self.engine, where, limit)

    async def last_stakeholder_updates(self, incident_ids: list[Any]) -> dict[Any, datetime]:
        return await last_stakeholder_updates(self.engine, incident_ids)

    async def remember_resource(self, uow: Any, principal: str, key: str,
                                resource_id: str) -> None:
        from storage.uow import sql_connection

        await record_idempotent_resource(sql_connection(uow), principal, key, resource_id)


__all__ = ["ApiStore", "SqlApiQueries", "RedisDenylist", "Subscriber", "IncidentFilter",
           "KeyRow", "UserRow", "IdempotencyRow", "DenylistUnavailable", "enabled_subscribers",
           "enabled_subscribers_in",
           "record_idempotent_resource", "incident_rows", "last_stakeholder_updates"]

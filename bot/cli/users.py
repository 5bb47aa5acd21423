"""``incident-bot users``: API users who log in with a password (POST /auth/token).

Their roles are the governance roles (plus ``viewer``, read-only), so the RACI gates apply to
them over the API as in Slack. The password is read from a prompt (or ``--password-stdin``),
never from the command line, and stored bcrypt-hashed.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bot.settings import Settings
from domain.api.auth import API_ROLES, parse_name, parse_roles
from domain.model import AuditEvent, DomainError

T = TypeVar("T")
CLI_ACTOR_ID = "cli"


def register(subparsers: Any) -> None:
    users = subparsers.add_parser("users", help="API users (password login to the REST API)")
    sub = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add a user, or set the password and roles of one")
    add.add_argument("name")
    add.add_argument("--role", action="append", required=True, choices=API_ROLES,
                     help="repeatable; governance roles, or viewer (read-only)")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from stdin (scripts) instead of a prompt")
    add.set_defaults(func=_add)
    lst = sub.add_parser("list", help="list API users")
    lst.set_defaults(func=_list)
    disable = sub.add_parser("disable", help="disable a user (their refresh tokens stop working)")
    disable.add_argument("name")
    disable.set_defaults(func=_disable)


async def with_api(work: Callable[[Any, Any], Awaitable[T]]) -> T:
    """Run ``work(store, container-like parts)`` on a migrated database."""
    from domain.ports import SystemClock
    from storage import migrate
    from storage.api_repositories import ApiStore
    from storage.db import create_engine
    from storage.uow import uow_factory

    settings = Settings()
    engine = create_engine(settings.database_url)
    try:
        await migrate.upgrade(engine)
        clock = SystemClock()
        return await work(ApiStore(engine), (clock, uow_factory(engine, clock)))
    finally:
        await engine.dispose()


async def audit(parts: Any, action: str, resource_type: str, resource_id: str,
                details: dict[str, Any]) -> None:
    clock, make_uow = parts
    async with make_uow() as uow:
        await uow.audit.add(AuditEvent(occurred_at=clock.now(), actor=CLI_ACTOR_ID,
                                       actor_name="incident-bot cli", action=action,
                                       resource_type=resource_type, resource_id=resource_id,
                                       details=details))
        await uow.commit()


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise DomainError("The passwords differ.")
    return first


def _add(args: argparse.Namespace) -> int:
    from handlers.api.tokens import hash_password

    try:
        name, roles = parse_name(args.name), sorted(parse_roles(args.role))
        password = _password(args)
        if len(password) < 12:
            raise DomainError("Use a password of at least 12 characters.")
    except DomainError as exc:
        print(f"incident-bot: {exc}", file=sys.stderr)
        return 2
    hashed = hash_password(password)

    async def work(store: Any, parts: Any) -> bool:
        created = bool(await store.set_user(name, hashed, roles, parts[0].now()))
        await audit(parts, "api_user.created" if created else "api_user.updated", "api_user",
                    name, {"roles": roles})
        return created

    created = asyncio.run(with_api(work))
    print(f"{'added' if created else 'updated'} API user {name} (roles: {', '.join(roles)}); "
          "log in with POST /auth/token")
    return 0


def _list(_args: argparse.Namespace) -> int:
    users = asyncio.run(with_api(lambda store, _parts: store.users()))
    if not users:
        print("no API users (add one: incident-bot users add NAME --role incident_commander)")
    for u in users:
        state = f"disabled {u.disabled_at:%Y-%m-%d}" if u.disabled_at else "active"
        print(f"{u.name}\t{','.join(u.roles)}\t{state}")
    return 0


def _disable(args: argparse.Namespace) -> int:
    async def work(store: Any, parts: Any) -> bool:
        done = bool(await store.disable_user(args.name, parts[0].now()))
        if done:
            await audit(parts, "api_user.disabled", "api_user", args.name, {})
        return done

    if not asyncio.run(with_api(work)):
        print(f"no active API user {args.name}", file=sys.stderr)
        return 1
    print(f"disabled {args.name}; their refresh tokens are revoked, access tokens lapse within "
          "15 minutes")
    return 0

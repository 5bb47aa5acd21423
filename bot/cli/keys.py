"""``incident-bot keys``: long-lived, scoped API keys of service accounts (CI/CD, Airflow,
notebooks). Stored hashed; the key is shown once, at creation."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from bot.cli.users import audit, with_api
from domain.api.auth import API_ROLES, Scope, parse_name, parse_roles, parse_scopes
from domain.model import DomainError


def register(subparsers: Any) -> None:
    keys = subparsers.add_parser("keys", help="scoped API keys of service accounts")
    sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    create = sub.add_parser("create", help="create a key (printed once)")
    create.add_argument("name", nargs="?", default=None,
                        help="the service account, e.g. airflow (default: service)")
    create.add_argument("--scope", action="append", required=True,
                        choices=[s.value for s in Scope], help="repeatable")
    create.add_argument("--role", action="append", default=[], choices=API_ROLES,
                        help="governance role(s) for the RACI gates, e.g. ml_platform_sre")
    create.set_defaults(func=_create)
    lst = sub.add_parser("list", help="list keys (never their secrets)")
    lst.set_defaults(func=_list)
    revoke = sub.add_parser("revoke", help="revoke a key by id or every key of a name")
    revoke.add_argument("key")
    revoke.set_defaults(func=_revoke)


def _create(args: argparse.Namespace) -> int:
    from handlers.api.tokens import create_key

    try:
        name = parse_name(args.name or "service")
        parse_scopes(args.scope)
        roles = sorted(parse_roles(args.role)) if args.role else []
    except DomainError as exc:
        print(f"incident-bot: {exc}", file=sys.stderr)
        return 2

    async def work(store: Any, parts: Any) -> tuple[Any, str]:
        row, whole = await create_key(store, parts[0], name, args.scope, roles)
        await audit(parts, "api_key.created", "api_key", row.key_id,
                    {"name": name, "scopes": row.scopes, "roles": roles})
        return row, whole

    row, whole = asyncio.run(with_api(work))
    print(whole)
    print(f"API key {row.key_id} for {name} (scopes: {', '.join(row.scopes)}). It is shown only "
          "now; send it as `Authorization: Bearer <key>`.", file=sys.stderr)
    return 0


def _list(_args: argparse.Namespace) -> int:
    rows = asyncio.run(with_api(lambda store, _parts: store.keys()))
    if not rows:
        print("no API keys")
    for k in rows:
        state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
        print(f"{k.key_id}\t{k.name}\t{','.join(k.scopes)}\t{','.join(k.roles) or '-'}\t{state}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    async def work(store: Any, parts: Any) -> int:
        count = int(await store.revoke_key(args.key, parts[0].now()))
        if count:
            await audit(parts, "api_key.revoked", "api_key", args.key, {"count": count})
        return count

    count = asyncio.run(with_api(work))
    if not count:
        print(f"no active key {args.key}", file=sys.stderr)
        return 1
    print(f"revoked {count} key(s)")
    return 0

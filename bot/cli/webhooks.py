"""``incident-bot webhooks``: subscribers that receive incident events as signed JSON.

Each delivery carries ``X-Incident-Bot-Signature: t=<unix>,v1=<hex>``: HMAC-SHA256 with the
subscriber's secret over ``"<t>.<body>"``. Deliveries go through the outbox, one lane per
subscriber, retried with backoff; a subscriber failing WEBHOOK_DISABLE_AFTER_DAYS is disabled
with a notice in the incidents channel.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from typing import Any
from urllib.parse import urlparse

from bot.cli.users import audit, with_api
from domain.api.webhooks import EVENT_NAMES, parse_patterns
from domain.model import DomainError


def register(subparsers: Any) -> None:
    hooks = subparsers.add_parser("webhooks", help="incident events to HTTP subscribers")
    sub = hooks.add_subparsers(dest="webhooks_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="subscribe a URL (prints its signing secret once)")
    add.add_argument("url")
    add.add_argument("--events", default="incident.*",
                     help=f"comma-separated names or patterns; events: {', '.join(EVENT_NAMES)}")
    add.add_argument("--secret", default=None, help="default: a random one, printed")
    add.set_defaults(func=_add)
    lst = sub.add_parser("list", help="list subscribers and their state")
    lst.set_defaults(func=_list)
    remove = sub.add_parser("remove", help="remove a subscriber")
    remove.add_argument("id")
    remove.set_defaults(func=_remove)
    enable = sub.add_parser("enable", help="turn a disabled subscriber back on")
    enable.add_argument("id")
    enable.set_defaults(func=_enable)


def _add(args: argparse.Namespace) -> int:
    from storage.api_repositories import Subscriber

    url = urlparse(args.url)
    try:
        if url.scheme not in ("http", "https") or not url.netloc:
            raise DomainError(f"`{args.url}` is not an http(s) URL")
        events = parse_patterns(args.events.split(","))
    except DomainError as exc:
        print(f"incident-bot: {exc}", file=sys.stderr)
        return 2
    secret = args.secret or secrets.token_urlsafe(32)

    async def work(store: Any, parts: Any) -> str:
        sub = Subscriber(secrets.token_hex(8), args.url, events, secret, parts[0].now(),
                         None, None, None, None)
        await store.add_subscriber(sub)
        await audit(parts, "webhook.subscribed", "webhook_subscriber", sub.id,
                    {"url": args.url, "events": events})
        return sub.id

    sub_id = asyncio.run(with_api(work))
    print(f"subscriber {sub_id}: {args.url} ({', '.join(events)})")
    if not args.secret:
        print(f"signing secret (shown once): {secret}")
    return 0


def _list(_args: argparse.Namespace) -> int:
    subs = asyncio.run(with_api(lambda store, _parts: store.subscribers()))
    if not subs:
        print("no webhook subscribers")
    for s in subs:
        state = (f"disabled: {s.disabled_reason}" if s.disabled_at else
                 f"failing since {s.failing_since:%Y-%m-%d %H:%M}: {s.last_error}"
                 if s.failing_since else "ok")
        print(f"{s.id}\t{s.url}\t{','.join(s.events)}\t{state}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    async def work(store: Any, parts: Any) -> bool:
        done = bool(await store.remove_subscriber(args.id))
        if done:
            await audit(parts, "webhook.removed", "webhook_subscriber", args.id, {})
        return done

    if not asyncio.run(with_api(work)):
        print(f"no subscriber {args.id}", file=sys.stderr)
        return 1
    print(f"removed {args.id}")
    return 0


def _enable(args: argparse.Namespace) -> int:
    async def work(store: Any, parts: Any) -> bool:
        done = bool(await store.enable_subscriber(args.id))
        if done:
            await audit(parts, "webhook.enabled", "webhook_subscriber", args.id, {})
        return done

    if not asyncio.run(with_api(work)):
        print(f"no subscriber {args.id}", file=sys.stderr)
        return 1
    print(f"enabled {args.id}")
    return 0

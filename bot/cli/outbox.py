"""``incident-bot outbox``: see what Slack has not received, and send failed messages again.

A message Slack refused for good (``not_in_channel`` because nobody invited the bot to the
incidents channel, ``channel_not_found``...) is kept as ``failed``; once the cause is fixed,
``outbox retry --failed`` puts it back in line and a running bot delivers it, in order.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bot.settings import Settings


def register(subparsers: Any) -> None:
    outbox = subparsers.add_parser("outbox", help="messages waiting for Slack, and failed ones")
    sub = outbox.add_subparsers(dest="outbox_command", metavar="ACTION", required=True)
    lst = sub.add_parser("list", help="list failed (default) or pending messages")
    lst.add_argument("--status", choices=("failed", "pending"), default="failed")
    lst.add_argument("--limit", type=int, default=100)
    lst.set_defaults(func=_list)
    retry = sub.add_parser("retry", help="deliver failed messages again")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("--failed", action="store_true", help="every failed message")
    which.add_argument("ids", nargs="*", type=int, default=[], help="these message ids")
    retry.set_defaults(func=_retry)


async def _with_store(work: Any) -> Any:
    from domain.ports import SystemClock
    from storage.db import create_engine
    from storage.outbox_store import OutboxStore

    engine = create_engine(Settings().database_url)
    try:
        return await work(OutboxStore(engine), SystemClock().now())
    finally:
        await engine.dispose()


def _list(args: argparse.Namespace) -> int:
    rows = asyncio.run(_with_store(lambda store, _now: store.rows(args.status, args.limit)))
    if not rows:
        print(f"no {args.status} messages")
    for r in rows:
        incident = f"INC-{r['number']}" if r["number"] is not None else "-"
        print(f"{r['id']}\t{incident}\t{r['kind']}\tattempts={r['attempts']}\t"
              f"{r['created_at']:%Y-%m-%d %H:%M:%S}\t{(r['last_error'] or '')[:200]}")
    return 0


def _retry(args: argparse.Namespace) -> int:
    if not args.failed and not args.ids:
        print("say which: --failed, or message ids from `incident-bot outbox list`")
        return 2
    ids = None if args.failed else list(args.ids)
    count = asyncio.run(_with_store(lambda store, now: store.requeue(now, ids)))
    print(f"{count} message(s) back in line; a running bot delivers them within "
          "OUTBOX_POLL_SECONDS" if count else "no failed message matched")
    return 0

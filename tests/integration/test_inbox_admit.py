"""The intake's group commit (storage/inbox_store.py ``admit``) on SQLite and PostgreSQL: one
transaction per burst, each request's row id, None for a request already received (earlier,
or twice in the same burst), whatever the burst's size. The rows go as executemany
parameters, so one cached statement serves every burst size (benchmarks/ack_cost.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine.interfaces import CacheStats

from storage.inbox_store import InboxStore
from storage.tables import slack_inbox

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def items(*keys: str) -> list[tuple[str, str, str]]:
    return [(key, f"body of {key}", "application/json") for key in keys]


async def test_a_burst_gets_ids_and_a_replay_gets_none_at_every_size(engine) -> None:  # type: ignore[no-untyped-def]
    store = InboxStore(engine)
    first = await store.admit(items("a", "b", "a"), "me", NOW)  # "a" twice in one burst
    assert first[0] is not None and first[1] is not None and first[2] is None
    assert first[0] != first[1]
    again = await store.admit(items("b", "c"), "me", NOW)  # "b" received before
    assert again[0] is None and again[1] is not None
    many = await store.admit(items(*(f"k{i}" for i in range(57))), "me", NOW)
    assert None not in many and len(set(many)) == 57
    assert await store.admit([], "me", NOW) == []
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(slack_inbox.c.id, slack_inbox.c.request_key,
                                             slack_inbox.c.body, slack_inbox.c.owner))).all()
    by_key = {key: (row_id, body, owner) for row_id, key, body, owner in rows}
    assert len(rows) == 3 + 57
    assert by_key["a"] == (first[0], "body of a", "me")
    assert by_key["c"][0] == again[1]
    assert [by_key[f"k{i}"][0] for i in range(57)] == many


async def test_bursts_of_any_size_share_one_compiled_statement(engine) -> None:  # type: ignore[no-untyped-def]
    """Compiling a statement per burst size cost 12-14 ms of the event loop per burst, on
    every ack's path: the second and later bursts must reuse the compiled INSERT."""
    store = InboxStore(engine)
    hits: list[bool] = []

    def seen(_conn, _cursor, statement, _params, context, _many) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("INSERT INTO SLACK_INBOX"):
            hits.append(context.cache_hit is CacheStats.CACHE_HIT)

    await store.admit(items("warm-1", "warm-2"), "me", NOW)  # compiles the batched form
    await store.admit(items("warm-3"), "me", NOW)  # and the single-row one
    sa.event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        for size in (3, 7, 50, 1, 12):
            await store.admit(items(*(f"s{size}-{i}" for i in range(size))), "me", NOW)
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", seen)
    assert hits and all(hits), hits

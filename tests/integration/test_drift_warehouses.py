"""The drift pushdown beyond the bot's own databases (issue 20): DuckDB through its SQLAlchemy
dialect (duckdb-engine, a sync driver run in a worker thread) and MariaDB through aiomysql (an
async driver). On each, the PSI computed from the database's aggregates is within 1e-6 of the
in-memory engine's on the same rows, the KS within its stated bound, and only aggregates come
back: twice the rows, the very same bytes received."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from domain.drift import assess, assess_counts
from domain.drift_stats import NumericCounts
from storage.drift_pushdown import pushdown_from_url
from tests.integration.test_drift_sources import FEATURES, NOW, windows
from tests.warehouses import (
    assert_pushdown_matches_memory,
    create_mariadb_database,
    drop_mariadb_database,
    duckdb_url,
)

REFERENCE = (NOW - timedelta(days=31), NOW - timedelta(days=29))
CURRENT = (NOW - timedelta(days=1), NOW)


@pytest.fixture(params=["duckdb", "mariadb"])
async def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "duckdb":
        yield duckdb_url(tmp_path)
        return
    url = await create_mariadb_database()
    try:
        yield url
    finally:
        await drop_mariadb_database(url)


def scoring_log() -> sa.Table:
    # DOUBLE, not FLOAT: MariaDB's FLOAT is single precision, and the rows must be the same numbers
    return sa.Table("scoring_log", sa.MetaData(),
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("scored_at", sa.DateTime(timezone=True)), sa.Column("income", sa.Double()),
                    sa.Column("plan", sa.String(10)), sa.Column("children", sa.Integer()),
                    sa.Column("premium", sa.Boolean()), sa.Column("score", sa.Double()))


def log_rows(ref: dict[str, np.ndarray], cur: dict[str, np.ndarray], first_id: int,
             offset: timedelta) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for start, data in ((REFERENCE[0] + timedelta(days=1), ref), (CURRENT[0] + timedelta(hours=12), cur)):
        for i in range(len(data["score"])):
            income = float(data["income"][i])
            rows.append({"id": first_id + len(rows), "scored_at": start + offset + timedelta(seconds=i),
                         "income": None if np.isnan(income) else income, "plan": str(data["plan"][i]),
                         "children": int(data["children"][i]), "premium": bool(data["premium"][i]),
                         "score": float(data["score"][i])})
    return rows


async def insert(url: str, table: sa.Table, rows: list[dict[str, Any]], create: bool) -> None:
    """Through the URL's own driver: DuckDB's sync engine, MariaDB's async one."""
    if url.startswith("duckdb"):
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            if create:
                table.metadata.create_all(conn)
            conn.execute(table.insert(), rows)
        engine.dispose()
        return
    async_engine = create_async_engine(url)
    async with async_engine.begin() as aconn:
        if create:
            await aconn.run_sync(table.metadata.create_all)
        await aconn.execute(table.insert(), rows)
    await async_engine.dispose()


async def test_pushdown_on_duckdb_and_mariadb_matches_the_in_memory_engine_and_ships_only_aggregates(
        warehouse_url: str) -> None:
    n = 3000
    ref, cur = windows(n)
    table = scoring_log()
    await insert(warehouse_url, table, log_rows(ref, cur, 1, timedelta(0)), create=True)
    pushed = await pushdown_from_url(warehouse_url, "scoring_log", "scored_at", FEATURES, bins=10,
                                     reference=REFERENCE, current=CURRENT)
    assert_pushdown_matches_memory(pushed, ref, cur, FEATURES)
    features = FEATURES[:-1]
    income = pushed.counts["income"]  # its std (the Wasserstein scale) in double precision
    assert isinstance(income, NumericCounts)
    assert income.reference_std == pytest.approx(float(np.nanstd(ref["income"])), rel=1e-7)

    # the same rows again, half a second later: twice the rows, the same aggregates' size
    await insert(warehouse_url, table, log_rows(ref, cur, 2 * n + 1, timedelta(milliseconds=500)),
                 create=False)
    doubled = await pushdown_from_url(warehouse_url, "scoring_log", "scored_at", FEATURES, bins=10,
                                      reference=REFERENCE, current=CURRENT)
    assert (doubled.reference_rows, doubled.current_rows) == (2 * n, 2 * n)
    assert doubled.bytes_received == pushed.bytes_received
    again = assess_counts(doubled.counts, features=features, prediction="score",
                          reference_rows=doubled.reference_rows, current_rows=doubled.current_rows)
    twice = assess({k: np.concatenate([v, v]) for k, v in ref.items()},
                   {k: np.concatenate([v, v]) for k, v in cur.items()}, features=features, prediction="score")
    for name in features:
        assert again.feature_scores[name] == pytest.approx(twice.feature_scores[name], abs=1e-6), name


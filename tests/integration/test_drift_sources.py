"""Drift sources at scale (issue 20): a SQL table assessed by the database (only aggregates come
back, the PSI within 1e-6 of the in-memory engine's on the same rows, KS within its stated bound),
on SQLite and PostgreSQL; and files streamed in a memory budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from domain.drift import DriftInputError, assess, assess_counts
from storage.db import create_engine
from storage.drift_files import columns_of, stream_counts
from storage.drift_pushdown import pushdown_from_url
from tests.warehouses import assert_pushdown_matches_memory

NOW = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
FEATURES = ["income", "plan", "children", "premium", "score"]


def windows(n: int, seed: int = 5) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    ref = {"income": rng.normal(50, 10, n), "plan": rng.choice(["basic", "plus", "gold"], n),
           "children": rng.integers(0, 4, n), "premium": rng.random(n) < 0.2, "score": rng.beta(2, 5, n)}
    cur = {"income": rng.normal(55, 12, n), "plan": rng.choice(["basic", "plus", "new"], n),
           "children": rng.integers(0, 5, n), "premium": rng.random(n) < 0.4, "score": rng.beta(2.5, 5, n)}
    ref["income"][::97] = np.nan  # missing values: their own bin
    return ref, cur


async def test_pushdown_matches_the_in_memory_engine_and_ships_only_aggregates(database_url: str) -> None:
    n = 4000
    ref, cur = windows(n)
    engine = create_engine(database_url)
    log = sa.Table("scoring_log", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                   sa.Column("scored_at", sa.DateTime(timezone=True)), sa.Column("income", sa.Float()),
                   sa.Column("plan", sa.String(10)), sa.Column("children", sa.Integer()),
                   sa.Column("premium", sa.Boolean()), sa.Column("score", sa.Float()))
    rows = []
    for start, data in ((NOW - timedelta(days=30), ref), (NOW - timedelta(hours=12), cur)):
        for i in range(n):
            income = float(data["income"][i])
            rows.append({"scored_at": start + timedelta(seconds=i),
                         "income": None if np.isnan(income) else income,
                         "plan": str(data["plan"][i]), "children": int(data["children"][i]),
                         "premium": bool(data["premium"][i]), "score": float(data["score"][i])})
    async with engine.begin() as conn:
        await conn.run_sync(log.metadata.create_all)
        await conn.execute(log.insert(), rows)
    await engine.dispose()
    pushed = await pushdown_from_url(database_url, "scoring_log", "scored_at", FEATURES, bins=10,
                                     reference=(NOW - timedelta(days=31), NOW - timedelta(days=29)),
                                     current=(NOW - timedelta(days=1), NOW))
    remote = assert_pushdown_matches_memory(pushed, ref, cur, FEATURES)
    assert {remote.features[name].kind for name in FEATURES[:-1]} == {"numeric", "categorical"}
    assert remote.features["children"].kind == "categorical"  # an integer with 4 values


async def test_a_mistyped_column_or_table_is_one_line(database_url: str) -> None:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE t (scored_at TIMESTAMP, income FLOAT)"))
    await engine.dispose()
    kwargs = {"bins": 10, "reference": (NOW - timedelta(days=2), NOW - timedelta(days=1)),
              "current": (NOW - timedelta(days=1), NOW)}
    with pytest.raises(DriftInputError, match=r"t: no column 'incme' \(it has: scored_at, income\)"):
        await pushdown_from_url(database_url, "t", "scored_at", ["incme"], **kwargs)
    with pytest.raises(DriftInputError, match="no table 'nope'"):
        await pushdown_from_url(database_url, "nope", "scored_at", ["income"], **kwargs)


def test_streamed_files_in_a_tight_budget_sample_the_edges_and_say_so(tmp_path: Path) -> None:
    ref, cur = windows(120_000, seed=9)
    pq.write_table(pa.table(ref), tmp_path / "ref.parquet", row_group_size=10_000)
    pq.write_table(pa.table(cur), tmp_path / "cur.parquet", row_group_size=10_000)
    features = FEATURES[:-1]
    local = assess(ref, cur, features=features, prediction="score")
    exact = stream_counts(str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"), FEATURES, bins=10)
    tight = stream_counts(str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"), FEATURES, bins=10,
                          memory_mb=2)
    for streamed, tolerance in ((exact, 1e-6), (tight, 0.01)):
        a = assess_counts(streamed.counts, features=features, prediction="score",
                          reference_rows=streamed.reference_rows, current_rows=streamed.current_rows)
        for name in features:
            assert a.feature_scores[name] == pytest.approx(local.feature_scores[name], abs=tolerance), name
    assert tight.counts["income"].edges_note.startswith("edges from a ")  # sampled, and said
    assert exact.counts["income"].edges_note == ""
    assert (tight.reference_rows, tight.current_rows) == (120_000, 120_000)


def test_a_csv_header_is_read_from_its_first_block_not_the_whole_file(tmp_path: Path) -> None:
    ref, _ = windows(200_000)
    path = tmp_path / "big.csv"
    pacsv.write_csv(pa.table(ref), path)
    with path.open("a") as handle:
        handle.write("not,a,valid,row,of,this,file,at,all\n")  # a whole-file read would fail here
    assert columns_of(str(path)) == FEATURES


async def test_a_warehouse_without_its_dialect_installed_is_named_in_one_line() -> None:
    with pytest.raises(DriftInputError,
                       match=r"drift source url 'snowflake://reader@acme/ml'.*install its SQLAlchemy"):
        await pushdown_from_url("snowflake://reader@acme/ml", "log", "ts", ["x"], bins=10,
                                reference=(NOW - timedelta(days=2), NOW - timedelta(days=1)),
                                current=(NOW - timedelta(days=1), NOW))

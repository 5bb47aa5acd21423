"""Warehouses the drift pushdown is tested on besides the bot's own SQLite and PostgreSQL: a
DuckDB file, a fresh MariaDB database per test, and an S3 stand-in (moto's server on loopback);
and the one check of what a pushdown must give on any of them
(:func:`assert_pushdown_matches_memory`).

MariaDB comes from ``TEST_MARIADB_URL`` (default: the local server, root, database ``test``).
As with PostgreSQL (tests/databases.py), an unreachable server skips its tests with the reason,
except under ``CI=true`` where they fail: CI must prove the path.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import numpy as np

    from domain.drift import DriftAssessment
    from storage.drift_pushdown import PushedDown

MARIADB_URL = os.environ.get("TEST_MARIADB_URL", "mysql+aiomysql://root@127.0.0.1:3306/test")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _skip_or_fail(what: str, error: str, hint: str) -> None:
    if _in_ci():
        pytest.fail(f"{what} must be reachable in CI: {error}")
    pytest.skip(f"no {what} ({error}); {hint}")


async def _mariadb_admin(statement: str) -> None:
    import aiomysql
    from sqlalchemy.engine import make_url

    url = make_url(MARIADB_URL)
    conn = await asyncio.wait_for(aiomysql.connect(host=url.host or "127.0.0.1", port=url.port or 3306,
                                                   user=url.username or "root", password=url.password or "",
                                                   db=url.database or "test"), timeout=5)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(statement)
    finally:
        conn.close()


async def create_mariadb_database() -> str:
    """A fresh, empty database on the MariaDB server; its SQLAlchemy URL (aiomysql)."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    try:
        await _mariadb_admin(f"CREATE DATABASE `{name}`")
    except Exception as exc:  # any failure means: no MariaDB here
        _skip_or_fail(f"MariaDB at {MARIADB_URL}", f"{type(exc).__name__}: {exc}", "set TEST_MARIADB_URL")
    return MARIADB_URL.rsplit("/", 1)[0] + f"/{name}"


async def drop_mariadb_database(url: str) -> None:
    await _mariadb_admin(f"DROP DATABASE IF EXISTS `{url.rsplit('/', 1)[1]}`")


def duckdb_url(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"


def s3_server() -> Iterator[str]:
    """moto's S3 server on a free loopback port for the duration of a fixture; its endpoint URL.
    Credentials are moto's fakes, set in the environment pyarrow's S3 filesystem reads."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        _skip_or_fail("moto server", str(exc), "pip install 'moto[server]'")
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # not a line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def assert_pushdown_matches_memory(pushed: PushedDown, reference: dict[str, np.ndarray],
                                   current: dict[str, np.ndarray], columns: list[str]) -> DriftAssessment:
    """The drift pushdown's promise on whichever database computed ``pushed`` (issue 20): from
    the aggregates of the ``reference`` and ``current`` rows (``columns``, the last one the
    prediction), each feature's PSI within 1e-6 of the in-memory engine's on the same rows and of
    the same kind, the KS within the bound the assessment states, and only aggregates received
    (under a tenth of the rows' bytes). Returns the assessment made from the aggregates."""
    from scipy import stats

    from domain.drift import assess, assess_counts

    *features, prediction = columns
    remote = assess_counts(pushed.counts, features=features, prediction=prediction,
                           reference_rows=pushed.reference_rows, current_rows=pushed.current_rows,
                           source="sql pushdown")
    local = assess(reference, current, features=features, prediction=prediction)
    rows = (len(reference[prediction]), len(current[prediction]))
    assert (pushed.reference_rows, pushed.current_rows) == rows
    for name in features:
        assert remote.feature_scores[name] == pytest.approx(local.feature_scores[name], abs=1e-6), name
        assert remote.features[name].kind == local.features[name].kind, name
    exact_ks = stats.ks_2samp(reference[prediction], current[prediction]).statistic
    bound = float(remote.ks_note.split("within +")[1])
    assert remote.ks_statistic is not None
    assert remote.ks_statistic - 1e-9 <= exact_ks <= remote.ks_statistic + bound + 1e-9
    # edges, bin and category counts: a fixed ~20 KB whatever the row count, not the rows' bytes
    assert pushed.bytes_received < 0.1 * sum(rows) * len(columns) * 8
    return remote

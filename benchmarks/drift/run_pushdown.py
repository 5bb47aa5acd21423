"""One timed run of the SQL pushdown (storage.drift_pushdown) on the benchmark table (prints one
JSON line): the database computes, the process receives aggregates (bytes_received)."""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import scipy.stats  # noqa: E402, F401  (imported before the clock starts, as Evidently's are)

from domain.drift import assess_counts  # noqa: E402
from storage.drift_pushdown import pushdown_from_url  # noqa: E402

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def main(url: str, table: str, rows: str, features: str) -> None:
    n, names = int(rows), [f"f{i:02d}" for i in range(int(features))]
    reference = (EPOCH, EPOCH + timedelta(seconds=n))
    current = (EPOCH + timedelta(seconds=n), EPOCH + timedelta(seconds=2 * n))
    started = time.perf_counter()
    pushed = asyncio.run(pushdown_from_url(url, table, "ts", [*names, "prediction"], bins=10,
                                           reference=reference, current=current))
    result = assess_counts(pushed.counts, features=names, prediction="prediction",
                           reference_rows=pushed.reference_rows, current_rows=pushed.current_rows)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "psi_composite": result.psi_composite, "feature_scores": result.feature_scores,
                      "drifted": sum(s > 0.15 for s in result.feature_scores.values()),
                      "bytes_received": pushed.bytes_received, "queries": pushed.queries,
                      "query_seconds": [round(q, 2) for q in pushed.query_seconds],
                      "rows": [pushed.reference_rows, pushed.current_rows], "ks_note": result.ks_note}))


if __name__ == "__main__":
    main(*sys.argv[1:])

"""One timed run of domain.drift.assess on the benchmark files (prints one JSON line)."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import scipy.stats  # noqa: E402, F401  (imported before the clock starts, as Evidently's are)

from domain.drift import assess  # noqa: E402


def main(directory: str) -> None:
    ref = {k: v.to_numpy() for k, v in zip(*_columns(Path(directory) / "reference.parquet"), strict=True)}
    cur = {k: v.to_numpy() for k, v in zip(*_columns(Path(directory) / "current.parquet"), strict=True)}
    features = [c for c in ref if c != "prediction"]
    started = time.perf_counter()
    result = assess(ref, cur, features=features, prediction="prediction", ks_per_feature=True)
    seconds = time.perf_counter() - started
    drifted = sum(score > 0.15 for score in result.feature_scores.values())
    print(json.dumps({"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "psi_composite": result.psi_composite, "drifted": drifted,
                      "feature_scores": result.feature_scores}))


def _columns(path: Path) -> tuple[list[str], list[object]]:
    table = pq.read_table(path)
    return table.column_names, [table.column(c) for c in table.column_names]


if __name__ == "__main__":
    main(sys.argv[1])

"""One timed run of the streaming file engine (storage.drift_files) on the benchmark files, in
the budget of DRIFT_MEMORY_MB (prints one JSON line). Reading is part of the time: streaming
is reading."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import scipy.stats  # noqa: E402, F401  (imported before the clock starts, as Evidently's are)

from domain.drift import assess_counts  # noqa: E402
from storage.drift_files import columns_of, stream_counts  # noqa: E402


def main(directory: str, suffix: str = "parquet") -> None:
    ref, cur = str(Path(directory) / f"reference.{suffix}"), str(Path(directory) / f"current.{suffix}")
    features = [c for c in columns_of(ref) if c not in ("prediction", "ts")]
    memory_mb = int(os.environ.get("DRIFT_MEMORY_MB") or 512)
    started = time.perf_counter()
    streamed = stream_counts(ref, cur, [*features, "prediction"], bins=10, memory_mb=memory_mb)
    result = assess_counts(streamed.counts, features=features, prediction="prediction",
                           reference_rows=streamed.reference_rows, current_rows=streamed.current_rows)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "psi_composite": result.psi_composite, "feature_scores": result.feature_scores,
                      "drifted": sum(s > 0.15 for s in result.feature_scores.values()),
                      "sampled": sum(bool(getattr(c, "edges_note", "")) for c in streamed.counts.values()),
                      "memory_mb": memory_mb}))


if __name__ == "__main__":
    main(*sys.argv[1:])

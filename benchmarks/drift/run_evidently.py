"""One timed run of Evidently's DataDriftPreset on the benchmark files (prints one JSON line).
Runs in benchmarks/.venv-evidently, never in the bot's environment."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import evidently
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset


def main(directory: str) -> None:
    ref = pd.read_parquet(Path(directory) / "reference.parquet")
    cur = pd.read_parquet(Path(directory) / "current.parquet")
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(cur, ref)
    seconds = time.perf_counter() - started
    counts = [m["value"]["count"] for m in snapshot.dict()["metrics"]
              if str(m.get("metric_name", "")).startswith("DriftedColumnsCount")]
    drifted = int(counts[0]) if counts else -1
    print(json.dumps({"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "version": evidently.__version__, "drifted": drifted}))


if __name__ == "__main__":
    main(sys.argv[1])

"""Drift engine vs Evidently on the same data, same run: 50 numeric features, 1,000,000
reference and 1,000,000 current rows, plus a prediction column.

    .venv/bin/python benchmarks/drift/run_benchmark.py [--rows 1000000] [--features 50] [--repeat 3]

Ours: domain.drift.assess (PSI for every feature, scipy ks_2samp on predictions, KS per feature).
Evidently: its DataDriftPreset on the same columns (a separate venv, benchmarks/.venv-evidently,
made by `make bench-drift`; Evidently is a benchmark-only dependency). Each side runs in its own
process on the same Parquet files; the figure is the compute (data already in memory), and peak
RSS is the process's. Target (issue 4): at least 10x faster than Evidently, under 3 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EVIDENTLY_PYTHON = ROOT / "benchmarks" / ".venv-evidently" / "bin" / "python"


def make_data(directory: Path, rows: int, features: int) -> None:
    rng = np.random.default_rng(2026)
    for name, shift in (("reference", 0.0), ("current", 1.0)):
        columns = {}
        for i in range(features):
            drift = shift * (0.5 if i < 5 else 0.0)  # five features drift, the rest do not
            columns[f"f{i:02d}"] = rng.normal(loc=drift, scale=1.0 + 0.1 * (i % 3), size=rows)
        columns["prediction"] = rng.beta(2 + shift * 0.3, 5, size=rows)
        pq.write_table(pa.table(columns), directory / f"{name}.parquet")


def run(python: Path, script: str, directory: Path) -> dict[str, float]:
    out = subprocess.run([str(python), str(HERE / script), str(directory)], capture_output=True,
                         text=True, check=False, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{script} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-evidently", action="store_true", help="only time our engine")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        make_data(directory, args.rows, args.features)
        ours = [run(Path(sys.executable), "run_ours.py", directory) for _ in range(args.repeat)]
        if args.skip_evidently:
            theirs = []
        elif EVIDENTLY_PYTHON.exists():
            theirs = [run(EVIDENTLY_PYTHON, "run_evidently.py", directory) for _ in range(args.repeat)]
        else:
            theirs = []
            print(f"Evidently not installed ({EVIDENTLY_PYTHON}); run `make bench-drift` first")
    ours_s = statistics.median(r["seconds"] for r in ours)
    print(f"{args.features} features, {args.rows:,} reference + {args.rows:,} current rows, "
          f"median of {args.repeat} runs")
    print(f"{'engine':28} {'compute s':>10} {'peak RSS MB':>12}  result")
    print(f"{'incident-bot (domain.drift)':28} {ours_s:>10.2f} {max(r['rss_mb'] for r in ours):>12.0f}  "
          f"psi_composite {ours[0]['psi_composite']:.4f}, drifted features {ours[0]['drifted']}")
    if theirs:
        theirs_s = statistics.median(r["seconds"] for r in theirs)
        print(f"{'Evidently ' + theirs[0]['version'] + ' DataDriftPreset':28} {theirs_s:>10.2f} "
              f"{max(r['rss_mb'] for r in theirs):>12.0f}  drifted columns {theirs[0]['drifted']}")
        print(f"speed-up: {theirs_s / ours_s:.1f}x (target >= 10x); ours under 3 s: {ours_s < 3}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

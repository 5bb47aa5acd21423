"""Drift windows streamed from Parquet or CSV files in bounded memory (issue 20).

Reads with ``pyarrow.dataset``: Parquet by row groups (pages streamed, no pre-buffering), CSV by
blocks, only the needed columns; local paths, directories of files, and ``s3://`` / ``gs://``
URIs through pyarrow's filesystems (credentials and endpoint from the environment, as pyarrow
reads them: ``AWS_*`` and ``AWS_ENDPOINT_URL`` for S3 and S3-compatible stores,
``GOOGLE_APPLICATION_CREDENTIALS`` for GCS). ``s3://`` is tested against moto's S3 server
(tests/e2e/test_drift_s3.py: ``drift check`` and the drift job, Parquet and CSV); ``gs://`` is
not exercised (no local GCS stand-in on PyPI).

Two passes, whatever the row count:

1. the reference: categorical counts, and per numeric column a sample for the quantile edges
   that is the whole column while it fits its share of ``memory_mb`` and otherwise an adaptive
   Bernoulli sample (halved as it fills: every row kept with the same probability, seeded, so
   the run is reproducible). Exact edges when nothing was dropped, else edges whose rank error is
   at most ``sqrt(ln(200) / 2n)`` with 99 % confidence (DKW) for a sample of ``n`` rows, said in
   the feature's note; the PSI is exact for the edges it uses either way;
2. the current window (and the reference again only if it was sampled): rows per grid bin and
   per category. Only counts are kept, so memory is the batch plus the samples.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from domain.drift import LOW_CARDINALITY, DriftInputError
from domain.drift_stats import (
    MISSING,
    CategoryCounts,
    Kind,
    NumericCounts,
    category_label,
    grid_levels,
    grid_per_bin,
)

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa
    import pyarrow.dataset as ds

SAMPLE_SHARE = 0.25  # of the memory budget, for the reference samples of the numeric columns
READ_SHARE = 0.2  # of the budget, for what the reader decodes at once (a row group's columns)
DECODE_FACTOR = 3  # bytes held per decoded byte: compressed pages, decoded column, numpy copy
Progress = Callable[[str, int, int | None], None]  # (phase, rows done, rows expected or None)


def open_dataset(path: str) -> ds.Dataset:
    """A dataset over a file, a directory or an ``s3://`` / ``gs://`` URI, by its extension."""
    import pyarrow.dataset as ds

    fmt = "parquet" if path.rstrip("/").endswith((".parquet", ".pq")) else "csv"
    if "://" not in path:
        from pathlib import Path

        if not Path(path).exists():
            raise DriftInputError(f"{path}: no such file")
        if Path(path).is_dir():
            fmt = "csv" if any(Path(path).glob("*.csv")) else "parquet"
    try:
        return ds.dataset(path, format=fmt)
    except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
        raise DriftInputError(f"{path}: {str(exc).splitlines()[0]}") from exc


def columns_of(path: str) -> list[str]:
    """The column names, from the Parquet footer or the CSV's first block (not the whole file)."""
    return list(open_dataset(path).schema.names)


def check_columns(path: str, dataset: ds.Dataset, columns: Sequence[str]) -> None:
    """One line naming a mistyped column and the columns there are (no pyarrow traceback)."""
    names = dataset.schema.names
    missing = [c for c in columns if c not in names]
    if missing:
        shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        raise DriftInputError(f"{path}: no column {', '.join(repr(c) for c in missing)} (it has: {shown})")


def schema_kind(dtype: pa.DataType) -> Kind | None:
    """Numeric / categorical from the Arrow type; None for integers (decided by cardinality)."""
    import pyarrow.types as pt

    if pt.is_floating(dtype) or pt.is_decimal(dtype):
        return "numeric"
    if pt.is_integer(dtype):
        return None
    return "categorical"


@dataclass
class _Sample:
    """The reference values of one numeric column: all of them, or a seeded Bernoulli sample."""

    cap: int
    seed: int
    parts: list[Any] = field(default_factory=list)
    stored: int = 0
    rate: float = 1.0
    missing: int = 0
    total: float = 0.0
    squares: float = 0.0
    seen: int = 0
    distinct: dict[float, int] | None = None  # integers: value counts while there are few values

    def add(self, values: np.ndarray) -> None:
        import numpy as np

        nan = np.isnan(values)
        self.missing += int(nan.sum())
        valid = values[~nan] if nan.any() else values
        self.seen += valid.size
        self.total += float(valid.sum())
        self.squares += float(np.dot(valid, valid))
        if self.distinct is not None:
            labels, counts = np.unique(valid, return_counts=True)
            for value, n in zip(labels.tolist(), counts.tolist(), strict=True):
                self.distinct[value] = self.distinct.get(value, 0) + n
            if len(self.distinct) > LOW_CARDINALITY:
                self.distinct = None
        rng = np.random.default_rng([self.seed, self.seen])
        kept = valid if self.rate >= 1.0 else valid[rng.random(valid.size) < self.rate]
        self.parts.append(kept.copy())
        self.stored += kept.size
        while self.stored > self.cap:  # halve: every value stays with the same probability
            self.rate /= 2
            self.parts = [p[rng.random(p.size) < 0.5] for p in self.parts]
            self.stored = sum(p.size for p in self.parts)

    def values(self) -> np.ndarray:
        import numpy as np

        return np.concatenate(self.parts) if self.parts else np.empty(0)

    def std(self) -> float:
        if self.seen < 2:
            return 0.0
        mean = self.total / self.seen
        return math.sqrt(max(self.squares / self.seen - mean * mean, 0.0))


def _batches(dataset: ds.Dataset, columns: Sequence[str], budget: int) -> Iterator[pa.RecordBatch]:
    """The dataset's batches, file by file. Parquet: by row group, in groups of columns small enough
    that a row group of them fits ``budget`` bytes (a batch may hold a subset of the columns).
    CSV: by blocks of at most ``budget / DECODE_FACTOR`` bytes."""
    import pyarrow.csv as pacsv
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    fs = dataset.filesystem
    for path in dataset.files:
        if isinstance(dataset.format, ds.ParquetFileFormat):
            reader = pq.ParquetFile(fs.open_input_file(path), pre_buffer=False)
            meta = reader.metadata
            group_rows = max((meta.row_group(i).num_rows for i in range(meta.num_row_groups)), default=1)
            per_group = max(1, budget // (max(group_rows, 1) * 8 * DECODE_FACTOR))
            batch_rows = max(1024, budget // (8 * DECODE_FACTOR * min(per_group, len(columns))))
            for start in range(0, len(columns), per_group):
                group = list(columns[start:start + per_group])
                yield from reader.iter_batches(batch_size=batch_rows, columns=group, use_threads=False)
            continue
        types = {c: dataset.schema.field(c).type for c in columns}
        block = max(1 << 16, min(budget // DECODE_FACTOR, 64 << 20))
        stream = fs.open_input_stream(path, compression="detect")
        yield from pacsv.open_csv(stream, read_options=pacsv.ReadOptions(block_size=block),
                                  convert_options=pacsv.ConvertOptions(include_columns=list(columns),
                                                                       column_types=types))


def _as_float(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        floats = pc.cast(array, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DriftInputError(f"a numeric column holds non-numbers ({str(exc).splitlines()[0]})") from exc
    return floats.to_numpy(zero_copy_only=False)


def _add_categories(counts: dict[str, int], array: pa.Array) -> None:
    import pyarrow.compute as pc

    for item in pc.value_counts(array).to_pylist():
        label = category_label(item["values"])
        counts[label] = counts.get(label, 0) + int(item["counts"])


@dataclass
class StreamedWindows:
    counts: dict[str, NumericCounts | CategoryCounts]
    reference_rows: int
    current_rows: int
    kinds: dict[str, Kind]


def stream_counts(reference: str, current: str, columns: Sequence[str], *, bins: int,
                  kinds: Mapping[str, Kind] | None = None, memory_mb: int = 1024,
                  progress: Progress | None = None) -> StreamedWindows:
    """Counts per feature of both files, in two streaming passes (see the module docstring)."""
    import numpy as np

    ref_ds, cur_ds = open_dataset(reference), open_dataset(current)
    check_columns(reference, ref_ds, columns)
    check_columns(current, cur_ds, columns)
    kinds = dict(kinds or {})
    declared = {c: kinds.get(c) or schema_kind(ref_ds.schema.field(c).type) for c in columns}
    numeric = [c for c in columns if declared[c] != "categorical"]
    budget = memory_mb * 1024 * 1024
    cap = max(10_000, int(budget * SAMPLE_SHARE / 8 / max(len(numeric), 1)))
    read_bytes = int(budget * READ_SHARE)  # what the reader may decode at once
    samples = {c: _Sample(cap, seed=i, distinct={} if declared[c] is None else None)
               for i, c in enumerate(numeric)}
    ref_cats: dict[str, dict[str, int]] = {c: {} for c in columns if c not in samples}
    ref_rows = _scan(ref_ds, reference, columns, read_bytes, "reference", progress,
                     lambda batch: _first_pass(batch, samples, ref_cats))
    for name, sample in samples.items():  # integers with few values are categories after all
        if sample.distinct is not None:
            ref_cats[name] = {category_label(v): n for v, n in sample.distinct.items()}
            if sample.missing:
                ref_cats[name][MISSING] = sample.missing
    numeric = [c for c in numeric if c not in ref_cats]
    edges = {}
    for name in numeric:
        values = samples[name].values()
        if values.size == 0:
            raise DriftInputError(f"{reference}: column {name!r} has no numeric values")
        edges[name] = np.quantile(values, grid_levels(bins))
    exact = all(samples[c].rate >= 1.0 for c in numeric)
    ref_bins = {c: _grid_counts(samples[c].values(), edges[c]) for c in numeric} if exact else \
        {c: np.zeros(len(edges[c]) + 1, dtype=np.int64) for c in numeric}
    ref_missing = {c: samples[c].missing for c in numeric}
    if not exact:  # the samples only gave the edges: count the reference again
        for c in numeric:
            samples[c].parts = []
        _scan(ref_ds, reference, numeric, read_bytes, "reference (counts)", progress,
              lambda batch: _count_batch(batch, edges, ref_bins, {}, None))
    cur_bins = {c: np.zeros(len(edges[c]) + 1, dtype=np.int64) for c in numeric}
    cur_missing = dict.fromkeys(numeric, 0)
    cur_cats: dict[str, dict[str, int]] = {c: {} for c in ref_cats}
    cur_rows = _scan(cur_ds, current, columns, read_bytes, "current", progress,
                     lambda batch: _count_batch(batch, edges, cur_bins, cur_cats, cur_missing))
    counts: dict[str, NumericCounts | CategoryCounts] = {
        c: CategoryCounts(ref_cats[c], cur_cats[c]) for c in ref_cats}
    for c in numeric:
        sample = samples[c]
        note = "" if sample.rate >= 1.0 else (
            f"edges from a {sample.stored:,}-row sample of the reference (rank error at most "
            f"{math.sqrt(math.log(200) / (2 * max(sample.stored, 1))):.4f} at 99 %)")
        counts[c] = NumericCounts(edges[c], ref_bins[c], cur_bins[c], ref_missing[c], cur_missing[c],
                                  grid_per_bin(bins), note, sample.std())
    final_kinds: dict[str, Kind] = {c: ("categorical" if c in ref_cats else "numeric") for c in columns}
    return StreamedWindows(counts, ref_rows, cur_rows, final_kinds)


def _first_pass(batch: pa.RecordBatch, samples: dict[str, _Sample], cats: dict[str, dict[str, int]]) -> None:
    for name in batch.schema.names:
        if name in samples:
            samples[name].add(_as_float(batch.column(name)))
        elif name in cats:
            _add_categories(cats[name], batch.column(name))


def _grid_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Rows per grid bin, closed on the right: bin = number of edges strictly below the value."""
    import numpy as np

    return np.bincount(np.searchsorted(edges, values, side="left"), minlength=edges.size + 1)


def _count_batch(batch: pa.RecordBatch, edges: dict[str, np.ndarray], bins: dict[str, np.ndarray],
                 cats: dict[str, dict[str, int]], missing: dict[str, int] | None) -> None:
    import numpy as np

    for name in batch.schema.names:
        if name in edges:
            values = _as_float(batch.column(name))
            nan = np.isnan(values)
            if missing is not None:
                missing[name] += int(nan.sum())
            bins[name] += _grid_counts(values[~nan], edges[name])
        elif name in cats:
            _add_categories(cats[name], batch.column(name))


def _scan(dataset: ds.Dataset, path: str, columns: Sequence[str], budget: int, phase: str,
          progress: Progress | None, handle: Callable[[pa.RecordBatch], None]) -> int:
    """Feed every batch to ``handle``; the rows (counted on the first column's batches)."""
    import pyarrow as pa

    expected = _expected_rows(dataset)
    rows = done = 0
    try:
        for batch in _batches(dataset, columns, budget):
            handle(batch)
            done += batch.num_rows * batch.num_columns
            if columns[0] in batch.schema.names:
                rows += batch.num_rows
            if progress is not None:
                progress(phase, done // len(columns), expected)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise DriftInputError(f"{path}: {str(exc).splitlines()[0]}") from exc
    if rows == 0:
        raise DriftInputError(f"{path}: no rows")
    return rows


def _expected_rows(dataset: ds.Dataset) -> int | None:
    """Parquet: from the footers (free). CSV: unknown until read."""
    import pyarrow.dataset as ds

    if isinstance(dataset.format, ds.ParquetFileFormat):
        return int(dataset.count_rows())
    return None


class TerminalProgress:
    """rows/s and ETA on stderr, only when stderr is a terminal (logs and CI stay clean)."""

    def __init__(self, stream: Any = None, every: float = 0.5) -> None:
        self.stream = stream or sys.stderr
        self.every = every
        self.started: dict[str, float] = {}
        self.shown = 0.0

    def __call__(self, phase: str, rows: int, expected: int | None) -> None:
        if not self.stream.isatty():
            return
        now = time.monotonic()
        start = self.started.setdefault(phase, now)
        if now - self.shown < self.every and rows != expected:
            return
        self.shown = now
        rate = rows / max(now - start, 1e-9)
        eta = f", ETA {max(expected - rows, 0) / rate:,.0f} s" if expected and rate > 0 else ""
        total = f"/{expected:,}" if expected else ""
        print(f"\r{phase}: {rows:,}{total} rows, {rate:,.0f} rows/s{eta}   ", end="", file=self.stream,
              flush=True)
        if expected and rows >= expected:
            print(file=self.stream)


def read_columns(path: str, columns: Sequence[str]) -> dict[str, np.ndarray]:
    """The whole of some columns as numpy arrays (the in-memory engine: small files)."""
    import pyarrow as pa

    dataset = open_dataset(path)
    check_columns(path, dataset, columns)
    try:
        table = dataset.to_table(columns=list(columns))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise DriftInputError(f"{path}: {str(exc).splitlines()[0]}") from exc
    return {name: table.column(name).to_numpy() for name in columns}

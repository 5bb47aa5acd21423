"""Drift math: the right test per feature, PSI for every one, KS on predictions. numpy +
scipy, no I/O.

PSI (population stability index) of one numeric feature, with ``bins`` bins whose edges are
the reference's quantiles at levels ``j / bins``::

    PSI = sum_i (cur_i - ref_i) * ln(cur_i / ref_i)

over the bins' shares of rows. Values below the reference minimum fall in the first bin and
above its maximum in the last; NaN / missing values form a bin of their own; a share of 0 is
replaced by ``EPSILON`` (1e-4) before the logarithm, so an empty bin costs a finite, large
amount instead of infinity. Categorical features: one bucket per reference category (the 30
most frequent), ``<other>`` for the rest and for categories the reference never saw, and
``<missing>``. Composite PSI is the weighted mean of the feature PSIs (equal weights unless
configured).

The second test depends on the feature's kind (:mod:`domain.drift_stats`), and can be chosen
per feature: numeric (floats, and integers with more than ``LOW_CARDINALITY`` distinct
reference values) get KS (default) or Wasserstein; categorical (strings, booleans,
low-cardinality integers) get chi-square (windows up to 1,000 rows) or Jensen-Shannon. In
memory the per-feature KS is taken on a 4,096-bin histogram over the pooled range (its error
bound, the largest bin share, is reported); the prediction column gets scipy's exact
``ks_2samp``. Whether drift is *detected* is unchanged: a feature PSI above ``psi_warn`` or the
prediction's KS p-value below ``ks_p_value``; the per-feature tests are reported as evidence.

numpy and scipy come with the ``drift`` extra (``pip install 'incident-bot[drift]'``), not
with the core install: they are imported where the math runs, so the app, its CLI and the
drift job configuration load without them, and a drift feature asked for without them says
how to get them (:class:`DriftUnavailable`).
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain.drift_stats import (
    EPSILON,
    MISSING,
    WASSERSTEIN_THRESHOLD,
    CategoryCounts,
    Distribution,
    FeatureResult,
    Kind,
    NumericCounts,
    category_label,
    check_test,
    ks_from_counts,
    ks_two_sample,
    psi_from_counts,
    psi_levels,
    score_categorical,
    score_numeric_counts,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = ["EPSILON", "DEFAULT_BINS", "DriftAssessment", "DriftInputError", "DriftUnavailable",
           "FeatureResult", "assess", "assess_counts", "psi_categorical", "psi_numeric"]

DEFAULT_BINS = 10
KS_FEATURE_BINS = 4096
CHUNK_ROWS = 1 << 16  # rows per cache-sized chunk of a pass over a column
LOW_CARDINALITY = 10  # integer features with at most this many reference values are categorical


class DriftInputError(ValueError):
    """The data cannot be assessed (empty window, missing column, ...); the message says why."""


# What model drift needs beyond the core install: the ``drift`` extra
DRIFT_PACKAGES = ("numpy", "scipy", "pyarrow", "matplotlib")
DRIFT_INSTALL_HINT = "install incident-bot[drift] (pip install 'incident-bot[drift]')"


class DriftUnavailable(RuntimeError):
    """The ``drift`` extra is not installed; the message names what is missing and the fix."""

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = list(missing)
        super().__init__(f"model drift needs {', '.join(self.missing)}, not installed here: "
                         f"{DRIFT_INSTALL_HINT}")


def missing_drift_packages() -> list[str]:
    """The packages of the ``drift`` extra this environment lacks (none: drift works)."""
    return [name for name in DRIFT_PACKAGES if importlib.util.find_spec(name) is None]


def require_drift_extra() -> None:
    """Raise :class:`DriftUnavailable` unless the whole ``drift`` extra is importable."""
    missing = missing_drift_packages()
    if missing:
        raise DriftUnavailable(missing)


@dataclass(frozen=True)
class FeatureSpecs:
    """Per-feature choices from the job configuration or the CLI: kind and test overrides."""

    kinds: Mapping[str, Kind] = field(default_factory=dict)
    tests: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DriftAssessment:
    """What the data dictionary's ``drift_assessments`` row holds, plus the detail for Slack."""

    psi_composite: float
    ks_p_value: float | None  # None when no prediction column was given
    ks_statistic: float | None
    drift_detected: bool
    feature_scores: dict[str, float]
    feature_ks: dict[str, float] = field(default_factory=dict)  # per-feature KS p-values
    reference_rows: int = 0
    current_rows: int = 0
    reference_window_start: datetime | None = None
    reference_window_end: datetime | None = None
    evaluation_window_start: datetime | None = None
    evaluation_window_end: datetime | None = None
    features: dict[str, FeatureResult] = field(default_factory=dict)
    ks_note: str = ""  # how the prediction KS was computed when not exact
    source: str = "memory"  # memory | files | sql pushdown
    bytes_received: int | None = None  # SQL pushdown: the aggregates' size

    def top_features(self, n: int = 5) -> list[tuple[str, float]]:
        return sorted(self.feature_scores.items(), key=lambda kv: (-kv[1], kv[0]))[:n]

    def as_dict(self) -> dict[str, Any]:
        """The data dictionary's keys (for JSON output and storage), and the per-feature tests."""

        def iso(d: datetime | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "psi_composite": self.psi_composite,
            "ks_p_value": self.ks_p_value,
            "drift_detected": self.drift_detected,
            "feature_scores": self.feature_scores,
            "feature_ks_p_values": self.feature_ks,
            "feature_tests": {name: f.as_dict() for name, f in self.features.items()},
            "ks_statistic": self.ks_statistic,
            "ks_note": self.ks_note,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "source": self.source,
            "bytes_received": self.bytes_received,
            "reference_window_start": iso(self.reference_window_start),
            "reference_window_end": iso(self.reference_window_end),
            "evaluation_window_start": iso(self.evaluation_window_start),
            "evaluation_window_end": iso(self.evaluation_window_end),
        }


def psi_numeric(reference: np.ndarray, current: np.ndarray, bins: int = DEFAULT_BINS) -> float:
    """PSI of one numeric feature (see the module docstring for the binning rules)."""
    return _numeric_psi_counts(reference, current, bins)[0]


def _numeric_psi_counts(
    reference: np.ndarray, current: np.ndarray, bins: int
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """(PSI, inner edges, reference counts, current counts); the last count is the NaN bin."""
    import numpy as np

    reference = np.asarray(reference, dtype=float)
    ref_sorted = _sorted_valid(reference)
    cur_valid, cur_nan = _valid(np.asarray(current, dtype=float))
    return _psi_counts(ref_sorted, reference.size - ref_sorted.size, cur_valid, cur_nan, bins)


def _psi_counts(ref_sorted: np.ndarray, ref_nan: int, cur_valid: np.ndarray, cur_nan: int,
                bins: int) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """The PSI from the sorted reference: its edges and counts are read off the one sort."""
    import numpy as np

    if bins < 2:
        raise DriftInputError(f"bins must be at least 2, not {bins}")
    if ref_sorted.size == 0:
        raise DriftInputError("the reference window has no numeric values for this feature")
    # duplicate edges only make bins empty in both windows, which add 0 to the PSI
    edges = np.unique(sorted_quantiles(ref_sorted, psi_levels(bins)))
    if np.isnan(edges).any():  # infinite values (inf - inf): the comparisons, as ever
        ref_bins = _bin_counts(ref_sorted, edges)
    else:
        at_or_below = np.searchsorted(ref_sorted, edges, side="right")
        ref_bins = np.diff(at_or_below, prepend=0, append=ref_sorted.size)
    ref_counts = np.append(ref_bins, ref_nan)
    cur_counts = np.append(_bin_counts(cur_valid, edges), cur_nan)
    return psi_from_counts(ref_counts, cur_counts), edges, ref_counts, cur_counts


def _sorted_valid(values: np.ndarray) -> np.ndarray:
    """The values without NaN, ascending. Why one sort: it gives the reference's quantile
    edges, its PSI bin counts and its KS histogram, each for a few binary searches, where a
    quantile selection, per-edge comparisons and a histogram pass cost more than it does."""
    import numpy as np

    ordered = np.sort(values)
    return ordered[: int(np.searchsorted(ordered, np.nan))]  # NaNs sort last


def _valid(values: np.ndarray) -> tuple[np.ndarray, int]:
    """The values without NaN (no copy of a column without any) and the number of NaNs."""
    import numpy as np

    nan = np.isnan(values)
    missing = int(np.count_nonzero(nan))
    return (values[~nan] if missing else values), missing


def sorted_quantiles(ordered: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """``np.quantile(values, levels)`` (its default, linear method) from the values sorted,
    without np.quantile's copy and selection: the same operations on the same floats, so the
    same results to the last bit (tests/unit/domain/test_drift_math.py compares them); only where 0.0
    and -0.0 both occur may the sign of a zero differ (the two compare equal, and sort in any
    order)."""
    lo, hi, gamma = _quantile_positions(ordered.size, levels)
    return _interpolate(ordered[lo], ordered[hi], gamma)


def _quantile_positions(n: int, levels: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """np.quantile's two neighbouring ranks per level (-1: the last) and its weight ``gamma``."""
    import numpy as np

    virtual = (n - 1) * np.asarray(levels, dtype=np.float64)
    low = np.floor(virtual)
    high = low + 1
    top = virtual >= n - 1  # numpy takes the last value there, index -1 (in gamma too)
    low[top] = high[top] = -1
    low[virtual < 0] = high[virtual < 0] = 0
    return low.astype(np.intp), high.astype(np.intp), virtual - low


def _interpolate(a: np.ndarray, b: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """numpy's ``_lerp``, the same operations in the same order."""
    import numpy as np

    diff = b - a
    result = np.add(a, diff * gamma)
    np.subtract(b, diff * (1 - gamma), out=result, where=gamma >= 0.5)
    return result


def _bin_counts(values: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    """Counts per bin, bins closed on the right; outside values land in the end bins."""
    import numpy as np

    at_or_below = np.array([np.count_nonzero(values <= e) for e in inner_edges], dtype=np.int64)
    cumulative = np.concatenate([at_or_below, [values.size]])
    return np.diff(cumulative, prepend=0)


def category_counts(values: Sequence[Any] | np.ndarray) -> dict[str, int]:
    """Rows per category label (:func:`domain.drift_stats.category_label`)."""
    import numpy as np

    counts: dict[str, int] = {}
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuU":
        uniques, n = np.unique(values, return_counts=True)
        for value, c in zip(uniques.tolist(), n.tolist(), strict=True):
            counts[category_label(value)] = counts.get(category_label(value), 0) + int(c)
        return counts
    for value in list(values):
        label = category_label(value)
        counts[label] = counts.get(label, 0) + 1
    return counts


def psi_categorical(reference: Sequence[Any], current: Sequence[Any]) -> float:
    """PSI over the reference's categories, ``<other>`` and ``<missing>``."""
    if len(reference) == 0:
        raise DriftInputError("the reference window is empty")
    counts = CategoryCounts(category_counts(reference), category_counts(current))
    return score_categorical("", counts, "jensenshannon", 0.05).psi


def ks_histogram(reference: np.ndarray, current: np.ndarray) -> tuple[float, float, float]:
    """KS on a 4,096-bin histogram over the pooled range: (statistic, p-value, error bound)."""
    import numpy as np

    return _ks_histogram(_sorted_valid(np.asarray(reference, dtype=float)),
                         _valid(np.asarray(current, dtype=float))[0])


def _ks_histogram(ref_sorted: np.ndarray, current: np.ndarray) -> tuple[float, float, float]:
    """:func:`ks_histogram` from the sorted reference and the current values without NaN."""
    if ref_sorted.size == 0 or current.size == 0:
        return float("nan"), float("nan"), 1.0
    low = min(ref_sorted[0], current.min())
    high = max(ref_sorted[-1], current.max())
    if low == high:
        return 0.0, 1.0, 0.0
    scale = KS_FEATURE_BINS / (high - low)
    if math.isfinite(low) and math.isfinite(high):
        ref_hist = _sorted_histogram(ref_sorted, low, scale)
    else:  # an infinity: the full pass, which refuses it as before
        ref_hist = _histogram(ref_sorted, low, scale)
    return ks_from_counts(ref_hist, _histogram(current, low, scale))


def _bin_index(values: np.ndarray, low: float, scale: float, out: np.ndarray | None = None,
               index: np.ndarray | None = None) -> np.ndarray:
    """Each value's histogram bin: non-decreasing in the value (every step rounds monotonically)."""
    import numpy as np

    shifted = np.subtract(values, low, out=out)
    shifted *= scale
    if index is None:
        index = shifted.astype(np.int64)
    else:
        np.copyto(index, shifted, casting="unsafe")  # the same truncation as astype
    np.minimum(index, KS_FEATURE_BINS - 1, out=index)
    return index


def _histogram(values: np.ndarray, low: float, scale: float) -> np.ndarray:
    """``np.bincount(_bin_index(values))`` a cache-sized chunk at a time: each chunk stays in the
    CPU cache through its four steps, and no column-sized temporary is allocated (whose first
    touch costs page faults): about half the time of the whole-column version."""
    import numpy as np

    counts = np.zeros(KS_FEATURE_BINS, dtype=np.int64)
    size = min(CHUNK_ROWS, values.size)
    shifted, index = np.empty(size), np.empty(size, dtype=np.int64)
    for start in range(0, values.size, CHUNK_ROWS):
        chunk = values[start:start + CHUNK_ROWS]
        n = chunk.size
        binned = _bin_index(chunk, low, scale, shifted[:n], index[:n])
        counts += np.bincount(binned, minlength=KS_FEATURE_BINS)
    return counts


def _reference_by_histogram(values: np.ndarray, low: float, scale: float, levels: Sequence[float]
                            ) -> tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """(quantiles at ``levels``, KS histogram, rows at or below given edges) of the reference
    values (no NaN) without sorting them. Why: the histogram pass is needed for KS anyway, and as
    the bin index never decreases with the value, the rank-``r`` value lies in the bin where the
    cumulative counts pass ``r``: one more pass picks the few bins holding the wanted ranks, and
    sorting those few thousand values gives the exact order statistics (a column piled into one
    bin is picked whole, a sort as before). Same numbers as the sort, at half its cost."""
    import numpy as np

    hist = _histogram(values, low, scale)
    cum = np.cumsum(hist)
    n = values.size
    lo, hi, gamma = _quantile_positions(n, levels)
    wanted = np.unique(np.searchsorted(cum, np.concatenate([lo % n, hi % n]), side="right"))
    picked = _values_in_bins(values, low, scale, wanted)
    block = np.cumsum(hist[wanted]) - hist[wanted]  # where each wanted bin starts in picked

    def order_stat(ranks: np.ndarray) -> np.ndarray:
        b = np.searchsorted(cum, ranks, side="right")
        return picked[block[np.searchsorted(wanted, b)] + ranks - (cum[b] - hist[b])]

    def at_or_below(edges: np.ndarray) -> np.ndarray:
        """Rows <= each edge: the bins below its bin, and its bin's picked values (a quantile
        edge lies between two order statistics; a bin between theirs holds no row)."""
        counts = []
        for edge, b in zip(edges.tolist(), _bin_index(edges, low, scale).tolist(), strict=True):
            j = int(np.searchsorted(wanted, b))
            inside = 0
            if j < wanted.size and wanted[j] == b:
                inside = int(np.searchsorted(picked[block[j]:block[j] + hist[b]], edge, side="right"))
            counts.append(int(cum[b] - hist[b]) + inside)
        return np.array(counts, dtype=np.int64)

    return _interpolate(order_stat(lo % n), order_stat(hi % n), gamma), hist, at_or_below


def _values_in_bins(values: np.ndarray, low: float, scale: float, bins: np.ndarray) -> np.ndarray:
    """The values whose histogram bin is one of ``bins``, sorted (chunked, as :func:`_histogram`)."""
    import numpy as np

    wanted = np.zeros(KS_FEATURE_BINS, dtype=bool)
    wanted[bins] = True
    parts = []
    size = min(CHUNK_ROWS, values.size)
    shifted, index = np.empty(size), np.empty(size, dtype=np.int64)
    for start in range(0, values.size, CHUNK_ROWS):
        chunk = values[start:start + CHUNK_ROWS]
        n = chunk.size
        parts.append(chunk[wanted[_bin_index(chunk, low, scale, shifted[:n], index[:n])]])
    return np.sort(np.concatenate(parts))


def _sorted_histogram(ordered: np.ndarray, low: float, scale: float) -> np.ndarray:
    """``np.bincount(_bin_index(ordered))`` of sorted values without indexing every value: as the
    bin index never decreases along them, each bin's first position is found by bisection (about
    20 vectorised steps over the 4,095 bin starts), the same counts for a fraction of the cost."""
    import numpy as np

    n = ordered.size
    starts = np.arange(1, KS_FEATURE_BINS)
    lo = np.zeros(KS_FEATURE_BINS - 1, dtype=np.int64)
    hi = np.full(KS_FEATURE_BINS - 1, n, dtype=np.int64)
    active = lo < hi
    while active.any():
        mid = (lo + hi) // 2
        before = _bin_index(ordered[np.minimum(mid, n - 1)], low, scale) < starts
        lo = np.where(active & before, mid + 1, lo)
        hi = np.where(active & ~before, mid, hi)
        active = lo < hi
    return np.diff(lo, prepend=0, append=n)


def ks_feature_p_value(reference: np.ndarray, current: np.ndarray) -> float:
    """The histogram KS p-value (kept for callers of the issue-4 API)."""
    return ks_histogram(reference, current)[1]


def feature_kind(values: Any) -> Kind:
    """Numeric or categorical, from the values: booleans, strings and integers with at most
    ``LOW_CARDINALITY`` distinct values are categorical."""
    import numpy as np

    if isinstance(values, np.ndarray):
        kind = values.dtype.kind
        if kind == "f":
            return "numeric"
        if kind in "iu":
            return "categorical" if _few_integers(values) else "numeric"
        if kind != "O":
            return "categorical"
    sample = list(values[:1000]) if isinstance(values, np.ndarray) else list(values)[:1000]
    numeric = all(isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_)
                  or v is None for v in sample)
    return "numeric" if numeric else "categorical"


def _few_integers(values: np.ndarray) -> bool:
    import numpy as np

    if values.size == 0:
        return True
    low, high = int(values.min()), int(values.max())
    if high - low < LOW_CARDINALITY:
        return True
    if high - low > 1_000_000:
        return False
    return int(np.count_nonzero(np.bincount(values - low))) <= LOW_CARDINALITY


def _numeric_feature(name: str, ref: Any, cur: Any, bins: int, test: str | None,
                     p_threshold: float) -> FeatureResult:
    import numpy as np
    from scipy import stats

    ref_a, cur_a = np.asarray(ref, dtype=float), np.asarray(cur, dtype=float)
    cur_valid, cur_nan = _valid(cur_a)
    fast = _psi_and_ks_by_histogram(ref_a, cur_valid, cur_nan, bins) if test != "wasserstein" else None
    if fast is not None:
        psi, edges, ref_counts, cur_counts, ks = fast
    else:
        ref_sorted = _sorted_valid(ref_a)
        psi, edges, ref_counts, cur_counts = _psi_counts(ref_sorted, ref_a.size - ref_sorted.size, cur_valid,
                                                         cur_nan, bins)
    labels = [*_edge_labels(edges), MISSING]
    distribution = Distribution(tuple(labels), tuple(map(int, ref_counts)), tuple(map(int, cur_counts)))
    p_value: float | None
    if test == "wasserstein":
        ref_v, cur_v = ref_a[~np.isnan(ref_a)], cur_a[~np.isnan(cur_a)]
        std = float(ref_v.std())
        distance = float(stats.wasserstein_distance(ref_v, cur_v)) if cur_v.size else float("nan")
        statistic = distance / std if std > 0 else distance
        p_value, drifted, note = None, statistic > WASSERSTEIN_THRESHOLD, "in reference standard deviations"
    else:
        test = "ks"
        statistic, p_value, bound = ks if fast is not None else _ks_histogram(ref_sorted, cur_valid)
        drifted = p_value < p_threshold
        note = f"KS on a {KS_FEATURE_BINS}-bin histogram: the exact statistic is within +{bound:.4f}"
    return FeatureResult(name, "numeric", round(psi, 6), test, statistic, p_value, drifted, distribution,
                         note)


def _psi_and_ks_by_histogram(ref: np.ndarray, cur_valid: np.ndarray, cur_nan: int, bins: int) -> tuple[
        float, np.ndarray, np.ndarray, np.ndarray, tuple[float, float, float]] | None:
    """PSI (with its edges and counts) and the histogram KS without sorting the reference
    (:func:`_reference_by_histogram`); None where the sorted path must answer (an empty window,
    infinities, a single value, too few bins): the same results either way."""
    import numpy as np

    ref_valid, ref_nan = _valid(ref)
    if bins < 2 or ref_valid.size == 0 or cur_valid.size == 0:
        return None
    low = min(ref_valid.min(), cur_valid.min())
    high = max(ref_valid.max(), cur_valid.max())
    if not (math.isfinite(low) and math.isfinite(high)) or low == high:
        return None
    scale = KS_FEATURE_BINS / (high - low)
    quantiles, ref_hist, at_or_below = _reference_by_histogram(ref_valid, low, scale, psi_levels(bins))
    edges = np.unique(quantiles)
    ref_counts = np.append(np.diff(at_or_below(edges), prepend=0, append=ref_valid.size), ref_nan)
    cur_counts = np.append(_bin_counts(cur_valid, edges), cur_nan)
    ks = ks_from_counts(ref_hist, _histogram(cur_valid, low, scale))
    return psi_from_counts(ref_counts, cur_counts), edges, ref_counts, cur_counts, ks


def _edge_labels(edges: np.ndarray) -> list[str]:
    fmt = "{:.3g}".format
    if edges.size == 0:
        return ["all"]
    return [f"≤{fmt(edges[0])}", *(f"{fmt(a)}–{fmt(b)}" for a, b in zip(edges[:-1], edges[1:], strict=True)),
            f">{fmt(edges[-1])}"]


def assess(
    reference: Mapping[str, Any],
    current: Mapping[str, Any],
    *,
    features: Sequence[str],
    prediction: str | None = None,
    weights: Mapping[str, float] | None = None,
    bins: int = DEFAULT_BINS,
    psi_warn: float = 0.15,
    ks_p_value: float = 0.05,
    ks_per_feature: bool = True,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    specs: FeatureSpecs | None = None,
) -> DriftAssessment:
    """Compare two windows given as column name -> array (numeric) or sequence (categorical).

    ``ks_per_feature`` is kept for the issue-4 callers: every feature now gets its kind's test.
    """
    try:
        import numpy as np
        from scipy import stats  # noqa: F401  (a missing scipy is told here, before any work)
    except ModuleNotFoundError as exc:
        raise DriftUnavailable(missing_drift_packages() or [str(exc.name)]) from exc
    del ks_per_feature
    specs = specs or FeatureSpecs()
    _check_columns(reference, current, features, prediction)
    ref_rows = len(reference[features[0]])
    cur_rows = len(current[features[0]])
    if ref_rows == 0 or cur_rows == 0:
        raise DriftInputError(f"a window is empty (reference {ref_rows} rows, current {cur_rows} rows)")

    def one(name: str) -> FeatureResult:
        ref, cur = reference[name], current[name]
        kind = specs.kinds.get(name) or feature_kind(ref)
        test = _test_for(name, kind, specs)
        if kind == "numeric":
            try:
                return _numeric_feature(name, ref, cur, bins, test, ks_p_value)
            except (TypeError, ValueError) as exc:
                if isinstance(exc, DriftInputError):
                    raise
                raise DriftInputError(f"feature {name!r} is not numeric ({exc}); configure it as "
                                      "categorical") from exc
        counts = CategoryCounts(category_counts(ref), category_counts(cur))
        return score_categorical(name, counts, test, ks_p_value)

    def prediction_ks() -> tuple[float | None, float | None]:
        if not prediction:
            return None, None
        ref_p = np.asarray(reference[prediction], dtype=float)
        cur_p = np.asarray(current[prediction], dtype=float)
        return ks_two_sample(ref_p[~np.isnan(ref_p)], cur_p[~np.isnan(cur_p)])

    # numpy releases the GIL in its sorts, searches and passes: one thread per core keeps every
    # core busy without threads crowding each other; the exact prediction KS (the longest task,
    # three sorts over both windows) starts first and runs beside the features
    with ThreadPoolExecutor(max_workers=workers or _cores()) as pool:
        prediction_result = pool.submit(prediction_ks)
        results: list[FeatureResult] = []
        for result in pool.map(one, features):
            results.append(result)
            if progress is not None:
                progress(len(results), len(features))
        ks_stat, ks_p = prediction_result.result()
    return _assessment(results, features, weights, psi_warn, ks_p_value, ks_p, ks_stat, ref_rows, cur_rows)


def _cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform tells it)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else os.cpu_count() or 1


def assess_counts(
    counts: Mapping[str, NumericCounts | CategoryCounts],
    *,
    features: Sequence[str],
    prediction: str | None = None,
    weights: Mapping[str, float] | None = None,
    psi_warn: float = 0.15,
    ks_p_value: float = 0.05,
    specs: FeatureSpecs | None = None,
    reference_rows: int = 0,
    current_rows: int = 0,
    source: str = "files",
) -> DriftAssessment:
    """The same assessment from per-feature counts (streamed files, SQL aggregates): the PSI is
    the in-memory one when the edges are exact; the KS tests are binned (bound in the notes)."""
    specs = specs or FeatureSpecs()
    results = []
    for name in features:
        if name not in counts:
            raise DriftInputError(f"column {name!r} was not counted")
        c = counts[name]
        if isinstance(c, NumericCounts):
            results.append(score_numeric_counts(name, c, _test_for(name, "numeric", specs), ks_p_value))
        else:
            results.append(score_categorical(name, c, _test_for(name, "categorical", specs), ks_p_value))
    ks_p = ks_stat = None
    ks_note = ""
    if prediction:
        pred = counts.get(prediction)
        if not isinstance(pred, NumericCounts):
            raise DriftInputError(f"the prediction column {prediction!r} must be numeric")
        ks_stat, ks_p, bound = ks_from_counts(pred.reference, pred.current)
        ks_note = (f"binned KS on {pred.reference.size} reference-quantile bins: the exact statistic is "
                   f"within +{bound:.4f}")
    a = _assessment(results, features, weights, psi_warn, ks_p_value, ks_p, ks_stat, reference_rows,
                    current_rows)
    return DriftAssessment(**{**a.__dict__, "ks_note": ks_note, "source": source})


def _assessment(results: list[FeatureResult], features: Sequence[str], weights: Mapping[str, float] | None,
                psi_warn: float, ks_threshold: float, ks_p: float | None, ks_stat: float | None,
                ref_rows: int, cur_rows: int) -> DriftAssessment:
    scores = {r.name: r.psi for r in results}
    weights = dict(weights or {})
    total = sum(weights.get(f, 1.0) for f in features)
    composite = sum(scores[f] * weights.get(f, 1.0) for f in features) / total if total else 0.0
    detected = any(s > psi_warn for s in scores.values()) or (ks_p is not None and ks_p < ks_threshold)
    return DriftAssessment(
        psi_composite=round(composite, 6),
        ks_p_value=ks_p,
        ks_statistic=ks_stat,
        drift_detected=detected,
        feature_scores=scores,
        feature_ks={r.name: r.p_value for r in results if r.test == "ks" and r.p_value is not None},
        reference_rows=ref_rows,
        current_rows=cur_rows,
        features={r.name: r for r in results},
    )


def _test_for(name: str, kind: Kind, specs: FeatureSpecs) -> str | None:
    try:
        return check_test(name, kind, specs.tests.get(name))
    except ValueError as exc:
        raise DriftInputError(str(exc)) from exc


def _check_columns(reference: Mapping[str, Any], current: Mapping[str, Any], features: Sequence[str],
                   prediction: str | None) -> None:
    if not features:
        raise DriftInputError("no features to assess")
    for name in [*features, *([prediction] if prediction else [])]:
        for window, data in (("reference", reference), ("current", current)):
            if name not in data:
                raise DriftInputError(f"column {name!r} is missing from the {window} data")


def is_finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)

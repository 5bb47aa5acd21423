"""Drift tests on counts: what every source (arrays in memory, streamed files, SQL aggregates)
reduces a feature to, and the statistics computed from it. numpy + scipy, no I/O.

A numeric feature becomes :class:`NumericCounts`: the reference's quantile edges at levels
``k / G`` (``G = bins * per_bin``, 100 for the default 10 PSI bins) and the rows per grid bin of
each window (bins closed on the right; below the first edge in bin 0, above the last in the last
bin), plus the missing rows. The PSI bins are every ``per_bin`` grid bins: level
``(j * per_bin) / G`` is the same float as ``j / bins``, so the PSI edges are exactly those of
the in-memory engine and the PSI is the same number.

A categorical feature becomes :class:`CategoryCounts`: rows per category in each window.
Its buckets are the reference's ``MAX_CATEGORIES`` most frequent categories, ``<other>``
(every other category, those never seen in the reference included) and ``<missing>``.

The binned KS statistic is the largest gap between the two windows' CDFs at the grid edges.
The true statistic lies within ``[D_binned, D_binned + max_i max(r_i, c_i)]`` where ``r_i``,
``c_i`` are the windows' shares of grid bin ``i`` (inside a bin each CDF moves by at most its
share); that bound is reported with the value (about 0.01 with 100 reference-quantile bins,
more where the current window piles into one bin).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np

EPSILON = 1e-4
MAX_CATEGORIES = 30  # categorical buckets kept by name; the rest is <other>
OTHER, MISSING = "<other>", "<missing>"
GRID_TARGET = 100  # grid bins for the binned KS / Wasserstein of streamed and pushed-down data
JS_THRESHOLD = 0.1  # Jensen-Shannon distance (base 2) above which a category mix has drifted
WASSERSTEIN_THRESHOLD = 0.1  # Wasserstein distance in reference standard deviations
CHISQUARE_MAX_ROWS = 1000  # above this a chi-square p-value flags any difference: JS instead

Kind = Literal["numeric", "categorical"]
Test = Literal["ks", "wasserstein", "chisquare", "jensenshannon"]
NUMERIC_TESTS: tuple[str, ...] = ("ks", "wasserstein")
CATEGORICAL_TESTS: tuple[str, ...] = ("chisquare", "jensenshannon")


@dataclass(frozen=True)
class Distribution:
    """What a chart or a report shows of one feature: labelled buckets, rows per window."""

    labels: tuple[str, ...]
    reference: tuple[int, ...]
    current: tuple[int, ...]


@dataclass(frozen=True)
class FeatureResult:
    """One feature's verdict: its kind, its PSI, the second test chosen for its kind."""

    name: str
    kind: Kind
    psi: float
    test: str
    statistic: float
    p_value: float | None
    drifted: bool  # by the test's own rule (p < threshold, distance > threshold)
    distribution: Distribution
    note: str = ""  # how it was computed when not exact (binned KS and its bound, sampled edges)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "psi": self.psi, "test": self.test, "statistic": self.statistic,
                "p_value": self.p_value, "drifted": self.drifted, "note": self.note}


@dataclass(frozen=True)
class NumericCounts:
    edges: np.ndarray  # G - 1 non-decreasing reference quantile edges
    reference: np.ndarray  # G grid bin counts
    current: np.ndarray
    reference_missing: int
    current_missing: int
    per_bin: int  # grid bins per PSI bin
    edges_note: str = ""  # "" when the edges are the exact reference quantiles
    reference_std: float | None = None  # for the Wasserstein test's scale


@dataclass(frozen=True)
class CategoryCounts:
    reference: Mapping[str, int]  # label -> rows, <missing> included
    current: Mapping[str, int]


def psi_levels(bins: int) -> list[float]:
    """The PSI edges' quantile levels, ``j / bins``: one definition for every source."""
    return [j / bins for j in range(1, bins)]


def grid_per_bin(bins: int) -> int:
    return max(1, math.ceil(GRID_TARGET / bins))


def grid_levels(bins: int) -> list[float]:
    """Quantile levels ``k / G`` of the counting grid; every ``per_bin``-th is a PSI level."""
    grid = bins * grid_per_bin(bins)
    return [k / grid for k in range(1, grid)]


def quantiles_from_order_stats(n: int, levels: list[float], value_at: Mapping[int, float]) -> list[float]:
    """numpy's default (linear) quantiles from the order statistics a database returned:
    ``value_at`` maps 0-based ranks to values (see :func:`order_stat_ranks`)."""
    out = []
    for q in levels:
        position = q * (n - 1)
        low = math.floor(position)
        high = min(low + 1, n - 1)
        a, b, t = value_at[low], value_at[high], position - low
        out.append(float(_lerp(a, b, t)))
    return out


def _lerp(a: float, b: float, t: float) -> float:
    """numpy.quantile's interpolation, the same operations in the same order (same floats)."""
    import numpy as np

    a64, b64, t64 = np.float64(a), np.float64(b), np.float64(t)
    diff = b64 - a64
    return float(b64 - diff * (1 - t64)) if t64 >= 0.5 else float(a64 + diff * t64)


def order_stat_ranks(n: int, levels: list[float]) -> list[int]:
    """The 0-based ranks :func:`quantiles_from_order_stats` needs."""
    ranks: set[int] = set()
    for q in levels:
        low = math.floor(q * (n - 1))
        ranks.update((low, min(low + 1, n - 1)))
    return sorted(ranks)


def psi_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """PSI over bucket counts; an empty bucket's share is ``EPSILON``."""
    import numpy as np

    ref = ref_counts / max(ref_counts.sum(), 1)
    cur = cur_counts / max(cur_counts.sum(), 1)
    ref = np.where(ref == 0, EPSILON, ref)
    cur = np.where(cur == 0, EPSILON, cur)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def ks_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float, float]:
    """Binned KS over ordered buckets: (statistic, asymptotic p-value, error bound)."""
    import numpy as np
    from scipy import stats

    n_ref, n_cur = int(ref_counts.sum()), int(cur_counts.sum())
    if n_ref == 0 or n_cur == 0:
        return float("nan"), float("nan"), 1.0
    ref_share, cur_share = ref_counts / n_ref, cur_counts / n_cur
    d = float(np.max(np.abs(np.cumsum(ref_share) - np.cumsum(cur_share))))
    bound = float(np.max(np.maximum(ref_share, cur_share)))
    n = n_ref * n_cur / (n_ref + n_cur)
    return d, float(stats.kstwobign.sf(d * math.sqrt(n))), bound


SCIPY_EXACT_MAX_ROWS = 10_000  # ks_2samp's method="auto" computes exact p-values up to this size


def ks_two_sample(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """``scipy.stats.ks_2samp(reference, current)``'s (statistic, p-value), the same floats, for
    a third of its time on large windows. Why: scipy finds both empirical CDFs at every pooled
    value by two binary searches over both windows; here the two sorted windows are merged by one
    stable argsort (two sorted runs: a single merge) and the CDFs are running counts, read at the
    last of each run of equal values as scipy's ``side="right"`` searches do. Small windows, where
    scipy computes an exact p-value, go to scipy itself."""
    import numpy as np
    from scipy import stats

    n1, n2 = reference.size, current.size
    if n1 == 0 or n2 == 0 or max(n1, n2) <= SCIPY_EXACT_MAX_ROWS:
        result = stats.ks_2samp(reference, current)
        return float(result.statistic), float(result.pvalue)
    pooled = np.concatenate([np.sort(reference), np.sort(current)])
    order = np.argsort(pooled, kind="stable")
    values = pooled[order]
    last_of_equal = np.append(values[1:] != values[:-1], True)
    below_1 = np.cumsum(order < n1)
    below_2 = np.arange(1, n1 + n2 + 1) - below_1
    cddiffs = below_1[last_of_equal] / n1 - below_2[last_of_equal] / n2
    min_s = np.clip(-cddiffs.min(), 0, 1)
    max_s = cddiffs.max()
    d = min_s if min_s > max_s else max_s
    # scipy's asymptotic two-sided p-value (Smirnov), as ks_2samp computes it above its exact range
    m, n = sorted([float(n1), float(n2)], reverse=True)
    p_value = np.clip(stats.kstwo.sf(d, np.round(m * n / (m + n))), 0, 1)
    return float(d), float(p_value)


def chi_square(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Pearson's chi-square on the 2 x K table (buckets empty in both windows dropped)."""
    import numpy as np
    from scipy import stats

    table = np.vstack([ref_counts, cur_counts]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def jensen_shannon(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between the two bucket distributions."""
    from scipy.spatial import distance

    if ref_counts.sum() == 0 or cur_counts.sum() == 0:
        return float("nan")
    return float(distance.jensenshannon(ref_counts, cur_counts, base=2))


def default_test(kind: Kind, rows: int) -> str:
    """Numeric: KS (PSI is computed for every feature). Categorical: chi-square on small
    windows, Jensen-Shannon above ``CHISQUARE_MAX_ROWS`` rows (where any p-value is ~0)."""
    if kind == "numeric":
        return "ks"
    return "chisquare" if rows <= CHISQUARE_MAX_ROWS else "jensenshannon"


def check_test(name: str, kind: Kind, test: str | None) -> str | None:
    """A configured test that fits the feature's kind, or a clear error."""
    allowed = NUMERIC_TESTS if kind == "numeric" else CATEGORICAL_TESTS
    if test is not None and test not in allowed:
        raise ValueError(f"feature {name!r} is {kind}: its test is one of {', '.join(allowed)}, not {test!r}")
    return test


def category_label(value: Any) -> str:
    """One spelling per category whatever the source (True / 1 from SQLite / np.True_)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def score_categorical(name: str, counts: CategoryCounts, test: str | None,
                      p_threshold: float) -> FeatureResult:
    """PSI over the reference's top categories + <other> + <missing>, and chi-square or JS."""
    import numpy as np

    ref_rows, cur_rows = sum(counts.reference.values()), sum(counts.current.values())
    named = [k for k in counts.reference if k != MISSING]
    named.sort(key=lambda k: (-counts.reference[k], k))
    kept = named[:MAX_CATEGORIES]
    labels = (*kept, OTHER, MISSING)
    ref = np.array(_bucket(counts.reference, kept), dtype=np.int64)
    cur = np.array(_bucket(counts.current, kept), dtype=np.int64)
    psi = psi_from_counts(ref, cur)
    chosen = test or default_test("categorical", min(ref_rows, cur_rows))
    p_value: float | None
    if chosen == "chisquare":
        statistic, p_value = chi_square(ref, cur)
        drifted = p_value < p_threshold
    else:
        statistic, p_value = jensen_shannon(ref, cur), None
        drifted = statistic > JS_THRESHOLD
    distribution = Distribution(labels, tuple(int(x) for x in ref), tuple(int(x) for x in cur))
    return FeatureResult(name, "categorical", round(psi, 6), chosen, statistic, p_value, drifted,
                         distribution)


def _bucket(counts: Mapping[str, int], kept: list[str]) -> list[int]:
    keep = set(kept)
    other = sum(v for k, v in counts.items() if k not in keep and k != MISSING)
    return [counts.get(k, 0) for k in kept] + [other, counts.get(MISSING, 0)]


def score_numeric_counts(name: str, counts: NumericCounts, test: str | None,
                         p_threshold: float) -> FeatureResult:
    """PSI on the PSI bins, KS (binned, with its bound) or Wasserstein (binned) on the grid."""
    import numpy as np

    m = counts.per_bin
    ref_psi = np.add.reduceat(counts.reference, np.arange(0, counts.reference.size, m))
    cur_psi = np.add.reduceat(counts.current, np.arange(0, counts.current.size, m))
    psi = psi_from_counts(np.append(ref_psi, counts.reference_missing),
                          np.append(cur_psi, counts.current_missing))
    chosen = test or "ks"
    notes = [counts.edges_note] if counts.edges_note else []
    p_value: float | None
    if chosen == "wasserstein":
        statistic = binned_wasserstein(counts)
        p_value, drifted = None, statistic > WASSERSTEIN_THRESHOLD
        notes.append(f"Wasserstein binned on {counts.reference.size} reference-quantile bins, "
                     "in reference standard deviations")
    else:
        statistic, p_value, bound = ks_from_counts(counts.reference, counts.current)
        drifted = p_value < p_threshold
        notes.append(f"binned KS on {counts.reference.size} reference-quantile bins: the exact "
                     f"statistic is within +{bound:.4f}")
    edges = counts.edges[m - 1::m]
    labels = _numeric_labels(edges)
    distribution = Distribution((*labels, MISSING), (*map(int, ref_psi), counts.reference_missing),
                                (*map(int, cur_psi), counts.current_missing))
    return FeatureResult(name, "numeric", round(psi, 6), chosen, statistic, p_value, drifted,
                         distribution, "; ".join(notes))


def binned_wasserstein(counts: NumericCounts) -> float:
    """W1 from the CDFs at the grid edges (tails beyond the outer edges not counted), over the
    reference standard deviation."""
    import numpy as np

    n_ref, n_cur = counts.reference.sum(), counts.current.sum()
    if n_ref == 0 or n_cur == 0:
        return float("nan")
    gap = np.abs(np.cumsum(counts.reference)[:-1] / n_ref - np.cumsum(counts.current)[:-1] / n_cur)
    w = float(np.sum(gap[:-1] * np.diff(counts.edges)))
    scale = counts.reference_std or 0.0
    return w / scale if scale > 0 else w


def _numeric_labels(edges: np.ndarray) -> list[str]:
    if edges.size == 0:
        return ["all"]
    fmt = "{:.3g}".format
    return [f"≤{fmt(edges[0])}", *(f"{fmt(a)}–{fmt(b)}" for a, b in zip(edges[:-1], edges[1:], strict=True)),
            f">{fmt(edges[-1])}"]

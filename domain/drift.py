"""Drift math: PSI per feature, KS on predictions, the assessment. numpy + scipy, no I/O.

PSI (population stability index) of one numeric feature, with ``bins`` bins whose edges are
the reference's quantiles::

    PSI = sum_i (cur_i - ref_i) * ln(cur_i / ref_i)

over the bins' shares of rows. Values below the reference minimum fall in the first bin and
above its maximum in the last; NaN / missing values form a bin of their own; a share of 0 is
replaced by ``EPSILON`` (1e-4) before the logarithm, so an empty bin costs a finite, large
amount instead of infinity. Categorical features use one bin per category seen in either
window (unseen categories are counted, not dropped). Composite PSI is the weighted mean of the
feature PSIs (equal weights unless configured).

KS: ``scipy.stats.ks_2samp`` on the prediction column (its p-value, unchanged). Per numeric
feature, optionally, the KS statistic is taken on a 4,096-bin histogram over the pooled range
(error at most the largest bin's share of rows) with the asymptotic p-value: the exact test
would sort every column, which on 50 x 1,000,000 rows costs more than the whole assessment.

numpy and scipy come with the ``drift`` extra (``pip install 'incident-bot[drift]'``), not
with the core install: they are imported where the math runs, so the app, its CLI and the
drift job configuration load without them, and a drift feature asked for without them says
how to get them (:class:`DriftUnavailable`).
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

EPSILON = 1e-4
DEFAULT_BINS = 10
KS_FEATURE_BINS = 4096


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

    def top_features(self, n: int = 5) -> list[tuple[str, float]]:
        return sorted(self.feature_scores.items(), key=lambda kv: (-kv[1], kv[0]))[:n]

    def as_dict(self) -> dict[str, Any]:
        """The data dictionary's keys (for JSON output and storage)."""

        def iso(d: datetime | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "psi_composite": self.psi_composite,
            "ks_p_value": self.ks_p_value,
            "drift_detected": self.drift_detected,
            "feature_scores": self.feature_scores,
            "feature_ks_p_values": self.feature_ks,
            "ks_statistic": self.ks_statistic,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "reference_window_start": iso(self.reference_window_start),
            "reference_window_end": iso(self.reference_window_end),
            "evaluation_window_start": iso(self.evaluation_window_start),
            "evaluation_window_end": iso(self.evaluation_window_end),
        }


def _psi_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    import numpy as np

    ref = ref_counts / max(ref_counts.sum(), 1)
    cur = cur_counts / max(cur_counts.sum(), 1)
    ref = np.where(ref == 0, EPSILON, ref)
    cur = np.where(cur == 0, EPSILON, cur)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def psi_numeric(reference: np.ndarray, current: np.ndarray, bins: int = DEFAULT_BINS) -> float:
    """PSI of one numeric feature (see the module docstring for the binning rules)."""
    import numpy as np

    if bins < 2:
        raise DriftInputError(f"bins must be at least 2, not {bins}")
    reference = np.asarray(reference, dtype=float)
    current = np.asarray(current, dtype=float)
    ref_nan, cur_nan = np.isnan(reference), np.isnan(current)
    ref_valid = reference[~ref_nan] if ref_nan.any() else reference
    cur_valid = current[~cur_nan] if cur_nan.any() else current
    if ref_valid.size == 0:
        raise DriftInputError("the reference window has no numeric values for this feature")
    edges = np.unique(np.quantile(ref_valid, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_counts = _bin_counts(ref_valid, edges)
    cur_counts = _bin_counts(cur_valid, edges)
    ref_counts = np.append(ref_counts, ref_nan.sum())
    cur_counts = np.append(cur_counts, cur_nan.sum())
    return _psi_from_counts(ref_counts, cur_counts)


def _bin_counts(values: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    """Counts per bin, bins closed on the right; outside values land in the end bins."""
    import numpy as np

    at_or_below = np.array([np.count_nonzero(values <= e) for e in inner_edges], dtype=np.int64)
    cumulative = np.concatenate([at_or_below, [values.size]])
    return np.diff(cumulative, prepend=0)


def psi_categorical(reference: Sequence[Any], current: Sequence[Any]) -> float:
    """PSI over categories (None / NaN counted as their own category)."""
    import numpy as np

    def key(v: Any) -> Any:
        return "<missing>" if v is None or (isinstance(v, float) and math.isnan(v)) else v

    ref = [key(v) for v in reference]
    cur = [key(v) for v in current]
    if not ref:
        raise DriftInputError("the reference window is empty")
    categories = sorted(set(ref) | set(cur), key=str)
    index = {c: i for i, c in enumerate(categories)}
    ref_counts = np.bincount([index[v] for v in ref], minlength=len(categories))
    cur_counts = np.bincount([index[v] for v in cur], minlength=len(categories))
    return _psi_from_counts(ref_counts, cur_counts)


def ks_feature_p_value(reference: np.ndarray, current: np.ndarray) -> float:
    """Histogram KS (4,096 bins over the pooled range) with the asymptotic p-value."""
    import numpy as np
    from scipy import stats

    reference = reference[~np.isnan(reference)]
    current = current[~np.isnan(current)]
    if reference.size == 0 or current.size == 0:
        return float("nan")
    low = min(reference.min(), current.min())
    high = max(reference.max(), current.max())
    if low == high:
        return 1.0
    ref_hist, edges = np.histogram(reference, bins=KS_FEATURE_BINS, range=(low, high))
    cur_hist, _ = np.histogram(current, bins=edges)
    d = float(np.max(np.abs(np.cumsum(ref_hist) / reference.size - np.cumsum(cur_hist) / current.size)))
    n = reference.size * current.size / (reference.size + current.size)
    return float(stats.kstwobign.sf(d * math.sqrt(n)))


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
    ks_per_feature: bool = False,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DriftAssessment:
    """Compare two windows given as column name -> array (numeric) or sequence (categorical)."""
    try:
        import numpy as np
        from scipy import stats
    except ModuleNotFoundError as exc:
        raise DriftUnavailable(missing_drift_packages() or [str(exc.name)]) from exc
    if not features:
        raise DriftInputError("no features to assess")
    for name in [*features, *([prediction] if prediction else [])]:
        for window, data in (("reference", reference), ("current", current)):
            if name not in data:
                raise DriftInputError(f"column {name!r} is missing from the {window} data")
    ref_rows = len(reference[features[0]])
    cur_rows = len(current[features[0]])
    if ref_rows == 0 or cur_rows == 0:
        raise DriftInputError(f"a window is empty (reference {ref_rows} rows, current {cur_rows} rows)")

    def one(name: str) -> tuple[str, float, float | None]:
        ref, cur = reference[name], current[name]
        if _numeric(ref) and _numeric(cur):
            ref_a, cur_a = np.asarray(ref, dtype=float), np.asarray(cur, dtype=float)
            score = psi_numeric(ref_a, cur_a, bins)
            ks = ks_feature_p_value(ref_a, cur_a) if ks_per_feature else None
            return name, score, ks
        return name, psi_categorical(list(ref), list(cur)), None

    # numpy releases the GIL in the comparisons and histograms: features run in parallel
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = []
        for result in pool.map(one, features):
            results.append(result)
            if progress is not None:
                progress(len(results), len(features))
    scores = {name: round(score, 6) for name, score, _ in results}
    feature_ks = {name: ks for name, _, ks in results if ks is not None}
    weights = dict(weights or {})
    total = sum(weights.get(f, 1.0) for f in features)
    composite = sum(scores[f] * weights.get(f, 1.0) for f in features) / total if total else 0.0
    ks_p: float | None = None
    ks_stat: float | None = None
    if prediction:
        ref_p = np.asarray(reference[prediction], dtype=float)
        cur_p = np.asarray(current[prediction], dtype=float)
        result = stats.ks_2samp(ref_p[~np.isnan(ref_p)], cur_p[~np.isnan(cur_p)])
        ks_p, ks_stat = float(result.pvalue), float(result.statistic)
    detected = any(s > psi_warn for s in scores.values()) or (ks_p is not None and ks_p < ks_p_value)
    return DriftAssessment(
        psi_composite=round(composite, 6),
        ks_p_value=ks_p,
        ks_statistic=ks_stat,
        drift_detected=detected,
        feature_scores=scores,
        feature_ks=feature_ks,
        reference_rows=ref_rows,
        current_rows=cur_rows,
    )


def _numeric(values: Any) -> bool:
    import numpy as np

    if isinstance(values, np.ndarray):
        return values.dtype.kind in "fiub"
    return all(
        isinstance(v, int | float) and not isinstance(v, bool) or v is None for v in list(values)[:100]
    )

"""Drift math: PSI and KS, checked against hand computations and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from domain.drift import EPSILON, DriftInputError, assess, psi_categorical, psi_numeric

RNG = np.random.default_rng(42)


def hand_psi(ref_shares: list[float], cur_shares: list[float]) -> float:
    total = 0.0
    for r, c in zip(ref_shares, cur_shares, strict=True):
        r, c = r or EPSILON, c or EPSILON
        total += (c - r) * math.log(c / r)
    return total


def test_psi_is_zero_for_identical_samples() -> None:
    sample = RNG.normal(size=10_000)
    assert psi_numeric(sample, sample.copy()) == pytest.approx(0.0, abs=1e-12)


def test_psi_matches_a_hand_computation_with_quantile_bins() -> None:
    reference = np.arange(1, 11, dtype=float)  # deciles: one value per bin
    current = np.array([1, 1, 1, 1, 1, 2, 3, 4, 5, 6], dtype=float)
    # bins (closed right) from the reference's quantiles: <=1.9, <=2.8, ... -> current shares
    expected = hand_psi([0.1] * 10, [0.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0, 0, 0, 0])
    assert psi_numeric(reference, current) == pytest.approx(expected, rel=1e-9)


def test_values_outside_the_reference_range_land_in_the_end_bins_and_nan_has_its_own() -> None:
    reference = np.arange(1, 11, dtype=float)
    current = np.array([-100, 1000, np.nan, np.nan, 5, 5, 5, 5, 5, 5], dtype=float)
    expected = hand_psi([0.1] * 10 + [0.0], [0.1, 0, 0, 0, 0.6, 0, 0, 0, 0, 0.1, 0.2])
    assert psi_numeric(reference, current) == pytest.approx(expected, rel=1e-9)


def test_categorical_psi_counts_unseen_categories() -> None:
    reference = ["a"] * 50 + ["b"] * 50
    current = ["a"] * 50 + ["b"] * 25 + ["c"] * 25
    assert psi_categorical(reference, current) == pytest.approx(hand_psi([0.5, 0.5, 0], [0.5, 0.25, 0.25]))


def test_a_shifted_feature_is_flagged_and_the_ks_p_value_is_scipys() -> None:
    ref = {"x": RNG.normal(size=20_000), "y": RNG.normal(size=20_000), "score": RNG.random(20_000)}
    cur = {"x": RNG.normal(loc=0.8, size=20_000), "y": RNG.normal(size=20_000),
           "score": RNG.random(20_000) ** 1.3}
    result = assess(ref, cur, features=["x", "y"], prediction="score", ks_per_feature=True)
    assert result.feature_scores["x"] > 0.25 > 0.01 > result.feature_scores["y"]
    assert result.drift_detected
    exact = stats.ks_2samp(ref["score"], cur["score"])
    assert result.ks_p_value == exact.pvalue and result.ks_statistic == exact.statistic
    assert result.feature_ks["x"] < 1e-10 and result.feature_ks["y"] > 0.001
    scores = result.feature_scores
    assert result.psi_composite == pytest.approx((scores["x"] + scores["y"]) / 2, abs=1e-6)
    weighted = assess(ref, cur, features=["x", "y"], weights={"x": 3})
    assert weighted.psi_composite == pytest.approx((3 * weighted.feature_scores["x"]
                                                    + weighted.feature_scores["y"]) / 4, abs=1e-6)


def test_no_drift_is_not_detected() -> None:
    ref = {"x": RNG.normal(size=50_000), "score": RNG.random(50_000)}
    cur = {"x": RNG.normal(size=50_000), "score": RNG.random(50_000)}
    result = assess(ref, cur, features=["x"], prediction="score")
    assert result.feature_scores["x"] < 0.01 and not result.drift_detected


def test_bad_input_gets_a_clear_error() -> None:
    with pytest.raises(DriftInputError, match="missing from the current data"):
        assess({"x": [1.0]}, {"y": [1.0]}, features=["x"])
    with pytest.raises(DriftInputError, match="a window is empty"):
        assess({"x": np.array([])}, {"x": np.array([1.0])}, features=["x"])
    with pytest.raises(DriftInputError, match="no numeric values"):
        psi_numeric(np.array([np.nan]), np.array([1.0]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=5, max_size=200),
       st.lists(st.floats(-1e6, 1e6), min_size=5, max_size=200), st.randoms())
def test_psi_is_non_negative_and_ignores_row_order(ref: list[float], cur: list[float], rnd: object) -> None:
    shuffled = list(cur)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    a = psi_numeric(np.array(ref), np.array(cur))
    assert a >= 0
    assert psi_numeric(np.array(ref), np.array(shuffled)) == pytest.approx(a, abs=1e-12)
    assert psi_numeric(np.array(ref), np.array(ref)) == pytest.approx(0.0, abs=1e-12)


# The in-memory engine's shortcuts (one sort of the reference, chunked passes, a merged KS) must
# give the very numbers of the straightforward computations they replace.

def _old_ks_histogram(reference: np.ndarray, current: np.ndarray) -> tuple[float, float, float]:
    """The 4,096-bin KS as it was computed before the shortcuts: one bincount per window."""
    from domain.drift_stats import ks_from_counts

    reference, current = reference[~np.isnan(reference)], current[~np.isnan(current)]
    low, high = min(reference.min(), current.min()), max(reference.max(), current.max())
    scale = 4096 / (high - low)

    def hist(values: np.ndarray) -> np.ndarray:
        return np.bincount(np.minimum(((values - low) * scale).astype(np.int64), 4095), minlength=4096)

    return ks_from_counts(hist(reference), hist(current))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(-1e9, 1e9), min_size=1, max_size=300), st.integers(0, 3))
def test_quantiles_read_off_the_sorted_values_are_numpys_to_the_last_bit(values: list[float],
                                                                         rounding: int) -> None:
    from domain.drift import sorted_quantiles

    data = np.round(np.array(values), rounding) + 0.0  # ties; +0.0: no -0.0 (its sort order is free)
    for levels in ([j / 10 for j in range(1, 10)], [k / 100 for k in range(1, 100)], [0.0, 0.5, 1.0]):
        expected = np.quantile(data, levels)
        assert sorted_quantiles(np.sort(data), levels).tobytes() == expected.tobytes()


def test_the_feature_ks_histogram_is_the_one_of_a_bincount_per_window() -> None:
    from domain.drift import ks_histogram

    for ref, cur in [(RNG.normal(size=300_000), RNG.normal(0.05, size=200_000)),
                     (np.round(RNG.lognormal(0, 2, 100_000), 2), RNG.lognormal(0.1, 2, 150_001)),
                     (RNG.integers(0, 5, 70_000).astype(float),
                      np.where(RNG.random(9_000) < 0.2, np.nan, 3.0))]:
        assert ks_histogram(ref, cur) == _old_ks_histogram(ref, cur)


def test_the_prediction_ks_is_scipys_exact_statistic_and_p_value_on_large_windows() -> None:
    from domain.drift_stats import ks_two_sample

    for ref, cur in [(RNG.normal(size=60_000), RNG.normal(0.01, size=45_001)),
                     (np.round(RNG.normal(size=30_000), 1), np.round(RNG.normal(size=20_000), 1)),
                     (RNG.integers(0, 3, 25_000).astype(float), RNG.integers(0, 3, 12_000).astype(float)),
                     (RNG.random(500), RNG.random(400))]:
        exact = stats.ks_2samp(ref, cur)
        assert ks_two_sample(ref, cur) == (exact.statistic, exact.pvalue)


def test_psi_and_bin_counts_are_those_of_the_per_edge_comparisons() -> None:
    from domain.drift import _numeric_psi_counts

    ref = np.where(RNG.random(200_000) < 0.05, np.nan, np.round(RNG.normal(size=200_000), 2) + 0.0)
    cur = np.where(RNG.random(150_000) < 0.2, np.nan, RNG.normal(0.2, 1.3, size=150_000))
    psi, edges, ref_counts, cur_counts = _numeric_psi_counts(ref, cur, 10)
    valid_ref, valid_cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    assert edges.tobytes() == np.unique(np.quantile(valid_ref, [j / 10 for j in range(1, 10)])).tobytes()
    for counts, valid, window in ((ref_counts, valid_ref, ref), (cur_counts, valid_cur, cur)):
        at_or_below = [np.count_nonzero(valid <= e) for e in edges]
        assert counts.tolist() == [*np.diff([0, *at_or_below, valid.size]), np.isnan(window).sum()]


def test_the_reference_read_off_its_histogram_gives_the_numbers_of_its_sort() -> None:
    """The KS path finds the reference's quantile edges in the few histogram bins holding the
    wanted ranks instead of sorting it: the same PSI, edges, counts and KS as the sorted path."""
    from domain.drift import _ks_histogram, _psi_and_ks_by_histogram, _psi_counts, _sorted_valid, _valid

    def columns(n: int) -> list[np.ndarray]:
        return [RNG.normal(size=n), np.round(RNG.normal(size=n), 1) + 0.0, RNG.lognormal(0, 4, n),
                RNG.integers(0, 4, n).astype(float),
                np.where(RNG.random(n) < 0.3, np.nan, RNG.standard_cauchy(n)),
                np.concatenate([np.full(n // 2, 1.0), RNG.normal(size=n - n // 2)]), RNG.normal(1e9, 1e-3, n)]

    compared = 0
    for n_ref, n_cur in ((3, 7), (100, 1000), (4097, 30_001), (50_000, 20_000)):
        for ref, cur in zip(columns(n_ref), columns(n_cur)[::-1], strict=True):
            for bins in (2, 10, 20):
                cur_valid, cur_nan = _valid(cur)
                fast = _psi_and_ks_by_histogram(ref, cur_valid, cur_nan, bins)
                if fast is None:
                    continue
                ordered = _sorted_valid(ref)
                psi, edges, ref_counts, cur_counts = _psi_counts(ordered, ref.size - ordered.size, cur_valid,
                                                                 cur_nan, bins)
                assert (fast[0], fast[1].tolist(), fast[2].tolist(), fast[3].tolist()) == (
                    psi, edges.tolist(), ref_counts.tolist(), cur_counts.tolist())
                assert fast[4] == _ks_histogram(ordered, cur_valid)
                compared += 1
    assert compared > 60

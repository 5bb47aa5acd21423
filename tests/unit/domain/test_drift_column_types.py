"""The right test per column type (issue 20): kinds found from the data or configured, PSI with
an <other> bucket, chi-square / Jensen-Shannon for categories, KS / Wasserstein for numbers, the
binned KS within its stated bound, and the same PSI from counts as from arrays."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial import distance

from domain.drift import DriftInputError, FeatureSpecs, assess, feature_kind
from domain.drift_stats import (
    OTHER,
    CategoryCounts,
    NumericCounts,
    grid_levels,
    grid_per_bin,
    ks_from_counts,
    order_stat_ranks,
    quantiles_from_order_stats,
    score_categorical,
    score_numeric_counts,
)

RNG = np.random.default_rng(20)


def test_booleans_strings_and_low_cardinality_integers_are_categorical() -> None:
    assert feature_kind(np.array([True, False, True])) == "categorical"
    assert feature_kind(np.array(["a", "b"], dtype=object)) == "categorical"
    assert feature_kind(RNG.integers(0, 5, 1000)) == "categorical"
    assert feature_kind(np.array([0, 100, 200, 300] * 10)) == "categorical"
    assert feature_kind(RNG.integers(0, 10_000, 1000)) == "numeric"
    assert feature_kind(RNG.normal(size=100)) == "numeric"
    assert feature_kind([1.5, None, 2]) == "numeric"


def test_each_kind_gets_its_test_and_the_choice_is_in_the_output() -> None:
    n = 5000
    ref = {"x": RNG.normal(size=n), "plan": RNG.choice(["a", "b", "c"], n), "flag": RNG.random(n) < 0.3,
           "children": RNG.integers(0, 4, n)}
    cur = {"x": RNG.normal(0.5, size=n), "plan": RNG.choice(["a", "b", "c"], n, p=[0.6, 0.2, 0.2]),
           "flag": RNG.random(n) < 0.6, "children": RNG.integers(0, 4, n)}
    result = assess(ref, cur, features=list(ref))
    kinds = {name: (f.kind, f.test) for name, f in result.features.items()}
    assert kinds == {"x": ("numeric", "ks"), "plan": ("categorical", "jensenshannon"),
                     "flag": ("categorical", "jensenshannon"), "children": ("categorical", "jensenshannon")}
    assert result.features["plan"].drifted and result.features["flag"].drifted
    assert not result.features["children"].drifted
    assert result.as_dict()["feature_tests"]["plan"]["test"] == "jensenshannon"
    small = assess({k: v[:500] for k, v in ref.items()}, {k: v[:500] for k, v in cur.items()},
                   features=["plan"])
    assert small.features["plan"].test == "chisquare"  # small windows: a p-value still means something


def test_kind_and_test_are_configurable_per_feature() -> None:
    ref, cur = {"code": RNG.integers(0, 5, 2000)}, {"code": RNG.integers(0, 5, 2000)}
    specs = FeatureSpecs(kinds={"code": "numeric"}, tests={"code": "wasserstein"})
    result = assess(ref, cur, features=["code"], specs=specs)
    assert (result.features["code"].kind, result.features["code"].test) == ("numeric", "wasserstein")
    with pytest.raises(DriftInputError, match="its test is one of ks, wasserstein"):
        assess(ref, cur, features=["code"], specs=FeatureSpecs(kinds={"code": "numeric"},
                                                                tests={"code": "chisquare"}))


def test_unseen_categories_go_to_other_and_chi_square_and_js_are_scipys() -> None:
    counts = CategoryCounts({"a": 500, "b": 500}, {"a": 400, "b": 300, "z": 200, "y": 100})
    chi = score_categorical("f", counts, "chisquare", 0.05)
    assert chi.distribution.labels == ("a", "b", OTHER, "<missing>")
    assert chi.distribution.current == (400, 300, 300, 0)
    table = np.array([[500, 500, 0], [400, 300, 300]])
    assert chi.p_value == pytest.approx(stats.chi2_contingency(table, correction=False).pvalue)
    js = score_categorical("f", counts, "jensenshannon", 0.05)
    assert js.statistic == pytest.approx(distance.jensenshannon([500, 500, 0, 0], [400, 300, 300, 0], base=2))
    assert js.drifted and js.p_value is None


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=300), st.integers(2, 20))
def test_quantiles_from_a_databases_order_statistics_are_numpys(values: list[float], bins: int) -> None:
    ordered = sorted(values)
    levels = grid_levels(bins)
    ranks = order_stat_ranks(len(values), levels)
    got = quantiles_from_order_stats(len(values), levels, {r: ordered[r] for r in ranks})
    assert got == np.quantile(np.array(values), levels).tolist()


def counts_of(ref: np.ndarray, cur: np.ndarray, bins: int = 10) -> NumericCounts:
    edges = np.quantile(ref, grid_levels(bins))

    def grid(values: np.ndarray) -> np.ndarray:
        return np.bincount(np.searchsorted(edges, values, side="left"), minlength=edges.size + 1)

    return NumericCounts(edges, grid(ref), grid(cur), 0, 0, grid_per_bin(bins), "", float(ref.std()))


@pytest.mark.parametrize("shift", [0.0, 0.05, 0.3, 2.0])
def test_counts_give_the_in_memory_psi_and_the_binned_ks_is_within_its_bound(shift: float) -> None:
    ref, cur = RNG.normal(size=20_000), RNG.normal(shift, 1.2, size=15_000)
    from_counts = score_numeric_counts("x", counts_of(ref, cur), None, 0.05)
    in_memory = assess({"x": ref}, {"x": cur}, features=["x"])
    assert from_counts.psi == pytest.approx(in_memory.feature_scores["x"], abs=1e-6)
    exact = stats.ks_2samp(ref, cur).statistic
    d, _, bound = ks_from_counts(counts_of(ref, cur).reference, counts_of(ref, cur).current)
    assert d <= exact + 1e-12 <= d + bound + 1e-12
    assert f"within +{bound:.4f}" in from_counts.note


def test_a_categorical_feature_charts_as_category_bars_from_an_in_memory_assessment() -> None:
    from bot.reports.drift import chart_png, report_html

    ref = {"plan": np.array(["a"] * 80 + ["b"] * 20, dtype=object), "x": RNG.normal(size=100)}
    cur = {"plan": np.array(["a"] * 20 + ["b"] * 50 + ["c"] * 30, dtype=object), "x": RNG.normal(size=100)}
    result = assess(ref, cur, features=["plan", "x"])
    assert result.top_features(1)[0][0] == "plan"
    png = chart_png(result, 0.15, 0.25)
    assert png.startswith(b"\x89PNG")
    assert "categorical" in report_html(result, model="m", psi_warn=0.15, psi_critical=0.25)


def test_progress_shows_rows_per_second_and_eta_on_a_terminal_only() -> None:
    from storage.drift_files import TerminalProgress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, pipe = Terminal(), io.StringIO()
    TerminalProgress(tty, every=0)("current", 500, 1000)
    TerminalProgress(pipe, every=0)("current", 500, 1000)
    assert "500/1,000 rows" in tty.getvalue() and "rows/s" in tty.getvalue() and "ETA" in tty.getvalue()
    assert pipe.getvalue() == ""

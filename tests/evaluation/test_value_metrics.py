"""CLV metrics against independent formulas and known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from socialcrm.evaluation.value import (
    decile_mape,
    decile_table,
    normalized_gini,
    top_customers_found,
    top_share_captured,
    value_grade,
    value_metrics,
)


@pytest.fixture
def spend():
    rng = np.random.default_rng(0)
    n = 20_000
    expected = rng.gamma(0.6, 100.0, n)  # heavy-tailed expected value
    actual = np.where(rng.random(n) < 0.4, 0.0, rng.gamma(2.0, expected / 2.0))  # zero spike
    return actual, expected


def test_perfect_random_and_reversed_rankings(spend):
    actual, _ = spend
    rng = np.random.default_rng(1)
    assert normalized_gini(actual, actual) == pytest.approx(1.0)
    assert normalized_gini(actual, actual * 3 + 7) == pytest.approx(1.0)  # scale-free
    assert abs(normalized_gini(actual, rng.random(len(actual)))) < 0.03
    distinct = np.arange(1, 101, dtype=float)
    assert normalized_gini(distinct, -distinct) == pytest.approx(-1.0)


def test_normalized_gini_of_a_binary_target_is_2auc_minus_1():
    rng = np.random.default_rng(2)
    y = (rng.random(5000) < 0.3).astype(float)
    p = y * 0.5 + rng.random(5000)  # continuous: no ties
    assert normalized_gini(y, p) == pytest.approx(2 * roc_auc_score(y, p) - 1, abs=1e-3)


def test_normalized_gini_matches_the_lorenz_area_formula(spend):
    actual, expected = spend
    order = np.argsort(-expected, kind="stable")

    # independent: area between the cumulative-gain curve and the diagonal, trapezoids
    def area(order):
        gain = np.r_[0, np.cumsum(actual[order])] / actual.sum()
        share = np.linspace(0, 1, len(actual) + 1)
        return np.trapezoid(gain - share, share)

    ratio = area(order) / area(np.argsort(-actual, kind="stable"))
    assert normalized_gini(actual, expected) == pytest.approx(ratio, abs=2e-4)


def test_capture_and_found_by_brute_force(spend):
    actual, expected = spend
    frame = pd.DataFrame({"y": actual, "p": expected})
    k = int(np.ceil(0.1 * len(frame)))
    assert top_share_captured(actual, expected, 0.1) == pytest.approx(
        frame.nlargest(k, "p").y.sum() / actual.sum()
    )
    k20 = int(np.ceil(0.2 * len(frame)))
    found = len(set(frame.nlargest(k20, "p").index) & set(frame.nlargest(k20, "y").index)) / k20
    assert top_customers_found(actual, expected, 0.2) == pytest.approx(found, abs=2 / k20)
    assert top_customers_found(actual, actual, 0.2) == 1.0


def test_decile_calibration_of_the_true_expectation_is_close(spend):
    rng = np.random.default_rng(3)
    expected = rng.gamma(0.6, 100.0, 200_000)
    actual = rng.poisson(expected / 20.0) * 20.0  # unbiased around the expectation
    table = decile_table(actual, expected)
    assert list(table.decile) == list(range(1, 11))
    assert table.mean_predicted.is_monotonic_decreasing
    assert decile_mape(actual, expected) < 0.05
    assert decile_mape(actual, expected * 1.5) == pytest.approx(0.5, abs=0.05)


def test_value_metrics_errors_and_totals(spend):
    actual, expected = spend
    m = value_metrics(actual, expected)
    assert m["mae"] == pytest.approx(np.mean(np.abs(expected - actual)))
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((expected - actual) ** 2)))
    assert m["spearman"] == pytest.approx(spearmanr(actual, expected).statistic)
    assert m["total_predicted"] == pytest.approx(expected.sum())
    assert 0 < m["top10_share"] < m["top20_share"] < 1


@pytest.mark.parametrize(
    ("model", "baseline", "expected"),
    [(0.60, 0.50, "A"), (0.55, 0.50, "A"), (0.53, 0.50, "B"), (0.50, 0.50, "C"), (0.4, 0.5, "C")],
)
def test_value_grade(model, baseline, expected):
    assert value_grade(model, baseline) == expected


def test_value_metrics_reject_bad_input():
    with pytest.raises(ValueError, match="differ in shape"):
        value_metrics(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="no customers"):
        value_metrics(np.array([]), np.array([]))


def test_gain_curve_runs_from_zero_to_one_and_its_area_gives_the_gini():
    from socialcrm.evaluation.value import gain_curve

    rng = np.random.default_rng(11)
    y = rng.gamma(0.5, 100.0, 500) * (rng.random(500) < 0.6)
    p = y + rng.normal(0, 60, 500)
    curve = gain_curve(y, p)
    assert curve.share_customers.iloc[0] == 0 and curve.share_value.iloc[0] == 0
    assert curve.share_customers.iloc[-1] == 1 and curve.share_value.iloc[-1] == pytest.approx(1)
    assert (np.diff(curve.share_value) >= -1e-12).all()  # spend is never negative here

    def gini(c):  # the Kaggle Gini from the curve: mean cumulative share minus the diagonal's
        n = len(c) - 1
        return c.share_value.iloc[1:].mean() - (n + 1) / (2 * n)

    assert gini(curve) / gini(gain_curve(y, y)) == pytest.approx(normalized_gini(y, p))
    thin = gain_curve(y, p, points=10)
    assert len(thin) == 11
    np.testing.assert_allclose(thin.share_value, curve.share_value.iloc[::50].to_numpy())

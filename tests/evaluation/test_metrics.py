"""Metric functions against independent formulas and known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu
from sklearn.metrics import f1_score

from socialcrm.evaluation.metrics import (
    best_threshold,
    calibration_table,
    capture_at,
    classification_metrics,
    grade,
    lift_at,
    lift_curve,
)
from socialcrm.evaluation.profit import best_cut, profit_curve


@pytest.fixture
def scored():
    rng = np.random.default_rng(0)
    n = 5000
    p = rng.beta(1, 8, n)
    y = (rng.random(n) < p).astype(int)
    return y, p


def test_perfect_ranking_has_maximal_lift_and_capture():
    y = np.r_[np.ones(100), np.zeros(900)]
    p = np.r_[np.linspace(0.9, 0.99, 100), np.linspace(0.01, 0.5, 900)]
    assert lift_at(y, p, 0.1) == pytest.approx(10.0)
    assert capture_at(y, p, 0.1) == pytest.approx(1.0)
    assert capture_at(y, p, 0.05) == pytest.approx(0.5)


def test_lift_and_capture_match_a_brute_force_count(scored):
    y, p = scored
    frame = pd.DataFrame({"y": y, "p": p})
    top = frame.nlargest(int(np.ceil(0.1 * len(frame))), "p")
    assert capture_at(y, p, 0.1) == pytest.approx(top.y.sum() / y.sum())
    assert lift_at(y, p, 0.1) == pytest.approx(top.y.mean() / y.mean())
    curve = lift_curve(y, p)
    assert curve.capture.is_monotonic_increasing
    assert curve.capture.iloc[-1] == pytest.approx(1.0)
    assert curve.lift.iloc[-1] == pytest.approx(1.0)


def test_random_scores_have_lift_near_one():
    rng = np.random.default_rng(1)
    y = rng.random(200_000) < 0.1
    p = rng.random(200_000)
    assert lift_at(y, p, 0.1) == pytest.approx(1.0, abs=0.05)


def test_roc_auc_equals_the_mann_whitney_statistic(scored):
    y, p = scored
    m = classification_metrics(y, p, 0.2)
    u = mannwhitneyu(p[y == 1], p[y == 0]).statistic
    assert m["roc_auc"] == pytest.approx(u / ((y == 1).sum() * (y == 0).sum()))
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))
    ll = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert m["log_loss"] == pytest.approx(ll)
    assert m["f1"] == pytest.approx(f1_score(y, p >= 0.2))


def test_best_threshold_maximises_f1_over_every_cut(scored):
    y, p = scored
    p = np.round(p, 3)  # ties: only cuts between distinct scores count
    t = best_threshold(y, p)
    brute = max(np.unique(p), key=lambda c: (f1_score(y, p >= c), c))
    assert f1_score(y, p >= t) == pytest.approx(f1_score(y, p >= brute))


def test_calibration_table_of_true_probabilities_is_on_the_diagonal(scored):
    rng = np.random.default_rng(2)
    p = rng.beta(2, 5, 100_000)
    y = rng.random(len(p)) < p
    table = calibration_table(y, p, bins=10)
    assert len(table) == 10 and table.n.sum() == len(p)
    assert np.abs(table.mean_predicted - table.observed_rate).max() < 0.02


@pytest.mark.parametrize(
    ("model", "baseline", "expected"),
    [(0.33, 0.30, "A"), (0.32, 0.30, "B"), (0.30, 0.30, "C"), (0.20, 0.30, "C"), (0.1, 0.0, "A")],
)
def test_grade_against_the_baseline(model, baseline, expected):
    assert grade(model, baseline, 0.10) == expected


def test_profit_curve_matches_a_loop_and_the_best_cut_is_its_maximum():
    rng = np.random.default_rng(3)
    p = rng.random(300)
    value = rng.gamma(2.0, 100.0, 300)
    y = rng.random(300) < p
    curve = profit_curve(p, value, contact_cost=10.0, save_rate=0.3, y=y)
    order = sorted(range(300), key=lambda i: -p[i] * 0.3 * value[i])
    expected, realised = [0.0], [0.0]
    for i in order:
        expected.append(expected[-1] + p[i] * 0.3 * value[i] - 10.0)
        realised.append(realised[-1] + y[i] * 0.3 * value[i] - 10.0)
    np.testing.assert_allclose(curve.expected_profit, expected)
    np.testing.assert_allclose(curve.realised_profit, realised)
    cut = best_cut(curve)
    assert cut["expected_profit"] == pytest.approx(max(expected))
    # contacting stops exactly where the expected gain falls below the contact cost
    gains = np.sort(p * 0.3 * value)[::-1]
    assert cut["contacted"] == (gains > 10.0).sum()


def test_metrics_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="differ in shape"):
        lift_at(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="no customers"):
        lift_at(np.array([]), np.array([]))

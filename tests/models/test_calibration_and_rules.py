"""Probability calibration and the recency-rule baseline on data with a known answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from socialcrm.models.calibration import ProbabilityCalibrator
from socialcrm.models.rules import RecencyRule


@pytest.fixture
def miscalibrated():
    rng = np.random.default_rng(0)
    p_true = rng.beta(1, 6, 40_000)
    y = (rng.random(len(p_true)) < p_true).astype(int)
    raw = p_true**0.4  # same ranking, far too high
    return raw, y, p_true


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_calibration_fixes_overconfident_scores_and_keeps_the_ranking(miscalibrated, method):
    raw, y, _ = miscalibrated
    half = len(y) // 2
    cal = ProbabilityCalibrator(method).fit(raw[:half], y[:half])
    p = cal.transform(raw[half:])
    yt = y[half:]
    assert brier_score_loss(yt, p) < brier_score_loss(yt, raw[half:]) - 0.01
    assert abs(p.mean() - yt.mean()) < 0.01
    # monotone: ranking (ROC-AUC) kept, isotonic steps included
    assert roc_auc_score(yt, p) == pytest.approx(roc_auc_score(yt, raw[half:]), abs=1e-9)
    assert ((p >= 0) & (p <= 1)).all()


def test_unknown_calibration_method_is_refused():
    with pytest.raises(ValueError, match="calibration must be one of"):
        ProbabilityCalibrator("beta")


def test_recency_rule_picks_the_window_that_separates_churners():
    rng = np.random.default_rng(1)
    n = 4000
    churn = rng.random(n) < 0.2
    recency = np.where(churn, rng.uniform(50, 200, n), rng.uniform(0, 40, n))
    X = pd.DataFrame({"recency_days": recency})
    rule = RecencyRule(window_days=365, max_k=6).fit(X, churn)
    # 365/2**k candidates: 365, 182.5, 91.3, 45.6, 22.8, ...: only 45.6 splits 40 | 50
    assert rule.k_ == 3
    assert rule.threshold_days_ == pytest.approx(365 / 8)
    assert (rule.predict(X) == churn).all()
    assert rule.predict_proba(X)[:, 1].max() == pytest.approx(1.0)


def test_recency_rule_for_a_column_where_low_values_mean_risk():
    tenure = np.array([10.0, 20, 30, 400, 500, 600])
    churn = np.array([1, 1, 1, 0, 0, 0], dtype=bool)
    X = pd.DataFrame({"tenure_days": tenure})
    rule = RecencyRule(window_days=1000, max_k=4, column="tenure_days", higher_is_riskier=False)
    rule.fit(X, churn)
    assert (rule.predict(X) == churn).all()
    assert roc_auc_score(churn, rule.decision_function(X)) == 1.0


def test_never_bought_counts_as_most_stale():
    X = pd.DataFrame({"recency_days": [np.nan, 1.0]})
    rule = RecencyRule(window_days=64, max_k=2).fit(X, np.array([True, False]))
    assert rule.predict(X).tolist() == [True, False]

"""CLV building blocks against hand computation and data with a known answer:
the commercial baseline, the two-part model, customer referral value."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from socialcrm.models.value import DAYS_PER_MONTH, TwoPartRegressor, commercial_clv
from socialcrm.tasks.referral import missed_by_clv, referral_value


def test_commercial_baseline_is_monthly_spend_times_months_times_retention():
    monetary = np.array([1200.0, 300.0, 0.0, np.nan])
    tenure = np.array([800.0, 73.05, 10.0, 400.0])  # a long-time, a new, a very new customer
    got = commercial_clv(monetary, tenure, window_days=365, horizon_days=90, retention_rate=0.8)
    months = 90 / DAYS_PER_MONTH
    expected = [
        1200.0 / (365 / DAYS_PER_MONTH) * months * 0.8,  # a full window on the books
        300.0 / (73.05 / DAYS_PER_MONTH) * months * 0.8,  # only 2.4 months to average over
        0.0,
        0.0,  # no spend recorded: nothing expected
    ]
    np.testing.assert_allclose(got, expected)
    with pytest.raises(ValueError, match="retention_rate"):
        commercial_clv(monetary, tenure, 365, 90, 1.2)


def _zero_inflated(n: int, seed: int):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    p_buy = 1 / (1 + np.exp(-(0.3 + 1.5 * X.a)))
    mean_spend = np.exp(4.0 + 0.6 * X.b)
    buys = rng.random(n) < p_buy
    y = np.where(buys, rng.gamma(2.0, mean_spend / 2.0), 0.0)
    return X, y, p_buy * mean_spend


def test_two_part_model_recovers_the_expected_spend():
    X, y, _ = _zero_inflated(20000, 0)
    params = {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 7, "verbose": -1}
    model = TwoPartRegressor(
        lgb.LGBMClassifier(**params, n_jobs=1),
        lgb.LGBMRegressor(objective="gamma", **params, n_jobs=1),
        random_state=3,
    ).fit(X, y)
    X_new, _, truth_new = _zero_inflated(5000, 1)
    pred = model.predict(X_new)
    assert model.classifier_.get_params()["random_state"] == 3
    assert np.corrcoef(pred, truth_new)[0, 1] > 0.95
    assert pred.mean() == pytest.approx(truth_new.mean(), rel=0.05)
    np.testing.assert_allclose(
        pred, model.probability_buys(X_new) * model.spend_if_buys(X_new), rtol=1e-12
    )
    with pytest.raises(ValueError, match="with and without spend"):
        TwoPartRegressor(lgb.LGBMClassifier(), lgb.LGBMRegressor()).fit(X, np.ones(len(X)))


def test_referral_value_sums_the_referred_customers_clv_before_the_cutoff():
    clv = pd.DataFrame({"customer_id": ["A", "B", "C", "E"], "clv": [100.0, 50.0, 30.0, 80.0]})
    referrals = pd.DataFrame(
        {
            "referrer_id": ["A", "A", "A", "E"],
            "referred_id": ["B", "D", "C", "C2"],
            "timestamp": pd.to_datetime(["2025-01-10", "2025-02-01", "2025-07-01", "2025-03-01"]),
        }
    )
    out = referral_value(clv, referrals, "2025-06-01").set_index("customer_id")
    # A referred B (CLV 50) and D (gone: worth nothing) before the cutoff; C came after it
    assert out.loc["A", "crv"] == 50.0 and out.loc["A", "n_referred"] == 2
    assert out.loc["A", "total_value"] == 150.0
    assert out.loc["E", "crv"] == 0.0 and out.loc["E", "n_referred"] == 1
    assert out.loc["B", "crv"] == 0.0 and out.loc["B", "n_referred"] == 0
    assert list(out.index) == ["A", "E", "B", "C"]  # by total value


def test_missed_by_clv_counts_top_customers_only_referral_value_reveals():
    values = pd.DataFrame(
        {
            "customer_id": list("abcde"),
            "clv": [10.0, 9.0, 8.0, 1.0, 2.0],
            "crv": [0.0, 0.0, 0.0, 20.0, 0.0],
        }
    ).assign(total_value=lambda d: d.clv + d.crv)
    missed, top = missed_by_clv(values, k=2)
    assert missed == 1  # d is second by total value but last but one by CLV
    assert list(top.customer_id) == ["d", "a"]
    assert list(top.in_clv_top) == [False, True]
    assert missed_by_clv(values.assign(crv=0.0, total_value=values.clv), k=2)[0] == 0

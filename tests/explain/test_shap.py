"""SHAP explanations: additivity (base + contributions == margin) and reason codes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from socialcrm.config import compose
from socialcrm.explain.shap_values import explain, global_importance, reason_codes
from socialcrm.models.factory import build_pipeline

NUMERIC = ["risk", "noise", "tenure"]
CATEGORICAL = ["plan"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 3000
    X = pd.DataFrame(
        {
            "risk": rng.normal(size=n),
            "noise": rng.normal(size=n),
            "tenure": rng.gamma(2.0, 200.0, n),
            "plan": rng.choice(["basic", "plus", "premium"], n),
        }
    )
    X.loc[rng.random(n) < 0.1, "risk"] = np.nan  # missing values (e.g. no consent)
    logit = -2 + 1.5 * X.risk.fillna(0) - 0.002 * X.tenure + (X.plan == "basic") * 0.8
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


@pytest.mark.parametrize("model", ["lightgbm", "xgboost", "logreg"])
def test_base_value_plus_contributions_equals_the_margin(data, model):
    X, y = data
    cfg = compose([f"model={model}"])
    pipe = build_pipeline(cfg.model, "classification", NUMERIC, CATEGORICAL, seed=0).fit(X, y)
    rows = X.iloc[:500]
    expl = explain(pipe, rows, background=X.sample(200, random_state=0))
    assert list(expl.values.columns) == NUMERIC + CATEGORICAL  # encoder columns summed back
    total = expl.base_value + expl.values.sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, expl.margin, atol=1e-4)
    # the margin is the model's own log-odds
    p = pipe.predict_proba(rows)[:, 1]
    np.testing.assert_allclose(1 / (1 + np.exp(-expl.margin)), p, atol=1e-5)
    # the informative feature dominates the noise feature
    importance = global_importance(expl, top=None).set_index("feature")
    assert (
        importance.loc["risk", "mean_abs_contribution"]
        > 3 * importance.loc["noise", "mean_abs_contribution"]
    )
    assert importance.loc["risk", "direction"] == "higher raises it"
    assert importance.loc["tenure", "direction"] == "higher lowers it"


def test_reason_codes_name_the_largest_contributions(data):
    X, y = data
    pipe = build_pipeline(
        compose(["model=logreg"]).model, "classification", NUMERIC, CATEGORICAL, 0
    )
    pipe.fit(X, y)
    rows = X.iloc[:200]
    expl = explain(pipe, rows, background=X)
    reasons = reason_codes(expl, top=2)
    assert list(reasons.columns) == ["raising_1", "raising_2", "lowering_1", "lowering_2"]
    v = expl.values
    for i in range(len(rows)):
        up = v.iloc[i].idxmax()
        if v.iloc[i].max() > 0:
            assert reasons.raising_1.iloc[i].startswith(f"{up} = ")
        down = v.iloc[i].idxmin()
        if v.iloc[i].min() < 0:
            assert reasons.lowering_1.iloc[i].startswith(f"{down} = ")
    # a missing value is reported as such, not as nan
    missing = rows.risk.isna().to_numpy()
    risk_reasons = reasons[missing].apply(lambda r: [s for s in r if s.startswith("risk")], axis=1)
    assert all(s.startswith("risk = missing") for ss in risk_reasons for s in ss)

"""SHAP explanations: additivity (base + contributions == margin), reason codes and
the synthetic background that travels with a deployed model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from socialcrm.config import compose
from socialcrm.explain.shap_values import (
    empty_reasons,
    explain,
    global_importance,
    reason_codes,
    synthetic_background,
)
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


def _row_keys(rows: pd.DataFrame) -> set[tuple]:
    return set(rows.astype(object).fillna("<NA>").itertuples(index=False))


def test_synthetic_background_summarises_the_data_without_any_of_its_rows(data):
    X, _ = data
    bg = synthetic_background(X, k=200, seed=0)
    assert len(bg) == 200 and list(bg.columns) == list(X.columns)
    assert not _row_keys(bg) & _row_keys(X)
    # numeric features at their quantiles (i + 0.5) / k, in rising order
    tenure = bg.tenure.to_numpy()
    np.testing.assert_allclose(tenure, np.quantile(X.tenure, (np.arange(200) + 0.5) / 200))
    # missing values and levels in the data's proportions
    assert bg.risk.isna().mean() == pytest.approx(X.risk.isna().mean(), abs=0.01)
    assert np.all(np.diff(bg.risk.dropna().to_numpy()) >= 0)
    shares = bg.plan.value_counts(normalize=True)
    expected = X.plan.value_counts(normalize=True)
    pd.testing.assert_series_equal(shares, expected.loc[shares.index], atol=0.01)
    # seeded: the same rows again, another seed another placement of missing values
    pd.testing.assert_frame_equal(bg, synthetic_background(X, k=200, seed=0))
    other = synthetic_background(X, k=200, seed=1)
    assert not bg.risk.isna().equals(other.risk.isna())


def test_background_rows_equal_to_a_real_row_are_dropped():
    rng = np.random.default_rng(0)
    counts = pd.DataFrame({"n": rng.poisson(2.0, 500).astype(float), "plan": "basic"})
    # every quantile of a count is a count some customer has: no row survives
    assert synthetic_background(counts, k=50, seed=0) is None
    # with one continuous feature no quantile row is a customer's
    mixed = counts.assign(spend=rng.gamma(2.0, 50.0, 500))
    bg = synthetic_background(mixed, k=50, seed=0)
    assert len(bg) == 50 and not _row_keys(bg) & _row_keys(mixed)


@pytest.mark.parametrize("model", ["lightgbm", "xgboost", "logreg"])
def test_contributions_stay_additive_with_the_synthetic_background(data, model):
    X, y = data
    cfg = compose([f"model={model}"])
    pipe = build_pipeline(cfg.model, "classification", NUMERIC, CATEGORICAL, seed=0).fit(X, y)
    rows = X.iloc[:300]
    background = synthetic_background(X, k=200, seed=0)
    expl = explain(pipe, rows, background=background)
    total = expl.base_value + expl.values.sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, expl.margin, atol=1e-4)
    if model == "logreg":  # the baseline is close to the one real rows give
        real = explain(pipe, rows, background=X.sample(200, random_state=0))
        assert abs(expl.base_value - real.base_value) < 0.1 * expl.margin.std()


def test_empty_reasons_have_the_reason_columns_as_text():
    empty = empty_reasons(2)
    assert list(empty.columns) == ["raising_1", "raising_2", "lowering_1", "lowering_2"]
    assert empty.empty
    assert all(pd.api.types.is_string_dtype(t) for t in empty.dtypes)


def test_group_importance_sums_each_groups_contributions():
    """By-group SHAP against hand-computed sums: per-feature mean |phi| summed per group,
    and the mean |sum of phi| of the group per row (which lets opposite contributions
    within a group cancel)."""
    from socialcrm.explain.shap_values import Explanation, group_bar, group_importance

    values = pd.DataFrame(
        {"a": [1.0, -1.0, 2.0], "b": [-1.0, 1.0, 0.0], "c": [0.5, 0.5, -0.5], "d": [3, 0, 0]}
    )
    expl = Explanation(values=values, base_value=0.0, data=values, margin=values.sum(axis=1))
    table = group_importance(expl, {"a": "crm", "b": "crm", "c": "social"}).set_index("group")
    # crm: mean|a| = 4/3, mean|b| = 2/3 -> 2; per-row sums 0, 0, 2 -> mean |.| = 2/3
    assert table.loc["crm", "summed_abs_contribution"] == pytest.approx(2.0)
    assert table.loc["crm", "mean_abs_group_contribution"] == pytest.approx(2 / 3)
    assert table.loc["social", "summed_abs_contribution"] == pytest.approx(0.5)
    assert table.loc["other", "n_features"] == 1  # d is in no manifest group
    assert table["share"].sum() == pytest.approx(1.0)
    assert list(table.index) == ["crm", "other", "social"]  # largest first
    ax = group_bar(table.reset_index())
    assert [t.get_text() for t in ax.get_yticklabels()] == ["social", "other", "crm"]

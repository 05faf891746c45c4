"""Reward learners for next-best-offer on a simulated campaign with a known answer: every
learner recovers which action is best per customer, and the offer catalog turns outcomes
into profit by its margins and costs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from socialcrm.models.uplift import OfferCatalog, build_learner, expected_reward, to_reward

MODEL = {
    "name": "lightgbm",
    "preprocessing": "tree",
    "regression": {
        "_target_": "lightgbm.LGBMRegressor",
        "objective": "tweedie",
        "n_estimators": 150,
        "learning_rate": 0.08,
        "num_leaves": 7,
        "min_child_samples": 50,
        "n_jobs": 1,
        "verbose": -1,
    },
}


def _campaign(n: int, seed: int):
    """Two offers and no offer; offer 0 pays for x0 > 0, offer 1 for x1 > 0, else none."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {"x0": rng.normal(size=n), "x1": rng.normal(size=n), "noise": rng.normal(size=n)}
    )
    X["plan"] = rng.choice(["basic", "plus"], size=n)
    base = np.exp(1.0 + 0.2 * X.noise.to_numpy())
    mu = np.column_stack(
        [
            base * np.exp(0.8 * X.x0.to_numpy() - 0.2),
            base * np.exp(0.8 * X.x1.to_numpy() - 0.2),
            base,
        ]
    )
    p = np.array([0.4, 0.3, 0.3])
    action = rng.choice(3, size=n, p=p)
    y = rng.gamma(2.0, mu[np.arange(n), action] / 2.0)
    return X, action, y, p[action], mu


@pytest.mark.parametrize("learner", ["s", "t", "dr"])
def test_each_learner_finds_the_best_action_of_most_customers(learner):
    X, action, y, p, _mu = _campaign(6000, seed=1)
    model = build_learner(learner, MODEL, ["x0", "x1", "noise"], ["plan"], 3, seed=0)
    fit = {"groups": np.arange(len(X)) % 500} if learner == "dr" else {}
    model.fit(X, action, y, p, **fit)
    Xt, _, _, _, mu_t = _campaign(3000, seed=2)
    pred = model.predict(Xt)
    assert pred.shape == (3000, 3)
    agree = (pred.argmax(axis=1) == mu_t.argmax(axis=1)).mean()
    assert agree > 0.7, agree
    # uplift of offer 0 over no offer rises with x0, as the truth does
    uplift = pred[:, 0] - pred[:, 2]
    assert np.corrcoef(uplift, mu_t[:, 0] - mu_t[:, 2])[0, 1] > 0.6
    # explanations of an offer against no offer name the driver
    expl = model.explain_pair(Xt.head(300), 0, 2)
    top = expl.values.abs().mean().idxmax()
    assert top == "x0"


def test_the_catalog_turns_revenue_into_profit_and_indexes_logged_offers():
    offers = pd.DataFrame(
        {
            "offer_id": ["A", "B"],
            "channel": ["email", "sms"],
            "cost": [0.5, 2.0],
            "margin": [0.2, 0.4],
            "eligible_plans": [None, "plus"],
            "min_tenure_days": [0, 365],
        }
    )
    cat = OfferCatalog.from_table(offers, no_offer_margin=0.3)
    assert cat.actions == ["A", "B", "none"] and cat.none_index == 2
    idx = cat.index(pd.Series(["B", None, "A"]))
    assert idx.tolist() == [1, 2, 0]
    reward = to_reward(np.array([10.0, 10.0, 10.0]), idx, cat, "profit")
    np.testing.assert_allclose(reward, [0.4 * 10 - 2.0, 0.3 * 10, 0.2 * 10 - 0.5])
    np.testing.assert_allclose(
        expected_reward(np.array([[10.0, 10.0, 10.0]]), cat, "profit"), [[1.5, 2.0, 3.0]]
    )
    assert to_reward(np.array([1.0]), np.array([0]), cat, "response").tolist() == [1.0]
    with pytest.raises(ValueError, match="not in the offers table"):
        cat.index(pd.Series(["C"]))


def test_an_arm_without_a_buyer_predicts_zero_instead_of_failing():
    X, action, y, p, _ = _campaign(600, seed=3)
    y = np.where(action == 1, 0.0, y)  # nobody given offer 1 bought: Tweedie cannot fit it
    model = build_learner("t", MODEL, ["x0", "x1", "noise"], ["plan"], 3, seed=0)
    pred = model.fit(X, action, y, p).predict(X.head(50))
    assert (pred[:, 1] == 0).all() and (pred[:, [0, 2]] > 0).all()

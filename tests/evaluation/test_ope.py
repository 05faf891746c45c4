"""Off-policy estimators on a simulated bandit whose policy values are known exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from socialcrm.evaluation import ope
from socialcrm.evaluation.ope import (
    DirectMethod,
    DoublyRobust,
    DoublyRobustWithShrinkage,
    InverseProbabilityWeighting,
    SelfNormalizedDoublyRobust,
    SelfNormalizedInverseProbabilityWeighting,
    SwitchDoublyRobust,
    bootstrap_interval,
    check_bandit_feedback,
    cross_fit_rewards,
    effective_sample_size,
    estimate_all,
    importance_weights,
    paired_difference_interval,
    relative_estimation_error,
)

K, D = 4, 5
_params = np.random.default_rng(20240601)
THETA = _params.normal(size=(D, K))  # true reward: sigmoid(x THETA + B)
B = np.array([-1.0, -0.5, 0.0, 0.5])
BETA = 0.5 * _params.normal(size=(D, K))  # logging policy: softmax(x BETA)
GAMMA = THETA + 0.5 * _params.normal(size=(D, K))  # evaluation policies score by x GAMMA


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _one_hot(idx):
    return np.eye(K)[idx]


def _policies(x):
    """Deterministic argmax and a stochastic softmax policy, each (..., n, K)."""
    score = x @ GAMMA
    return {"argmax": _one_hot(score.argmax(axis=-1)), "softmax": _softmax(2 * score)}


def simulate(seed: int, n_sims: int, n: int, noiseless: bool = False) -> dict:
    """``n_sims`` logs of ``n`` rounds each, all arrays with a leading simulation axis."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_sims, n, D))
    mu = _sigmoid(x @ THETA + B)
    pi0 = _softmax(x @ BETA)
    a = (pi0.cumsum(axis=-1) < rng.random((n_sims, n, 1))).sum(axis=-1)
    a = np.minimum(a, K - 1)  # guards the last cumulative sum rounding below 1
    mu_a = np.take_along_axis(mu, a[..., None], axis=-1)[..., 0]
    reward = mu_a if noiseless else (rng.random((n_sims, n)) < mu_a).astype(float)
    pscore = np.take_along_axis(pi0, a[..., None], axis=-1)[..., 0]
    policies = _policies(x)
    # the value on the sampled contexts: E over them of sum_a pi_e(a | x) mu(x, a)
    truth = {k: (p * mu).sum(axis=-1).mean(axis=-1) for k, p in policies.items()}
    return {
        "reward": reward,
        "action": a,
        "pscore": pscore,
        "mu": mu,
        "policies": policies,
        "truth": truth,
    }


def population_value(policy: str, n_contexts: int = 400_000) -> float:
    """V(pi_e) over the context distribution, by a large Monte Carlo sample (its error,
    about 2e-4 here, is small beside every estimate's sampling error)."""
    x = np.random.default_rng(99).normal(size=(n_contexts, D))
    return float((_policies(x)[policy] * _sigmoid(x @ THETA + B)).sum(axis=-1).mean())


def _log(sim: dict, s: int, policy: str) -> tuple:
    return sim["reward"][s], sim["action"][s], sim["pscore"][s], sim["policies"][policy][s]


@pytest.fixture(scope="module")
def sims():
    return simulate(seed=1, n_sims=200, n=2000)


@pytest.fixture(scope="module")
def one_log():
    sim = simulate(seed=2, n_sims=1, n=3000)
    return {
        "reward": sim["reward"][0],
        "action": sim["action"][0],
        "pscore": sim["pscore"][0],
        "action_dist": sim["policies"]["softmax"][0],
        "estimated_rewards": 0.8 * sim["mu"][0] + 0.1,  # a wrong reward model
        "truth": sim["truth"]["softmax"][0],
    }


def _wrong(mu):
    """A deliberately wrong reward model (shrunk toward 0.5 and shifted)."""
    return 0.6 * mu + 0.3


def _errors(sims: dict, est, policy: str, q) -> np.ndarray:
    """Estimate minus the true value on the same contexts, one per simulation."""
    return np.array(
        [
            est.estimate_policy_value(*_log(sims, s, policy), None if q is None else q[s])
            - sims["truth"][policy][s]
            for s in range(len(sims["reward"]))
        ]
    )


@pytest.mark.parametrize("policy", ["argmax", "softmax"])
@pytest.mark.parametrize(
    ("est", "model"),
    [
        (InverseProbabilityWeighting(), None),
        (SelfNormalizedInverseProbabilityWeighting(), None),
        (DoublyRobust(), "wrong"),
        (SelfNormalizedDoublyRobust(), "wrong"),
    ],
    ids=["ipw", "snipw", "dr-wrong-q", "sndr-wrong-q"],
)
def test_mean_estimate_is_within_two_standard_errors_of_the_truth(sims, est, model, policy):
    q = None if model is None else _wrong(sims["mu"])
    e = _errors(sims, est, policy, q)
    se = e.std(ddof=1) / np.sqrt(len(e))
    assert abs(e.mean()) <= 2 * se, (e.mean(), se)


@pytest.mark.parametrize("policy", ["argmax", "softmax"])
def test_dm_is_exact_with_the_true_model_and_biased_with_a_wrong_one(sims, policy):
    exact = _errors(sims, DirectMethod(), policy, sims["mu"])
    np.testing.assert_allclose(exact, 0.0, atol=1e-12)
    # the same 2-SE check detects the wrong model's bias: the check has power
    e = _errors(sims, DirectMethod(), policy, _wrong(sims["mu"]))
    assert abs(e.mean()) > 10 * e.std(ddof=1) / np.sqrt(len(e))


@pytest.mark.parametrize("policy", ["argmax", "softmax"])
def test_dr_with_the_true_model_has_far_smaller_variance_than_ips(sims, policy):
    ips = _errors(sims, InverseProbabilityWeighting(), policy, None)
    dr = _errors(sims, DoublyRobust(), policy, sims["mu"])
    assert dr.var() < 0.5 * ips.var(), (dr.var(), ips.var())


def test_dr_is_exact_when_the_model_is_exact_and_rewards_are_noiseless():
    sim = simulate(seed=3, n_sims=1, n=1000, noiseless=True)
    for policy in ("argmax", "softmax"):
        args = (*_log(sim, 0, policy), sim["mu"][0])
        dr = DoublyRobust().estimate_policy_value(*args)
        dm = DirectMethod().estimate_policy_value(*args)
        assert dr == pytest.approx(dm, abs=1e-12)
        assert dr == pytest.approx(sim["truth"][policy][0], abs=1e-12)


def test_snips_equals_ips_when_the_mean_weight_is_one():
    # pscore 0.5 everywhere; pi_e gives the logged actions 0.8 and 0.2: weights 1.6, 0.4
    reward = np.array([1.0, 3.0])
    action = np.array([0, 1])
    pscore = np.array([0.5, 0.5])
    action_dist = np.array([[0.8, 0.2], [0.8, 0.2]])
    w = importance_weights(action, pscore, action_dist)
    assert w.mean() == pytest.approx(1.0)
    ips = InverseProbabilityWeighting().estimate_policy_value(reward, action, pscore, action_dist)
    snips = SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(
        reward, action, pscore, action_dist
    )
    assert ips == pytest.approx(1.6 * 0.5 + 0.4 * 1.5)
    assert snips == pytest.approx(ips)


def test_switch_and_shrinkage_reach_dm_and_dr_at_their_limits(one_log):
    args = {k: v for k, v in one_log.items() if k != "truth"}
    dm = DirectMethod().estimate_policy_value(**args)
    dr = DoublyRobust().estimate_policy_value(**args)
    assert dm != pytest.approx(dr)  # the limits are distinguishable here
    assert SwitchDoublyRobust(tau=np.inf).estimate_policy_value(**args) == pytest.approx(dr)
    assert SwitchDoublyRobust(tau=0.0).estimate_policy_value(**args) == pytest.approx(dm)
    assert DoublyRobustWithShrinkage(lambda_=0.0).estimate_policy_value(**args) == pytest.approx(dm)
    huge = DoublyRobustWithShrinkage(lambda_=1e12).estimate_policy_value(**args)
    assert huge == pytest.approx(dr, rel=1e-6)
    assert DoublyRobustWithShrinkage(lambda_=np.inf).estimate_policy_value(**args) == dr
    # in between, each lies between the two ends here
    mid = SwitchDoublyRobust(tau=2.0).estimate_policy_value(**args)
    assert min(dm, dr) - 0.02 <= mid <= max(dm, dr) + 0.02


def test_clipping_caps_the_weights(one_log):
    a, p, pi = one_log["action"], one_log["pscore"], one_log["action_dist"]
    raw = importance_weights(a, p, pi)
    assert raw.max() > 3.0
    clipped = importance_weights(a, p, pi, clip=3.0)
    assert clipped.max() == 3.0
    np.testing.assert_array_equal(clipped, np.minimum(raw, 3.0))
    est = InverseProbabilityWeighting(clip=3.0)
    np.testing.assert_array_equal(est.weights(a, p, pi), clipped)
    r = one_log["reward"]  # non-negative rewards: clipping can only lower IPS
    assert est.estimate_policy_value(
        r, a, p, pi
    ) <= InverseProbabilityWeighting().estimate_policy_value(r, a, p, pi)


def test_round_rewards_average_to_the_estimate_and_sn_terms_are_normalised(one_log):
    args = {k: v for k, v in one_log.items() if k != "truth"}
    w = importance_weights(args["action"], args["pscore"], args["action_dist"])
    q_logged = args["estimated_rewards"][np.arange(len(w)), args["action"]]
    dm_terms = (args["action_dist"] * args["estimated_rewards"]).sum(axis=1)
    expected = {
        "ipw": w * args["reward"],
        "snipw": w * args["reward"] / w.mean(),
        "dm": dm_terms,
        "dr": dm_terms + w * (args["reward"] - q_logged),
        "sndr": dm_terms + w * (args["reward"] - q_logged) / w.mean(),
    }
    estimators = [
        InverseProbabilityWeighting(),
        SelfNormalizedInverseProbabilityWeighting(),
        DirectMethod(),
        DoublyRobust(),
        SelfNormalizedDoublyRobust(),
    ]
    for est in estimators:
        terms = est.round_rewards(**args)
        np.testing.assert_allclose(terms, expected[est.name])
        assert est.estimate_policy_value(**args) == pytest.approx(terms.mean())


def test_estimator_names_follow_open_bandit_pipeline():
    names = [
        InverseProbabilityWeighting.name,
        SelfNormalizedInverseProbabilityWeighting.name,
        DirectMethod.name,
        DoublyRobust.name,
        SelfNormalizedDoublyRobust.name,
        SwitchDoublyRobust.name,
        DoublyRobustWithShrinkage.name,
    ]
    assert names == ["ipw", "snipw", "dm", "dr", "sndr", "switch-dr", "dr-os"]


def test_bootstrap_interval_covers_the_true_value_about_95_percent():
    sim = simulate(seed=4, n_sims=100, n=1000)
    truth = population_value("argmax")
    q = _wrong(sim["mu"])
    estimators = [
        InverseProbabilityWeighting(),
        SelfNormalizedInverseProbabilityWeighting(),
        DoublyRobust(),
        SelfNormalizedDoublyRobust(),
    ]
    covered = dict.fromkeys((e.name for e in estimators), 0)
    for s in range(100):
        for est in estimators:
            ci = est.estimate_interval(
                *_log(sim, s, "argmax"), q[s], n_bootstrap=1000, random_state=s
            )
            assert ci["lower"] <= ci["mean"] <= ci["upper"]
            covered[est.name] += ci["lower"] <= truth <= ci["upper"]
    assert min(covered.values()) >= 88, covered


def test_bootstrap_width_matches_the_normal_approximation(one_log):
    args = {k: v for k, v in one_log.items() if k != "truth"}
    terms = InverseProbabilityWeighting().round_rewards(**args)
    ci = InverseProbabilityWeighting().estimate_interval(**args, n_bootstrap=4000)
    expected = 2 * 1.959964 * terms.std(ddof=1) / np.sqrt(len(terms))
    assert ci["upper"] - ci["lower"] == pytest.approx(expected, rel=0.1)


def test_self_normalised_bootstrap_recomputes_the_normalisation_per_resample(one_log):
    a, p, pi = one_log["action"], one_log["pscore"], one_log["action_dist"]
    # a constant reward: SNIPS is exactly 1 on every resample, IPS is not
    ones = np.ones_like(one_log["reward"])
    snips = SelfNormalizedInverseProbabilityWeighting()
    ci = snips.estimate_interval(ones, a, p, pi, n_bootstrap=500)
    assert ci == pytest.approx({"mean": 1.0, "lower": 1.0, "upper": 1.0})
    fixed = paired_difference_interval(
        snips.round_rewards(ones, a, p, pi), np.zeros_like(ones), n_bootstrap=500
    )
    assert fixed["upper"] - fixed["lower"] > 0.05  # what resampling fixed terms would give


def test_snips_bootstrap_matches_a_loop_over_resamples():
    sim = simulate(seed=5, n_sims=1, n=300)
    r, a, p, pi = _log(sim, 0, "softmax")
    est = SelfNormalizedInverseProbabilityWeighting()
    ci = est.estimate_interval(r, a, p, pi, alpha=0.1, n_bootstrap=400, random_state=7)
    # an independent loop: one resample of row indices after another from the same stream
    rng = np.random.default_rng(7)
    w = pi[np.arange(len(a)), a] / p
    boots = []
    for _ in range(400):
        idx = rng.integers(0, len(r), size=len(r))
        boots.append((w[idx] * r[idx]).sum() / w[idx].sum())
    assert ci["lower"] == pytest.approx(np.quantile(boots, 0.05))
    assert ci["upper"] == pytest.approx(np.quantile(boots, 0.95))
    assert ci["mean"] == pytest.approx((w * r).sum() / w.sum())


def test_chunking_does_not_change_the_bootstrap(one_log, monkeypatch):
    args = {k: v for k, v in one_log.items() if k != "truth"}
    est = SelfNormalizedDoublyRobust()
    whole = est.estimate_interval(**args, n_bootstrap=300)
    monkeypatch.setattr(ope, "_CHUNK_ELEMENTS", 7 * len(args["reward"]) + 5)  # chunks of 7
    assert est.estimate_interval(**args, n_bootstrap=300) == whole


def test_bootstrap_interval_of_plain_terms(one_log):
    r = one_log["reward"]
    ci = bootstrap_interval(r, alpha=0.1, n_bootstrap=3000, random_state=3)
    assert ci["mean"] == pytest.approx(r.mean())
    half = 1.644854 * r.std(ddof=1) / np.sqrt(len(r))  # binary rewards: near-normal mean
    assert ci["lower"] == pytest.approx(r.mean() - half, abs=0.1 * half)
    assert ci["upper"] == pytest.approx(r.mean() + half, abs=0.1 * half)
    # the IPS interval is the plain bootstrap of its round rewards, on the same draws
    args = {k: v for k, v in one_log.items() if k != "truth"}
    est = InverseProbabilityWeighting()
    assert est.estimate_interval(**args, n_bootstrap=500) == bootstrap_interval(
        est.round_rewards(**args), n_bootstrap=500
    )
    with pytest.raises(ValueError, match="finite"):
        bootstrap_interval([1.0, np.inf])


def test_paired_difference_of_a_policy_with_itself_is_zero(one_log):
    terms = DoublyRobust().round_rewards(**{k: v for k, v in one_log.items() if k != "truth"})
    assert paired_difference_interval(terms, terms) == {"mean": 0.0, "lower": 0.0, "upper": 0.0}


def test_paired_difference_is_tighter_than_unpaired_for_correlated_policies(one_log):
    r, a, p = one_log["reward"], one_log["action"], one_log["pscore"]
    pi = one_log["action_dist"]
    pi_b = 0.9 * pi + 0.1 / K  # a close policy: per-round terms move together
    ta = InverseProbabilityWeighting().round_rewards(r, a, p, pi)
    tb = InverseProbabilityWeighting().round_rewards(r, a, p, pi_b)
    d = paired_difference_interval(ta, tb, n_bootstrap=1000)
    assert d["mean"] == pytest.approx(ta.mean() - tb.mean())
    assert d["lower"] <= d["mean"] <= d["upper"]
    ca = InverseProbabilityWeighting().estimate_interval(r, a, p, pi, n_bootstrap=1000)
    assert d["upper"] - d["lower"] < 0.5 * (ca["upper"] - ca["lower"])


def test_effective_sample_size():
    assert effective_sample_size(np.full(500, 2.5)) == pytest.approx(500)
    assert effective_sample_size(np.r_[1.0, np.zeros(99)]) == pytest.approx(1.0)
    assert effective_sample_size(np.r_[1e6, np.full(99, 1e-3)]) == pytest.approx(1.0, abs=1e-6)
    assert effective_sample_size(np.zeros(10)) == 0.0
    with pytest.raises(ValueError, match="non-negative"):
        effective_sample_size([1.0, -1.0])


def test_relative_estimation_error():
    assert relative_estimation_error(0.55, 0.5) == pytest.approx(0.1)
    assert relative_estimation_error(-0.45, -0.5) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="true value of 0"):
        relative_estimation_error(0.1, 0.0)


def test_estimate_all_gives_one_row_per_estimator(one_log):
    args = {k: v for k, v in one_log.items() if k != "truth"}
    estimators = [
        InverseProbabilityWeighting(),
        SelfNormalizedInverseProbabilityWeighting(),
        DirectMethod(),
        DoublyRobust(clip=20.0),
        SelfNormalizedDoublyRobust(),
        SwitchDoublyRobust(tau=5.0),
        DoublyRobustWithShrinkage(lambda_=10.0),
    ]
    table = estimate_all(estimators, **args, n_bootstrap=200)
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == ["estimator", "value", "lower", "upper", "ess"]
    assert list(table.estimator) == [e.name for e in estimators]
    for est, row in zip(estimators, table.itertuples(), strict=True):
        assert row.value == pytest.approx(est.estimate_policy_value(**args))
        assert row.lower <= row.value <= row.upper
    w = importance_weights(args["action"], args["pscore"], args["action_dist"])
    ess = table.set_index("estimator").ess
    assert np.isnan(ess["dm"])
    assert ess["ipw"] == pytest.approx(effective_sample_size(w))
    assert ess["dr"] == pytest.approx(effective_sample_size(np.minimum(w, 20.0)))
    assert 0 < ess["ipw"] < len(w)


def test_cross_fitting_scores_each_round_with_a_model_that_never_saw_it():
    n = 120
    customers = np.repeat(np.arange(30), 4)  # four rounds per customer
    seen = []

    def fit_predict(train_idx, score_idx):
        seen.append((train_idx, score_idx))
        return np.tile(np.arange(K, dtype=float), (len(score_idx), 1)) + len(seen)

    q = cross_fit_rewards(fit_predict, 4, n, groups=customers, random_state=1)
    assert q.shape == (n, K)
    assert not np.isnan(q).any()
    scored = np.concatenate([s for _, s in seen])
    assert np.array_equal(np.sort(scored), np.arange(n))  # every round exactly once
    for train_idx, score_idx in seen:
        assert not set(train_idx) & set(score_idx)
        assert not set(customers[train_idx]) & set(customers[score_idx])
        assert len(train_idx) + len(score_idx) == n

    seen.clear()
    cross_fit_rewards(fit_predict, 3, n)
    assert len(seen) == 3
    assert all(len(tr) + len(sc) == n and not set(tr) & set(sc) for tr, sc in seen)


def test_cross_fitting_checks_what_the_model_returns():
    with pytest.raises(ValueError, match=r"\(\d+, K\) array"):
        cross_fit_rewards(lambda tr, sc: np.zeros(len(sc)), 2, 20)
    with pytest.raises(ValueError, match="fewer groups than folds"):
        cross_fit_rewards(lambda tr, sc: np.zeros((len(sc), 2)), 5, 20, groups=np.zeros(20))


def _valid():
    return {
        "reward": np.array([1.0, 0.0, 1.0]),
        "action": np.array([0, 1, 2]),
        "pscore": np.array([0.5, 0.25, 1.0]),
        "action_dist": np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5], [0.0, 0.0, 1.0]]),
        "estimated_rewards": np.full((3, 3), 0.5),
    }


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("reward", np.array([1.0, 0.0]), r"reward must have shape \(3,\)"),
        ("reward", np.array([1.0, np.nan, 0.0]), "reward must be finite"),
        ("action", np.array([0, 1, 3]), r"action indices must lie in \[0, 2\]"),
        ("action", np.array([0, -1, 2]), r"action indices must lie in \[0, 2\]"),
        ("action", np.array([0.0, 1.5, 2.0]), "integer action indices"),
        ("action", np.array([0, 1]), r"action must have shape \(3,\)"),
        ("pscore", np.array([0.5, 0.0, 1.0]), r"pscore must lie in \(0, 1\]"),
        ("pscore", np.array([0.5, 1.2, 1.0]), r"pscore must lie in \(0, 1\]"),
        ("pscore", np.array([0.5, 0.5]), r"pscore must have shape \(3,\)"),
        ("action_dist", np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]), "action indices"),
        ("action_dist", np.full((3, 3), 0.3), "must sum to 1"),
        ("action_dist", np.array([[1.2, -0.2, 0], [0, 1, 0], [0, 0, 1]]), "non-negative"),
        ("action_dist", np.ones(3), r"\(n, K\) array"),
        ("estimated_rewards", np.zeros((3, 2)), "estimated_rewards must have the shape"),
    ],
)
def test_invalid_inputs_are_refused_with_a_clear_message(field, value, match):
    inputs = _valid() | {field: value}
    with pytest.raises(ValueError, match=match):
        check_bandit_feedback(**inputs)
    with pytest.raises(ValueError, match=match):
        DoublyRobust().estimate_policy_value(**inputs)


def test_valid_inputs_pass_and_rows_may_sum_to_one_within_tolerance():
    inputs = _valid()
    inputs["action_dist"] = inputs["action_dist"] + np.array([[5e-7, 0, 0], [0, 0, 0], [0, 0, 0]])
    reward, action, *_ = check_bandit_feedback(**inputs)
    assert action.dtype == np.int64
    assert reward.dtype == float


def test_estimators_refuse_bad_settings_and_missing_reward_models():
    inputs = _valid()
    del inputs["estimated_rewards"]
    for est in (DirectMethod(), DoublyRobust(), SwitchDoublyRobust(tau=1.0)):
        with pytest.raises(ValueError, match="needs estimated_rewards"):
            est.estimate_policy_value(**inputs)
    InverseProbabilityWeighting().estimate_policy_value(**inputs)  # needs no model
    with pytest.raises(ValueError, match="clip"):
        InverseProbabilityWeighting(clip=0.0)
    with pytest.raises(ValueError, match="tau"):
        SwitchDoublyRobust(tau=-1.0)
    with pytest.raises(ValueError, match="lambda_"):
        DoublyRobustWithShrinkage(lambda_=-1.0)
    with pytest.raises(ValueError, match="alpha"):
        InverseProbabilityWeighting().estimate_interval(**inputs, alpha=1.5)
    with pytest.raises(ValueError, match="n_bootstrap"):
        InverseProbabilityWeighting().estimate_interval(**inputs, n_bootstrap=0)

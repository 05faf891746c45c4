"""Uplift curves and scores against brute-force loops, hand computations and known answers."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from socialcrm.evaluation.uplift import (
    perfect_qini_curve,
    perfect_qini_score,
    perfect_uplift_curve,
    perfect_uplift_score,
    plot_qini,
    plot_uplift_curve,
    qini_auc_score,
    qini_curve,
    uplift_at_k,
    uplift_auc_score,
    uplift_curve,
)


def brute_force_curves(y, t, u):
    """Both curves by a loop over distinct score thresholds, highest first: target every
    row scoring at least the threshold and count the groups directly."""
    xs, qini, upl = [0], [0.0], [0.0]
    for s in sorted(set(u.tolist()), reverse=True):
        sel = u >= s
        n_t = int(np.sum(sel & (t == 1)))
        n_c = int(np.sum(sel & (t == 0)))
        y_t = float(np.sum(y[sel & (t == 1)]))
        y_c = float(np.sum(y[sel & (t == 0)]))
        xs.append(n_t + n_c)
        qini.append(y_t - (y_c * n_t / n_c if n_c else 0.0))
        upl.append(((y_t / n_t if n_t else 0.0) - (y_c / n_c if n_c else 0.0)) * (n_t + n_c))
    return np.array(xs), np.array(qini), np.array(upl)


def simulated_campaign(n: int, seed: int = 0):
    """A randomised campaign whose true uplift tau(x) = 0.02 + 0.1 x has both signs."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t = rng.integers(0, 2, n)
    tau = 0.02 + 0.1 * x
    p = np.clip(0.3 + t * tau, 0.0, 1.0)
    y = (rng.random(n) < p).astype(int)
    return y, t, tau


# a hand-computed example, already in score order
Y = np.array([1, 0, 1, 0, 1, 0])
T = np.array([1, 1, 0, 0, 1, 0])
U = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])


def test_curves_by_hand():
    # k=1: one treated responder; k=3: a control responder arrives (N_t/N_c = 2) ...
    x, q = qini_curve(Y, T, U)
    np.testing.assert_array_equal(x, np.arange(7))
    np.testing.assert_allclose(q, [0, 1, 1, -1, 0, 0.5, 1])
    x, v = uplift_curve(Y, T, U)
    np.testing.assert_array_equal(x, np.arange(7))
    np.testing.assert_allclose(v, [0, 1, 1, -1.5, 0, 5 / 6, 2])


def test_tied_scores_give_one_point_per_distinct_score():
    u = np.array([0.9, 0.9, 0.7, 0.7, 0.7, 0.4])
    x, q = qini_curve(Y, T, u)
    np.testing.assert_array_equal(x, [0, 2, 5, 6])
    np.testing.assert_allclose(q, [0, 1, 0.5, 1])
    # the points do not depend on how tied rows are ordered
    perm = np.array([1, 0, 4, 2, 3, 5])
    x2, q2 = qini_curve(Y[perm], T[perm], u[perm])
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_allclose(q, q2)


@pytest.mark.parametrize("outcome", ["binary", "continuous"])
def test_curves_match_a_brute_force_loop_over_thresholds(outcome):
    rng = np.random.default_rng(3)
    n = 400
    t = rng.integers(0, 2, n)
    y = rng.integers(0, 2, n).astype(float) if outcome == "binary" else rng.gamma(2.0, 10.0, n)
    u = np.round(rng.normal(size=n), 1)  # many ties
    u[:5] = 10.0  # a first tie group that is all one arm would divide by zero
    t[:5] = 1
    xs, q_ref, u_ref = brute_force_curves(y, t, u)
    x, q = qini_curve(y, t, u)
    np.testing.assert_array_equal(x, xs)
    np.testing.assert_allclose(q, q_ref, atol=1e-9)
    x, v = uplift_curve(y, t, u)
    np.testing.assert_array_equal(x, xs)
    np.testing.assert_allclose(v, u_ref, atol=1e-9)


def test_uplift_at_k_by_hand():
    # top int(0.5 * 6) = 3 rows: treated (1, 0) mean 0.5, control (1) mean 1
    assert uplift_at_k(Y, T, U, k=0.5) == pytest.approx(-0.5)
    # top 4 rows: treated 0.5, control 0.5
    assert uplift_at_k(Y, T, U, k=4) == pytest.approx(0.0)
    # truncation as sklift: int(0.49 * 6) = 2 rows, both treated: no control, NaN
    assert np.isnan(uplift_at_k(Y, T, U, k=0.49))


def test_uplift_at_k_breaks_ties_as_scikit_uplift():
    # all scores tied: sklift's argsort(kind="mergesort")[::-1] takes the later rows first
    y = np.array([1, 0, 0, 1])
    t = np.array([1, 0, 1, 0])
    assert uplift_at_k(y, t, np.ones(4), k=2) == pytest.approx(0 - 1)


def test_uplift_at_k_matches_a_direct_computation_with_continuous_outcomes():
    rng = np.random.default_rng(5)
    n = 1000
    y, t, u = rng.gamma(2.0, 5.0, n), rng.integers(0, 2, n), rng.normal(size=n)
    top = np.argsort(-u)[:300]  # no ties
    expected = y[top][t[top] == 1].mean() - y[top][t[top] == 0].mean()
    assert uplift_at_k(y, t, u, k=0.3) == pytest.approx(expected)


def test_perfect_scores_reach_one_and_curves_end_together():
    y, t, tau = simulated_campaign(20_000)
    assert qini_auc_score(y, t, perfect_qini_score(y, t)) == pytest.approx(1.0)
    assert uplift_auc_score(y, t, perfect_uplift_score(y, t)) == pytest.approx(1.0)
    # every curve ends at the whole population's incremental outcome
    ends = {qini_curve(y, t, tau)[1][-1], perfect_qini_curve(y, t)[1][-1]}
    assert max(ends) - min(ends) < 1e-9
    assert uplift_curve(y, t, tau)[1][-1] == pytest.approx(perfect_uplift_curve(y, t)[1][-1])


def test_true_random_and_reversed_scores():
    y, t, tau = simulated_campaign(200_000, seed=1)
    noise = np.random.default_rng(2).normal(size=len(y))
    for score in (qini_auc_score, uplift_auc_score):
        good, rand, bad = score(y, t, tau), score(y, t, noise), score(y, t, -tau)
        # about 0.10 and -0.10 here; a random score's sd is about 0.004 at this size
        assert 0.05 < good < 1, score.__name__
        assert abs(rand) < 0.02, score.__name__
        assert bad < -0.05, score.__name__
    assert uplift_at_k(y, t, tau, 0.3) > 0.1 > uplift_at_k(y, t, noise, 0.3)
    assert uplift_at_k(y, t, -tau, 0.3) < 0


def test_perfect_qini_ranking_is_treated_responders_then_non_responders_then_controls():
    y = np.array([1, 0, 1, 0])
    t = np.array([1, 1, 0, 0])
    np.testing.assert_array_equal(perfect_qini_score(y, t), [1, 0, -1, 0])
    x, q = perfect_qini_curve(y, t)
    np.testing.assert_array_equal(x, [0, 1, 3, 4])
    # k=1: 1 treated responder; k=3: both non-responders join (N_t/N_c = 2/1, Y_c = 0)
    np.testing.assert_allclose(q, [0, 1, 1, 0])
    x, q = perfect_qini_curve(y, t, negative_effect=False)  # total uplift 1 - 2 * 1 / 2 = 0
    np.testing.assert_allclose(x, [0, 0, 4])
    np.testing.assert_allclose(q, [0, 0, 0])


def test_perfect_qini_curve_without_negative_effects_by_hand():
    y = np.array([1, 1, 0, 1, 0, 0])
    t = np.array([1, 1, 1, 0, 0, 0])
    # Y_t - N_t Y_c / N_c = 2 - 3 * 1 / 3 = 1: slope 1 up to (1, 1), then flat to (6, 1)
    x, q = perfect_qini_curve(y, t, negative_effect=False)
    np.testing.assert_allclose(x, [0, 1, 6])
    np.testing.assert_allclose(q, [0, 1, 1])


@pytest.mark.parametrize(
    ("y", "t", "expected"),
    [
        # 1 control responder, 2 treated non-responders: TR 3, CN 2, TN 1, CR 0
        ([1, 0, 0, 1, 0], [1, 1, 1, 0, 0], [3, 1, 1, 0, 2]),
        # 2 control responders, 1 treated non-responder: TR 3, CN 2, CR 1, TN 0
        ([1, 0, 1, 1, 0], [1, 1, 0, 0, 0], [3, 0, 1, 1, 2]),
    ],
)
def test_perfect_uplift_ranking_follows_scikit_uplift(y, t, expected):
    np.testing.assert_array_equal(perfect_uplift_score(np.array(y), np.array(t)), expected)


def test_normalised_scores_by_hand():
    # perfect ranking: treated responders (rows 0, 4), the non-responders (1, 3, 5), then
    # the control responder (2): points (0, 0), (2, 2), (5, 2), (6, 1), area 9.5
    x_p, q_p = perfect_qini_curve(Y, T)
    np.testing.assert_array_equal(x_p, [0, 2, 5, 6])
    np.testing.assert_allclose(q_p, [0, 2, 2, 1])
    # the model's curve [0, 1, 1, -1, 0, 0.5, 1] has area 2; random, to (6, 1), has 3
    assert qini_auc_score(Y, T, U) == pytest.approx((2.0 - 3.0) / (9.5 - 3.0))
    assert qini_auc_score(Y, T, perfect_qini_score(Y, T)) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"t": np.array([0, 1, 2, 0, 1, 0])}, "binary treatment"),
        ({"t": np.ones(6, dtype=int)}, "both treated"),
        ({"u": np.ones(5)}, "u must have the shape"),
        ({"y": np.array([0.0, 1, np.nan, 0, 1, 0])}, "y must be finite"),
    ],
)
def test_invalid_inputs_are_refused(kwargs, match):
    args = {"y": Y, "t": T, "u": U} | kwargs
    with pytest.raises(ValueError, match=match):
        qini_curve(**args)


def test_areas_need_a_binary_outcome_and_k_must_be_in_range():
    y = np.array([0.5, 2.0, 0.0, 1.0, 3.0, 0.0])
    with pytest.raises(ValueError, match="binary outcome"):
        qini_auc_score(y, T, U)
    with pytest.raises(ValueError, match="binary outcome"):
        uplift_auc_score(y, T, U)
    qini_curve(y, T, U)  # the curves accept continuous outcomes
    for k in (0.0, 1.0, 0, 6, -1):
        with pytest.raises(ValueError, match="k must lie"):
            uplift_at_k(Y, T, U, k=k)
    with pytest.raises(ValueError, match="share in"):
        uplift_at_k(Y, T, U, k="0.3")


def test_plots_draw_every_curve_on_the_given_or_a_new_axes():
    y, t, tau = simulated_campaign(2000)
    curves = {"model": qini_curve(y, t, tau), "perfect": perfect_qini_curve(y, t)}
    ax = plot_qini(curves)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["model", "perfect", "random"]
    assert tuple(ax.get_lines()[2].get_xdata()) == (0, len(y))
    _, given = plt.subplots()
    assert plot_uplift_curve({"model": uplift_curve(y, t, tau)}, ax=given) is given
    assert given.get_title() == "Uplift curve"
    plt.close("all")

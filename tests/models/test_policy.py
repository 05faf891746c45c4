"""The offer policy: eligibility, the exact constrained assignment, stochastic policies."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from socialcrm.models.policy import (
    AssignmentError,
    Constraints,
    eligibility,
    epsilon_greedy,
    expected_usage,
    one_hot,
    optimal_assignment,
    random_policy,
    sample_actions,
    softmax_policy,
    static_policy,
)
from socialcrm.models.policy import _solve_binary as solve_binary

CHANNELS = ("email", "sms")
PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- helpers


def gains_of(profit: np.ndarray, assignment: np.ndarray, none: int) -> np.ndarray:
    rows = np.arange(len(assignment))
    return profit[rows, assignment] - profit[:, none]


def total(profit: np.ndarray, assignment: np.ndarray, none: int) -> float:
    return float(gains_of(profit, assignment, none).sum())


def brute_force(profit, ok, cost, channel, constraints, none) -> float:
    """The best total gain over every feasible assignment, by enumeration."""
    n, k = ok.shape
    best = -math.inf
    for combo in itertools.product(*(np.flatnonzero(ok[i]) for i in range(n))):
        a = np.array(combo, dtype=int)
        if not constraints.violations(expected_usage(one_hot(a, k), cost, channel, none)):
            best = max(best, total(profit, a, none))
    return best


def assert_feasible(a, profit, ok, cost, channel, constraints, none, tol=1e-9):
    k = ok.shape[1]
    assert ok[np.arange(len(a)), a].all(), "an ineligible action was assigned"
    contacted = a != none
    assert (gains_of(profit, a, none)[contacted] > 0).all(), "a row contacted for no gain"
    usage = expected_usage(one_hot(a, k), cost, channel, none)
    assert constraints.violations(usage, tol=tol) == []


@st.composite
def instances(draw, max_rows=6, max_actions=3, limits=True):
    """Small integer-valued instances: exact ties and exact budgets are common."""
    n = draw(st.integers(1, max_rows))
    k = draw(st.integers(2, max_actions))
    none = draw(st.sampled_from([k - 1, 0]))
    values = st.integers(-3, 6).map(float)
    profit = np.array(draw(st.lists(values, min_size=n * k, max_size=n * k))).reshape(n, k)
    ok = np.array(draw(st.lists(st.booleans(), min_size=n * k, max_size=n * k))).reshape(n, k)
    ok[:, none] = True
    profit[~ok] = np.where(draw(st.booleans()), np.nan, -100.0)  # never read
    cost = np.array(draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0]), min_size=k, max_size=k)))
    cost[none] = 0.0
    channel = [draw(st.sampled_from(CHANNELS)) for _ in range(k)]
    channel[none] = None
    offers = [a for a in range(k) if a != none]
    if not limits:
        return profit, ok, cost, channel, Constraints(), none
    count = st.none() | st.integers(0, n)
    constraints = Constraints(
        max_contacts=draw(count),
        max_cost=draw(st.none() | st.integers(0, 2 * n * 2).map(lambda x: x / 2)),
        capacity=draw(st.dictionaries(st.sampled_from(offers), st.integers(0, n), max_size=2)),
        channel_limits=draw(st.dictionaries(st.sampled_from(CHANNELS), st.integers(0, n))),
    )
    return profit, ok, cost, channel, constraints, none


def campaign(n: int, seed: int = 0):
    """A campaign shaped like the synthetic catalogue: 7 offers and "no offer" last."""
    rng = np.random.default_rng(seed)
    base = rng.gamma(2, 20, n)
    profit = np.column_stack([base[:, None] + rng.normal(0, 5, (n, 7)) - 1.0, base])
    ok = rng.random((n, 8)) < 0.8
    ok[:, -1] = True
    cost = np.array([0.3, 0.5, 0.2, 0.3, 0.3, 0.8, 6.0, 0.0])
    channel = ["email", "sms", "app_push", "email", "email", "app_push", "call", None]
    return profit, ok, cost, channel


# --------------------------------------------------------------------------- eligibility


def test_eligibility_reads_plan_lists_in_either_separator_and_the_tenure_floor():
    plans = ["basic", "plus", "premium", None, " plus "]
    tenure = np.array([400.0, 10.0, np.nan, 365.0, 365.0])
    eligible_plans = [None, "basic", "basic|plus", "plus, premium", float("nan"), "", None]
    min_tenure = [0, 0, 0, 0, 365, 0, None]
    ok = eligibility(plans, tenure, eligible_plans, min_tenure)
    assert ok.shape == (5, 8)
    assert ok[:, -1].all()  # "no offer" last, always
    np.testing.assert_array_equal(ok[:, 0], [True] * 5)  # every plan, no floor: NaN tenure too
    np.testing.assert_array_equal(ok[:, 1], [True, False, False, False, False])
    np.testing.assert_array_equal(ok[:, 2], [True, True, False, False, True])  # '|'
    np.testing.assert_array_equal(ok[:, 3], [False, True, True, False, True])  # ', ' separated
    # tenure >= 365 needed; NaN (unknown) is refused, 365 exactly is enough
    np.testing.assert_array_equal(ok[:, 4], [True, False, False, True, True])
    np.testing.assert_array_equal(ok[:, 5], [True] * 5)  # "" means every plan
    np.testing.assert_array_equal(ok[:, 6], [True] * 5)  # None tenure floor means none


def test_eligibility_of_the_synthetic_catalogue_layout():
    # offers.parquet: eligible_plans null or one plan name, min_tenure_days ints
    ok = eligibility(
        np.array(["basic", "plus", "premium"], dtype=object),
        [30.0, 400.0, 500.0],
        [None, None, None, "basic", "plus", None, None],
        [0, 0, 0, 0, 0, 365, 0],
    )
    np.testing.assert_array_equal(ok[:, 3], [True, False, False])
    np.testing.assert_array_equal(ok[:, 4], [False, True, False])
    np.testing.assert_array_equal(ok[:, 5], [False, True, True])


def test_eligibility_refuses_misaligned_inputs():
    with pytest.raises(ValueError, match="tenure_days"):
        eligibility(["basic"], [1.0, 2.0], [None], [0])
    with pytest.raises(ValueError, match="min_tenure_days"):
        eligibility(["basic"], [1.0], [None, None], [0])
    with pytest.raises(ValueError, match=">= 0"):
        eligibility(["basic"], [1.0], [None], [-5])


# --------------------------------------------------------------------------- constraints


def test_constraints_from_config_names_offers_by_id():
    offers = ["OF-A", "OF-B", "OF-CALL"]
    channels = ["email", "email", "call"]
    cfg = {
        "budget": {"share": 0.29, "cost": 120.5},
        "capacity": {"OF-CALL": 20},
        "channel_limits": {"email": 50},
    }
    c = Constraints.from_config(offers, channels, cfg, n_rows=100)
    assert c.max_contacts == 29  # 0.29 * 100 is 28.999999999999996 in floats
    assert c.max_cost == 120.5
    assert c.capacity == {2: 20}
    assert c.channel_limits == {"email": 50}
    # the no-offer column may sit among the offers: positions are action indices
    c = Constraints.from_config([None, *offers], [None, *channels], cfg, n_rows=100)
    assert c.capacity == {3: 20}
    assert Constraints.from_config(offers, channels, {"budget": {"contacts": 7}}).max_contacts == 7
    assert Constraints.from_config(offers, channels, None).is_empty
    assert Constraints.from_config(offers, channels, {"budget": {"contacts": None}}).is_empty


@pytest.mark.parametrize(
    ("cfg", "n_rows", "match"),
    [
        ({"budget": {"contacts": 5, "share": 0.1}}, 10, "not both"),
        ({"budget": {"share": 0.1}}, None, "n_rows"),
        ({"budget": {"share": 1.5}}, 10, r"\[0, 1\]"),
        ({"budget": {"contact": 5}}, None, "unknown budget keys"),
        ({"budgets": {}}, None, "unknown policy constraint keys"),
        ({"capacity": {"OF-X": 3}}, None, "unknown offer"),
        ({"channel_limits": {"emial": 3}}, None, "no offer uses"),
        ({"budget": {"contacts": -1}}, None, ">= 0"),
        ({"budget": {"cost": -1.0}}, None, ">= 0"),
    ],
)
def test_constraints_from_config_refuses_bad_blocks(cfg, n_rows, match):
    with pytest.raises(ValueError, match=match):
        Constraints.from_config(["OF-A", "OF-B"], ["email", "sms"], cfg, n_rows=n_rows)


def test_constraints_refuse_fractional_counts():
    with pytest.raises(TypeError, match="whole number"):
        Constraints(max_contacts=2.5)
    with pytest.raises(TypeError, match="action indices"):
        Constraints(capacity={"OF-A": 3})


# --------------------------------------------------------------------------- assignment


def test_unconstrained_assignment_is_the_row_argmax_with_no_offer_on_ties():
    profit = np.array(
        [
            [5.0, 7.0, 3.0],  # offer 1 beats no offer
            [3.0, 3.0, 3.0],  # ties with no offer: left alone
            [4.0, 4.0, 1.0],  # tie between offers: the lower index
            [1.0, np.nan, 2.0],  # nothing pays; the NaN is ineligible
            [9.0, 8.0, 0.0],  # the best offer is ineligible
        ]
    )
    ok = np.ones_like(profit, dtype=bool)
    ok[3, 1] = False
    ok[4, 0] = False
    a = optimal_assignment(profit, ok, [1.0, 1.0, 0.0], ["email", "sms", None])
    np.testing.assert_array_equal(a, [1, 2, 0, 2, 1])


def test_no_offer_may_be_any_column():
    profit = np.array([[3.0, 5.0, 4.0], [3.0, 2.0, 1.0]])
    ok = np.ones_like(profit, dtype=bool)
    a = optimal_assignment(profit, ok, [0.0, 1.0, 1.0], [None, "email", "sms"], none_index=0)
    np.testing.assert_array_equal(a, [1, 0])


def test_a_contact_limit_takes_the_largest_gains():
    profit = np.array([[1.0, 0.0], [5.0, 0.0], [3.0, 0.0], [-1.0, 0.0], [5.0, 0.0]])
    ok = np.ones_like(profit, dtype=bool)
    a = optimal_assignment(profit, ok, [1.0, 0.0], ["email", None], Constraints(max_contacts=2))
    np.testing.assert_array_equal(a, [1, 0, 1, 1, 0])  # equal gains: the earlier row


def test_a_cost_budget_trades_one_dear_contact_for_two_cheap_ones():
    # per row: the call (cost 4) gains 10, the e-mail (cost 1) gains 6
    profit = np.array([[10.0, 6.0, 0.0]] * 3)
    ok = np.ones_like(profit, dtype=bool)
    cons = Constraints(max_cost=5.0)
    a = optimal_assignment(profit, ok, [4.0, 1.0, 0.0], ["call", "email", None], cons)
    assert total(profit, a, 2) == 18.0  # three e-mails (18) beat a call and an e-mail (16)
    with pytest.raises(ValueError, match="method='greedy'"):
        optimal_assignment(
            profit, ok, [4.0, 1.0, 0.0], ["call", "email", None], cons, method="greedy"
        )


@PROPERTY
@given(instances())
def test_assignment_is_feasible_and_as_good_as_brute_force(case):
    profit, ok, cost, channel, constraints, none = case
    best = brute_force(profit, ok, cost, channel, constraints, none)
    for method in ("auto", "milp"):
        a = optimal_assignment(profit, ok, cost, channel, constraints, none, method=method)
        assert_feasible(a, profit, ok, cost, channel, constraints, none)
        assert total(profit, a, none) == pytest.approx(best, abs=1e-6)


@PROPERTY
@given(instances(max_rows=40, max_actions=5))
def test_assignment_is_feasible_and_both_routes_agree_on_larger_instances(case):
    profit, ok, cost, channel, constraints, none = case
    auto = optimal_assignment(profit, ok, cost, channel, constraints, none)
    full = optimal_assignment(profit, ok, cost, channel, constraints, none, method="milp")
    for a in (auto, full):
        assert_feasible(a, profit, ok, cost, channel, constraints, none)
    assert total(profit, auto, none) == pytest.approx(total(profit, full, none), abs=1e-6)


@PROPERTY
@given(instances(max_rows=30, max_actions=4, limits=False), st.data())
def test_greedy_and_milp_agree_under_a_contact_limit(case, data):
    profit, ok, cost, channel, _, none = case
    n = len(profit)
    flat = np.where(np.arange(len(cost)) == none, 0.0, 0.5)  # one price: a contact limit too
    for constraints, costs in [
        (Constraints(max_contacts=data.draw(st.integers(0, n))), cost),
        (Constraints(max_cost=data.draw(st.integers(0, n)) / 2), flat),
    ]:
        greedy = optimal_assignment(profit, ok, costs, channel, constraints, none, method="greedy")
        full = optimal_assignment(profit, ok, costs, channel, constraints, none, method="milp")
        assert_feasible(greedy, profit, ok, costs, channel, constraints, none)
        assert total(profit, greedy, none) == pytest.approx(total(profit, full, none), abs=1e-6)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.sampled_from([1, 3, 10_000]))
def test_lp_fixing_and_cores_match_a_plain_milp(seed, n_limits, core_size):
    """The LP, reduced-cost fixing and core rounds against HiGHS on the whole program.

    Random multi-dimensional knapsacks with fractional LP optima; a core of one
    pair forces the growing rounds that campaigns rarely need.
    """
    rng = np.random.default_rng(seed)
    m = int(rng.integers(5, 40))
    g = rng.gamma(2.0, 1.0, m)
    dense = rng.uniform(0.1, 3.0, (n_limits, m)) * (rng.random((n_limits, m)) < 0.7)
    b = dense.sum(axis=1) * rng.uniform(0.2, 0.6, n_limits)
    A = sparse.csc_array(dense)
    x = solve_binary(g, A, b, time_limit=30.0, mip_rel_gap=0.0, core_size=core_size)
    assert (A @ x.astype(float) <= b + 1e-9).all()
    ref = milp(
        -g,
        integrality=np.ones(m),
        bounds=Bounds(0, 1),
        constraints=[LinearConstraint(dense, -np.inf, b)],
        options={"mip_rel_gap": 0.0},
    )
    assert g[x].sum() == pytest.approx(-ref.fun, rel=1e-9, abs=1e-9)


def test_capacity_on_no_offer_is_refused():
    profit = np.zeros((2, 2))
    ok = np.ones((2, 2), dtype=bool)
    with pytest.raises(ValueError, match="no-offer"):
        optimal_assignment(profit, ok, [1.0, 0.0], ["email", None], Constraints(capacity={-1: 1}))


def test_a_campaign_of_20000_rows_and_8_actions_solves_within_budget_and_capacities():
    profit, ok, cost, channel = campaign(20_000)
    cons = Constraints(
        max_contacts=6000,
        max_cost=2500.0,
        capacity={6: 200, 3: 1500},
        channel_limits={"email": 3000, "sms": 1000},
    )
    a = optimal_assignment(profit, ok, cost, channel, cons)
    assert_feasible(a, profit, ok, cost, channel, cons, 7, tol=1e-6)
    # no worse than filling the budget greedily by gain per unit of cost
    gain = np.where(ok, profit - profit[:, [7]], -np.inf)[:, :7]
    ratio = gain / np.maximum(cost[:7], 1e-9)
    taken = np.full(len(gain), 7)
    for flat in np.argsort(-ratio, axis=None):
        i, o = divmod(int(flat), 7)
        trial = taken.copy()
        trial[i] = o
        if gain[i, o] <= 0 or taken[i] != 7:
            continue
        if not cons.violations(expected_usage(one_hot(trial, 8), cost, channel)):
            taken = trial
        if (taken != 7).sum() >= 200:  # enough for the comparison, kept fast
            break
    assert total(profit, a, 7) >= total(profit, taken, 7)


def test_the_solver_failing_is_reported():
    profit, ok, cost, channel = campaign(3000, seed=1)
    cons = Constraints(max_cost=300.0, capacity={6: 20})
    with pytest.raises(AssignmentError, match="time_limit"):
        optimal_assignment(profit, ok, cost, channel, cons, time_limit=1e-9)


# --------------------------------------------------------------------------- stochastic


@settings(max_examples=60, deadline=None)
@given(instances(max_rows=10, max_actions=4), st.floats(0.0, 1.0))
def test_epsilon_greedy_keeps_the_recommendation_and_eligibility(case, epsilon):
    profit, ok, cost, channel, constraints, none = case
    a = optimal_assignment(profit, ok, cost, channel, constraints, none)
    rows = np.arange(len(a))
    for within in (False, True):
        dist = epsilon_greedy(a, ok, epsilon, none_index=none, within_budget=within)
        np.testing.assert_allclose(dist.sum(axis=1), 1.0)
        assert (dist[rows, a] >= 1 - epsilon - 1e-12).all()
        assert (dist[~ok] == 0).all()
    # within the budget: only the assigned action or no offer, so every draw keeps the limits
    dist = epsilon_greedy(a, ok, epsilon, none_index=none, within_budget=True)
    allowed = one_hot(a, ok.shape[1]).astype(bool)
    allowed[:, none] = True
    assert (dist[~allowed] == 0).all()
    drawn, _ = sample_actions(dist, np.random.default_rng(0))
    usage = expected_usage(one_hot(drawn, ok.shape[1]), cost, channel, none)
    assert constraints.violations(usage) == []


def test_plain_epsilon_greedy_breaks_a_tight_budget_in_expectation():
    profit = np.array([[5.0, 0.0]] * 6)
    ok = np.ones_like(profit, dtype=bool)
    cost, channel = [1.0, 0.0], ["email", None]
    cons = Constraints(max_contacts=2)
    a = optimal_assignment(profit, ok, cost, channel, cons)
    plain = expected_usage(epsilon_greedy(a, ok, 0.2), cost, channel)
    held = expected_usage(epsilon_greedy(a, ok, 0.2, within_budget=True), cost, channel)
    # the four rows left alone are explored onto the offer: 2 * 0.9 + 4 * 0.1
    assert plain.contacts == pytest.approx(2.2)
    assert cons.violations(plain) == ["max_contacts"]
    assert held.contacts == pytest.approx(2 * 0.9)
    assert cons.violations(held) == []


def test_softmax_approaches_the_argmax_and_respects_eligibility():
    profit = np.array([[1.0, 3.0, 2.0], [5.0, np.nan, 4.0], [0.0, 0.0, 0.0]])
    ok = np.array([[True, True, True], [True, False, True], [True, True, True]])
    cold = softmax_policy(profit, ok, temperature=1e-3)
    np.testing.assert_allclose(cold[:2], [[0, 1, 0], [1, 0, 0]], atol=1e-12)
    np.testing.assert_allclose(cold[2], [1 / 3] * 3)  # ties share the mass
    hot = softmax_policy(profit, ok, temperature=1e6)
    np.testing.assert_allclose(hot, random_policy(ok), atol=1e-5)
    assert hot[1, 1] == 0.0
    # profits far apart do not overflow
    assert np.isfinite(softmax_policy(profit * 1e6, ok, temperature=1e-3)).all()
    with pytest.raises(ValueError, match="temperature"):
        softmax_policy(profit, ok, temperature=0.0)


def test_static_and_random_policies():
    ok = np.array([[True, False, True], [True, True, True]])
    np.testing.assert_array_equal(static_policy(1, ok), [[0, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(static_policy(-1, ok), [[0, 0, 1], [0, 0, 1]])
    np.testing.assert_allclose(random_policy(ok), [[0.5, 0, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    with pytest.raises(ValueError, match="no-offer column"):
        random_policy(np.array([[True, False]]))


def test_sample_actions_draws_by_the_distribution_and_never_a_zero():
    dist = np.tile([0.2, 0.0, 0.5, 0.3, 0.0], (50_000, 1))
    actions, propensities = sample_actions(dist, np.random.default_rng(0))
    freq = np.bincount(actions, minlength=5) / len(actions)
    np.testing.assert_allclose(freq, dist[0], atol=0.01)
    assert freq[1] == 0 and freq[4] == 0
    np.testing.assert_array_equal(propensities, dist[0][actions])
    with pytest.raises(ValueError, match="sum to 1"):
        sample_actions(np.array([[0.5, 0.6]]), np.random.default_rng(0))

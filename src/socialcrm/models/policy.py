"""The offer policy of the next-best-offer task: which action each customer gets.

Actions are the ``K`` columns of ``expected_profit``: the offers and one
"no offer" column (``none_index``, by default the last), the baseline every offer
is measured against. ``expected_profit`` is *net* of the contact cost (what the
customer is expected to bring under the action minus what contacting them
costs); ``cost`` enters only the budget, so it is never subtracted twice.

The *gain* of offer ``a`` for row ``i`` is
``expected_profit[i, a] - expected_profit[i, none]``. A row is contacted only
when its offer's gain is strictly positive: on a tie with "no offer" the
customer is left alone.

Deterministic policy
    :func:`optimal_assignment` maximises the total expected profit under
    :class:`Constraints` (contacts, cost budget, offer capacities, channel limits).

Stochastic policies, for the log of the next campaign
    :func:`epsilon_greedy`, :func:`softmax_policy`, :func:`static_policy` and
    :func:`random_policy` return an ``(n, K)`` action distribution whose rows sum
    to 1 and put no mass on ineligible actions; :func:`sample_actions` draws the
    actions and records their propensities. :func:`one_hot` turns an assignment
    into such a distribution.

Budgets under a stochastic policy
    A hard budget is a property of one realised campaign, but a stochastic policy
    only fixes the *expected* usage (see :func:`expected_usage`). Exploring away
    from a budget-tight assignment moves rows that were left alone onto offers,
    so plain epsilon-greedy can exceed the budget even in expectation.
    ``epsilon_greedy(..., within_budget=True)`` explores only between each row's
    assigned action and "no offer": every draw then uses at most what the
    assignment uses, at the price of no support (propensity 0) for the offers the
    assignment did not pick.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

#: Keys of the ``budget`` block of :meth:`Constraints.from_config`.
BUDGET_KEYS = ("contacts", "cost", "share")
#: Top-level keys of the policy constraint config.
CONFIG_KEYS = ("budget", "capacity", "channel_limits")
#: Slack on float budgets turned into whole contacts (0.6 / 0.2 is 2.9999999999999996).
ROUNDING_SLACK = 1e-9
#: Pairs the MILP solver decides first (see :func:`_solve_binary`).
CORE_SIZE = 500
#: Relative tolerance of the feasibility check on the solver's answer.
FEASIBILITY_TOL = 1e-6

_PLAN_SEPARATORS = re.compile(r"[,|]")


class AssignmentError(RuntimeError):
    """The solver returned no optimal assignment (time limit, numerical trouble)."""


# --------------------------------------------------------------------------- eligibility


def _plan_names(value: Any) -> frozenset[str]:
    """Plan names in an ``eligible_plans`` cell; empty means every plan."""
    if not isinstance(value, str):  # None, NaN, pd.NA
        return frozenset()
    return frozenset(t.strip() for t in _PLAN_SEPARATORS.split(value)) - {""}


def _min_tenure(value: Any) -> float:
    """A ``min_tenure_days`` cell as a number of days (missing: no requirement)."""
    if value is None:
        return 0.0
    days = float(value)
    if math.isnan(days):
        return 0.0
    if days < 0:
        raise ValueError(f"min_tenure_days must be >= 0, got {days}")
    return days


def eligibility(
    plans: Sequence[Any] | np.ndarray,
    tenure_days: Sequence[float] | np.ndarray,
    eligible_plans: Sequence[Any],
    min_tenure_days: Sequence[Any],
) -> np.ndarray:
    """Which offers each customer may receive, plus the always-eligible "no offer".

    Parameters
    ----------
    plans
        ``(n,)`` plan of each customer; a missing plan (None, NaN) is eligible
        only for offers open to every plan.
    tenure_days
        ``(n,)`` tenure of each customer in days. NaN (unknown) makes the
        customer ineligible for every offer with a minimum tenure above 0.
    eligible_plans
        Per offer: None, NaN or an empty string for every plan, else plan names
        separated by ``|`` (as ``offers.parquet`` stores them) or ``,``.
    min_tenure_days
        Per offer: the tenure a customer needs (``tenure_days >= min``);
        None or NaN means none.

    Returns
    -------
    np.ndarray
        ``(n, K)`` bool, ``K = len(eligible_plans) + 1``; the offers in their
        given order and the "no offer" column last, True on every row.
    """
    plan = [p.strip() if isinstance(p, str) else "" for p in plans]
    tenure = np.asarray(tenure_days, dtype=float)
    if tenure.shape != (len(plan),):
        raise ValueError(
            f"tenure_days has shape {tenure.shape}; expected ({len(plan)},) like plans"
        )
    if len(eligible_plans) != len(min_tenure_days):
        raise ValueError(
            f"{len(eligible_plans)} eligible_plans but {len(min_tenure_days)} min_tenure_days"
        )
    # "" cannot be a plan name (empty tokens are dropped), so it marks a missing plan.
    uniques, inverse = np.unique(np.asarray(plan, dtype=str), return_inverse=True)
    out = np.ones((len(plan), len(eligible_plans) + 1), dtype=bool)
    for j, (allowed, needed) in enumerate(zip(eligible_plans, min_tenure_days, strict=True)):
        names = _plan_names(allowed)
        if names:
            out[:, j] = np.isin(uniques, sorted(names))[inverse.reshape(-1)]
        days = _min_tenure(needed)
        if days > 0:
            out[:, j] &= tenure >= days  # NaN compares False: unknown tenure is ineligible
    return out


# --------------------------------------------------------------------------- constraints


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be a whole number, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def _key(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"capacity keys are action indices, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Constraints:
    """Limits on one campaign; every field is optional (None or empty: no limit).

    Parameters
    ----------
    max_contacts
        Rows assigned an offer (rows left with "no offer" are not contacts).
    max_cost
        Total contact cost, the sum of ``cost[a]`` over the contacted rows.
    capacity
        ``{action index: max rows}`` for offers in limited supply; negative
        indices count from the end like NumPy's.
    channel_limits
        ``{channel label: max contacts}`` over the offers sent through it.
    """

    max_contacts: int | None = None
    max_cost: float | None = None
    capacity: Mapping[int, int] = field(default_factory=dict)
    channel_limits: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_contacts is not None:
            object.__setattr__(self, "max_contacts", _count("max_contacts", self.max_contacts))
        if self.max_cost is not None:
            budget = float(self.max_cost)
            if not budget >= 0 or math.isinf(budget):
                raise ValueError(f"max_cost must be a finite number >= 0, got {self.max_cost}")
            object.__setattr__(self, "max_cost", budget)
        capacity = {_key(a): _count(f"capacity[{a}]", c) for a, c in self.capacity.items()}
        limits = {
            str(k): _count(f"channel_limits[{k!r}]", v) for k, v in self.channel_limits.items()
        }
        object.__setattr__(self, "capacity", capacity)
        object.__setattr__(self, "channel_limits", limits)

    @property
    def is_empty(self) -> bool:
        """True when nothing limits the campaign."""
        return (
            self.max_contacts is None
            and self.max_cost is None
            and not self.capacity
            and not self.channel_limits
        )

    def violations(self, usage: Usage, tol: float = 1e-9) -> list[str]:
        """The limits ``usage`` breaks, as ``max_contacts``, ``capacity[3]``, ...

        ``usage`` may be expected (from a stochastic policy) or realised; a limit
        counts as broken above ``limit + tol * max(1, limit)``.
        """

        def over(used: float, limit: float) -> bool:
            return used > limit + tol * max(1.0, limit)

        broken = []
        if self.max_contacts is not None and over(usage.contacts, self.max_contacts):
            broken.append("max_contacts")
        if self.max_cost is not None and over(usage.cost, self.max_cost):
            broken.append("max_cost")
        k = len(usage.per_action)
        broken += [
            f"capacity[{a}]"
            for a, cap in self.capacity.items()
            if over(float(usage.per_action[_index(a, k, "capacity")]), cap)
        ]
        broken += [
            f"channel_limits[{label!r}]"
            for label, limit in self.channel_limits.items()
            if over(usage.per_channel.get(label, 0.0), limit)
        ]
        return broken

    @classmethod
    def from_config(
        cls,
        offers: Sequence[str | None],
        channels: Sequence[str | None],
        cfg: Mapping[str, Any] | None,
        n_rows: int | None = None,
    ) -> Constraints:
        """Constraints from a config block that names offers by id.

        The block (every key optional; null values count as absent)::

            budget:            # contacts and share both cap contacts: give one
              contacts: 5000   # at most 5000 rows get an offer
              share: 0.3       # or at most floor(0.3 * n_rows) rows
              cost: 2500.0     # and/or a total contact cost
            capacity:          # offer id -> max rows
              OF-RETAIN: 200
            channel_limits:    # channel -> max contacts
              call: 200

        Parameters
        ----------
        offers
            Offer id of each action column, in column order: the position is the
            action index. Put None at the "no offer" column, or leave it out when
            it is the last column.
        channels
            Channel label of each entry of ``offers`` (None for "no offer"); used
            to refuse limits on channels no offer uses (a typo would silently
            limit nothing).
        cfg
            The block above (a dict or an OmegaConf ``DictConfig``).
        n_rows
            Rows the campaign scores; needed only for ``budget.share``.
        """
        cfg = dict(cfg or {})
        _refuse_unknown("policy constraint", cfg, CONFIG_KEYS)
        if len(channels) != len(offers):
            raise ValueError(f"{len(offers)} offers but {len(channels)} channels")
        ids = [o for o in offers if o is not None]
        if len(set(ids)) != len(ids):
            raise ValueError("offer ids must be unique")
        budget = {k: v for k, v in dict(cfg.get("budget") or {}).items() if v is not None}
        _refuse_unknown("budget", budget, BUDGET_KEYS)
        if "contacts" in budget and "share" in budget:
            raise ValueError("budget: give contacts or share, not both (both cap contacts)")
        max_contacts = budget.get("contacts")
        if "share" in budget:
            share = float(budget["share"])
            if not 0 <= share <= 1:
                raise ValueError(f"budget.share must be in [0, 1], got {share}")
            if n_rows is None:
                raise ValueError("budget.share needs n_rows, the rows the campaign scores")
            max_contacts = math.floor(share * _count("n_rows", n_rows) + ROUNDING_SLACK)
        capacity = {}
        for offer_id, cap in dict(cfg.get("capacity") or {}).items():
            if offer_id not in ids:
                raise ValueError(f"capacity for unknown offer {offer_id!r}; offers are {ids}")
            capacity[list(offers).index(offer_id)] = cap
        used = {c for o, c in zip(offers, channels, strict=True) if o is not None and c}
        limits = dict(cfg.get("channel_limits") or {})
        unknown = sorted(set(limits) - used)
        if unknown:
            raise ValueError(f"channel_limits for channels no offer uses: {unknown}")
        return cls(
            max_contacts=max_contacts,
            max_cost=budget.get("cost"),
            capacity=capacity,
            channel_limits=limits,
        )


def _refuse_unknown(what: str, cfg: Mapping[str, Any], known: Sequence[str]) -> None:
    unknown = sorted(set(cfg) - set(known))
    if unknown:
        raise ValueError(f"unknown {what} keys {unknown}; use {list(known)}")


@dataclass(frozen=True)
class Usage:
    """What a policy spends, expected (stochastic policy) or realised (assignment).

    Attributes
    ----------
    contacts
        Rows sent an offer.
    cost
        Total contact cost.
    per_action
        ``(K,)`` rows per action (the "no offer" entry included).
    per_channel
        Contacts per channel label.
    """

    contacts: float
    cost: float
    per_action: np.ndarray
    per_channel: dict[str, float]


def expected_usage(
    action_dist: np.ndarray,
    cost: Sequence[float] | np.ndarray,
    channel: Sequence[str | None],
    none_index: int = -1,
) -> Usage:
    """Expected contacts, cost and counts of an ``(n, K)`` action distribution.

    For an assignment pass ``one_hot(assignment, K)``: the usage is then the
    realised one. Check it with :meth:`Constraints.violations`.
    """
    dist = np.asarray(action_dist, dtype=float)
    k = dist.shape[1]
    none = _index(none_index, k, "none_index")
    costs = _costs(cost, k, none)
    labels = _labels(channel, k, none)
    per_action = dist.sum(axis=0)
    offers = np.arange(k) != none
    per_channel: dict[str, float] = {}
    for a in np.flatnonzero(offers):
        if labels[a] is not None:
            per_channel[labels[a]] = per_channel.get(labels[a], 0.0) + float(per_action[a])
    return Usage(
        contacts=float(per_action[offers].sum()),
        cost=float(per_action @ costs),
        per_action=per_action,
        per_channel=per_channel,
    )


# --------------------------------------------------------------------------- validation


def _index(index: int, k: int, name: str) -> int:
    """A possibly negative action index, checked and made non-negative."""
    if not -k <= int(index) < k:
        raise ValueError(f"{name} {index} out of range for {k} actions")
    return int(index) % k


def _eligible(eligible: np.ndarray, none_index: int) -> tuple[np.ndarray, int]:
    ok = np.asarray(eligible)
    if ok.ndim != 2 or ok.shape[1] == 0:
        raise ValueError(f"eligible must be (n, K) with K >= 1, got shape {ok.shape}")
    if ok.dtype != bool:
        raise TypeError(f"eligible must be a bool array, got {ok.dtype}")
    none = _index(none_index, ok.shape[1], "none_index")
    if not ok[:, none].all():
        raise ValueError(f"the no-offer column {none} must be eligible on every row")
    return ok, none


def _profits(expected_profit: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Profits checked against ``ok``; ineligible cells may hold anything, even NaN."""
    profit = np.asarray(expected_profit, dtype=float)
    if profit.shape != ok.shape:
        raise ValueError(f"expected_profit has shape {profit.shape}, eligible {ok.shape}")
    if not np.isfinite(profit[ok]).all():
        raise ValueError("expected_profit must be finite on every eligible action")
    return profit


def _costs(cost: Sequence[float] | np.ndarray, k: int, none: int) -> np.ndarray:
    costs = np.asarray(cost, dtype=float).copy()
    if costs.shape != (k,):
        raise ValueError(f"cost has shape {costs.shape}; expected ({k},)")
    costs[none] = 0.0  # leaving a customer alone costs nothing, whatever the table says
    if not (np.isfinite(costs) & (costs >= 0)).all():
        raise ValueError("cost must be finite and >= 0")
    return costs


def _labels(channel: Sequence[str | None], k: int, none: int) -> list[str | None]:
    if len(channel) != k:
        raise ValueError(f"{len(channel)} channel labels for {k} actions")
    return [
        str(c) if isinstance(c, str) and c and a != none else None for a, c in enumerate(channel)
    ]


# --------------------------------------------------------------------------- assignment


def _gains(profit: np.ndarray, ok: np.ndarray, none: int) -> np.ndarray:
    """Gain over "no offer" per (row, offer); -inf where ineligible and at "no offer"."""
    gain = np.where(ok, profit - profit[:, [none]], -np.inf)
    gain[:, none] = -np.inf
    return gain


def _binding(
    constraints: Constraints,
    pays: np.ndarray,
    costs: np.ndarray,
    labels: list[str | None],
    capacity: dict[int, int],
) -> tuple[int | None, Constraints]:
    """Drop the limits that cannot bind; fold a flat cost budget into contacts.

    ``pays`` marks the (row, offer) pairs with a positive gain, the only ones an
    optimal assignment uses. A limit at or above what those pairs could use can
    never bind; a cost budget over offers that all cost ``c`` is a contact limit
    of ``floor(budget / c)``. Returns the contact limit and the rest.
    """
    candidates = pays.any(axis=1)
    contacts = constraints.max_contacts
    if contacts is not None and contacts >= candidates.sum():
        contacts = None
    max_cost = constraints.max_cost
    if max_cost is not None:
        spend = np.where(pays, costs, 0.0).max(axis=1, initial=0.0).sum()
        offered = costs[pays.any(axis=0)]
        if max_cost >= spend:
            max_cost = None
        elif np.ptp(offered) == 0:  # spend > budget >= 0: one positive cost
            flat = math.floor(max_cost / offered[0] + ROUNDING_SLACK)
            contacts = flat if contacts is None else min(contacts, flat)
            max_cost = None
    capacity = {a: c for a, c in capacity.items() if c < pays[:, a].sum()}
    limits = {}
    for label, limit in constraints.channel_limits.items():
        in_channel = [a for a, c in enumerate(labels) if c == label]
        if limit < pays[:, in_channel].any(axis=1).sum():
            limits[label] = limit
    rest = Constraints(max_cost=max_cost, capacity=capacity, channel_limits=limits)
    return contacts, rest


def _greedy(gain: np.ndarray, none: int, max_contacts: int | None) -> np.ndarray:
    """Each row's best offer; under a contact limit only the largest positive gains.

    Exact: without other limits the rows do not interact, so the best use of
    ``max_contacts`` contacts is the rows with the largest best gains.
    """
    n = gain.shape[0]
    best = np.argmax(gain, axis=1)  # first index on ties
    best_gain = gain[np.arange(n), best]
    contact = best_gain > 0
    if max_contacts is not None and contact.sum() > max_contacts:
        top = np.argsort(-best_gain, kind="stable")[:max_contacts]  # earlier rows win ties
        contact = np.zeros(n, dtype=bool)
        contact[top] = True
    return np.where(contact, best, none)


def _dominated(
    gain: np.ndarray,
    costs: np.ndarray,
    labels: list[str | None],
    constraints: Constraints,
    capacity: dict[int, int],
) -> np.ndarray:
    """(row, offer) pairs an optimal assignment can do without.

    Offer ``b`` covers offer ``a`` when it uses no more of any limit: no
    capacity of its own, no dearer under a cost budget, and a limited channel
    only if it is ``a``'s. A pair ``(i, a)`` is dominated when a covering ``b``
    gains more on row ``i`` (or as much, with ties broken so that the relation
    stays a strict order): swapping ``a`` for ``b`` keeps any assignment
    feasible and loses nothing, so the MILP never needs ``a`` there.
    """
    k = gain.shape[1]
    limited = [c if c in constraints.channel_limits else None for c in labels]
    priced = constraints.max_cost is not None

    def covers(b: int, a: int) -> bool:
        return (
            b not in capacity
            and (not priced or costs[b] <= costs[a])
            and limited[b] in (None, limited[a])
        )

    out = np.zeros(gain.shape, dtype=bool)
    for a in range(k):
        for b in range(k):
            if b != a and covers(b, a):
                ties_go_to_b = not covers(a, b) or b < a
                beats = gain[:, b] >= gain[:, a] if ties_go_to_b else gain[:, b] > gain[:, a]
                out[:, a] |= beats
    return out


def _program(
    rows: np.ndarray,
    cols: np.ndarray,
    n: int,
    costs: np.ndarray,
    labels: list[str | None],
    max_contacts: int | None,
    constraints: Constraints,
    capacity: dict[int, int],
) -> tuple[sparse.csc_array, np.ndarray]:
    """``A x <= b`` over the binary pairs ``x[j] = (rows[j] gets cols[j])``."""
    m = rows.size
    blocks: list[sparse.csr_array] = []
    upper: list[np.ndarray] = []
    # One action per row; a row with one candidate pair is already held by x <= 1.
    multi = np.flatnonzero(np.bincount(rows, minlength=n)[rows] > 1)
    if multi.size:
        _, row_of = np.unique(rows[multi], return_inverse=True)
        n_multi = int(row_of.max()) + 1
        blocks.append(sparse.csr_array((np.ones(multi.size), (row_of, multi)), shape=(n_multi, m)))
        upper.append(np.ones(n_multi))
    limits: list[tuple[np.ndarray, float]] = []
    if max_contacts is not None:
        limits.append((np.ones(m), max_contacts))
    if constraints.max_cost is not None:
        limits.append((costs[cols], constraints.max_cost))
    limits += [((cols == a).astype(float), cap) for a, cap in capacity.items()]
    for label, limit in constraints.channel_limits.items():
        in_channel = [a for a, c in enumerate(labels) if c == label]
        limits.append((np.isin(cols, in_channel).astype(float), limit))
    for weights, limit in limits:
        blocks.append(sparse.csr_array(weights.reshape(1, -1)))
        upper.append(np.array([float(limit)]))
    if not blocks:
        return sparse.csc_array((0, m)), np.zeros(0)
    return sparse.vstack(blocks, format="csc"), np.concatenate(upper)


def _fill(take: np.ndarray, order: np.ndarray, A: sparse.csc_array, b: np.ndarray) -> np.ndarray:
    """Add the pairs in ``order`` that still fit, one by one (a feasible incumbent)."""
    take = take.copy()
    used = A @ take.astype(float)
    slack_tol = 1e-9 * np.maximum(1.0, np.abs(b))
    for j in order:
        if take[j]:
            continue
        idx = A.indices[A.indptr[j] : A.indptr[j + 1]]
        val = A.data[A.indptr[j] : A.indptr[j + 1]]
        if np.all(used[idx] + val <= b[idx] + slack_tol[idx]):
            used[idx] += val
            take[j] = True
    return take


def _core(
    g: np.ndarray,
    A: sparse.csc_array,
    b: np.ndarray,
    d: np.ndarray,
    width: float,
    solver: dict[str, Any],
) -> np.ndarray | None:
    """The best ``x`` once pairs with ``|d| >= width`` keep their LP side.

    ``d < 0`` (the LP sets the pair to 1) fixes it at 1, ``d > 0`` at 0; the
    MILP solver decides the rest. None when the fixings admit no solution.
    """
    tol = 1e-9 * np.maximum(1.0, np.abs(b))
    one = d <= -width
    rest = b - A @ one.astype(float)
    if (rest < -tol).any():
        return None
    free = np.abs(d) < width
    # A pair that no longer fits in what the fixed pairs leave is out.
    coo = A.tocoo()
    too_big = coo.data > rest[coo.row] + tol[coo.row]
    free[coo.col[too_big]] = False
    if not free.any():
        return one
    sub = A[:, free]
    live = np.diff(sub.tocsr().indptr) > 0
    res = milp(
        c=-g[free],
        integrality=np.ones(int(free.sum())),
        bounds=Bounds(0, 1),
        constraints=[LinearConstraint(sub[live, :], -np.inf, np.maximum(rest[live], 0.0))],
        options=solver,
    )
    if res.status != 0 or res.x is None:
        raise AssignmentError(
            f"offer assignment: HiGHS found no optimal solution over {int(free.sum())} "
            f"undecided (row, offer) pairs (status {res.status}: {res.message}); raise "
            "time_limit or mip_rel_gap, or loosen the constraints"
        )
    out = one.copy()
    out[np.flatnonzero(free)[res.x > 0.5]] = True
    return out


def _solve_binary(
    g: np.ndarray,
    A: sparse.csc_array,
    b: np.ndarray,
    time_limit: float,
    mip_rel_gap: float,
    core_size: int | None = None,
) -> np.ndarray:
    """``max g @ x`` over binary ``x`` with ``A x <= b`` (``A, b >= 0``), exactly.

    HiGHS branch and bound stalls on the full program at campaign scale (tens of
    thousands of binaries under a dense budget row), while the LP relaxation is
    solved in about a second and is integral but for a pair or so per limit:

    1. solve the LP relaxation; its duals ``y <= 0`` give reduced costs ``d``
       and the bound ``L = y @ b + sum(min(d, 0))`` on ``-g @ x``;
    2. round the LP solution down and fill greedily: an incumbent ``z``
       (``A, b >= 0``, so dropping pairs keeps feasibility);
    3. any strictly better ``x`` has ``sum_j |d_j| [x_j != (d_j < 0)] < z - L``,
       so pairs with ``|d_j| >= z - L`` keep their LP side (reduced-cost fixing,
       valid for any ``y <= 0``);
    4. the MILP solver decides the ``core_size`` pairs of smallest ``|d|``
       (the core) with the others at their LP side; its answer, if better,
       becomes the incumbent. Once the core's width covers the new ``z - L``
       the incumbent is optimal; until then the core grows fourfold.
    """
    started = time.perf_counter()
    if A.shape[0] == 0:
        return g > 0

    def left() -> float:
        return max(time_limit - (time.perf_counter() - started), 1e-3)

    lp = linprog(-g, A_ub=A, b_ub=b, bounds=(0, 1), method="highs", options={"time_limit": left()})
    if lp.status != 0:
        raise AssignmentError(
            f"offer assignment: the LP relaxation over {g.size} (row, offer) pairs failed "
            f"(status {lp.status}: {lp.message}); raise time_limit ({time_limit} s)"
        )
    y = np.minimum(lp.ineqlin.marginals, 0.0)
    d = -g - A.T @ y
    bound = float(y @ b + np.minimum(d, 0.0).sum())
    margin = 1e-9 * max(1.0, abs(bound))  # widen cores past rounding error
    take = lp.x > 1 - 1e-9
    if (A @ take.astype(float) > b + 1e-9 * np.maximum(1.0, np.abs(b))).any():
        take = np.zeros(g.size, dtype=bool)  # rounding ate the solver's tolerance
    best = _fill(take, np.lexsort((-g, d)), A, b)
    core_size = CORE_SIZE if core_size is None else core_size
    size = np.sort(np.abs(d))
    while True:
        gap = float(-g[best].sum()) - bound
        if gap <= margin:
            return best
        # A core past the gap is the exact remainder; a smaller one is a cheap try.
        width = gap + margin if core_size >= size.size else min(size[core_size], gap + margin)
        solver = {"time_limit": left(), "mip_rel_gap": mip_rel_gap, "disp": False}
        found = _core(g, A, b, d, width, solver)
        if found is not None and g[found].sum() > g[best].sum():
            best = found
        if float(-g[best].sum()) - bound <= width:
            return best
        core_size *= 4


def _milp(
    gain: np.ndarray,
    none: int,
    costs: np.ndarray,
    labels: list[str | None],
    max_contacts: int | None,
    constraints: Constraints,
    capacity: dict[int, int],
    time_limit: float,
    mip_rel_gap: float,
) -> np.ndarray:
    """The assignment as a binary program over the (row, offer) pairs that pay."""
    n = gain.shape[0]
    out = np.full(n, none)
    keep = (gain > 0) & ~_dominated(gain, costs, labels, constraints, capacity)
    rows, cols = np.nonzero(keep)
    if rows.size == 0:
        return out
    A, b = _program(rows, cols, n, costs, labels, max_contacts, constraints, capacity)
    chosen = _solve_binary(gain[rows, cols], A, b, time_limit, mip_rel_gap)
    if np.bincount(rows[chosen], minlength=n).max(initial=0) > 1:
        raise AssignmentError("offer assignment: the solver gave a row two offers")
    out[rows[chosen]] = cols[chosen]
    return out


def optimal_assignment(
    expected_profit: np.ndarray,
    eligible: np.ndarray,
    cost: Sequence[float] | np.ndarray,
    channel: Sequence[str | None],
    constraints: Constraints | None = None,
    none_index: int = -1,
    *,
    method: Literal["auto", "greedy", "milp"] = "auto",
    time_limit: float = 60.0,
    mip_rel_gap: float = 1e-6,
) -> np.ndarray:
    """The assignment with the largest total expected profit within the constraints.

    A row is contacted only with an eligible offer whose gain over "no offer" is
    strictly positive; a row with no such offer, or left over by the limits, gets
    "no offer". Among offers of equal gain the argmax and greedy routes take
    the lowest index; the MILP takes any of them.

    Parameters
    ----------
    expected_profit
        ``(n, K)`` expected profit of each action, net of the contact cost; the
        ``none_index`` column is the baseline. Ineligible cells may be NaN.
    eligible
        ``(n, K)`` bool; the no-offer column must be True on every row.
    cost
        ``(K,)`` contact cost of each action (the no-offer entry is ignored).
    channel
        ``(K,)`` channel label of each action (None or "" for "no offer").
    constraints
        Limits of the campaign; None for none.
    none_index
        The "no offer" column.
    method
        ``"auto"`` solves exactly by the cheapest route: per-row argmax without
        binding limits, a greedy pass when only the number of contacts binds
        (a cost budget over offers of one cost counts as such), else the MILP.
        ``"greedy"`` refuses anything but a contact limit; ``"milp"`` always
        builds the binary program (on the constraints as given).
    time_limit
        Seconds the LP and MILP solves may take together.
    mip_rel_gap
        Relative optimality gap at which the MILP solver stops (0: proven optimal).

    Returns
    -------
    np.ndarray
        ``(n,)`` action index per row (``none_index`` made non-negative).

    Raises
    ------
    AssignmentError
        The solver hit ``time_limit`` or failed; nothing partial is returned.

    Notes
    -----
    The MILP has one binary ``x[i, a]`` per eligible (row, offer) pair with a
    positive gain (the others are never worth a contact), less the pairs another
    offer of the row beats while using no more of any limit; ``sum_a x[i, a] <= 1``
    per row, one sparse row per limit, and it maximises ``sum gain[i, a] * x[i, a]``.
    The solver is HiGHS through SciPy: the LP relaxation by
    :func:`scipy.optimize.linprog`, then, after reduced-cost fixing, the few
    undecided pairs by :func:`scipy.optimize.milp` (see :func:`_solve_binary`;
    HiGHS on the whole program stalls at campaign scale). The answer is optimal
    up to ``mip_rel_gap`` on those pairs. 20,000 rows by 8 actions under a cost
    budget and capacities solve in about a second (two cores), with contact and
    channel limits as well in 2 to 4 seconds.
    """
    if method not in ("auto", "greedy", "milp"):
        raise ValueError(f"method must be 'auto', 'greedy' or 'milp', got {method!r}")
    ok, none = _eligible(eligible, none_index)
    profit = _profits(expected_profit, ok)
    k = ok.shape[1]
    costs = _costs(cost, k, none)
    labels = _labels(channel, k, none)
    constraints = constraints or Constraints()
    capacity = {_index(a, k, "capacity index"): c for a, c in constraints.capacity.items()}
    if none in capacity:
        raise ValueError("capacity applies to offers; the no-offer column has none")
    gain = _gains(profit, ok, none)
    if method == "milp":
        contacts, rest = constraints.max_contacts, constraints
    else:
        contacts, rest = _binding(constraints, gain > 0, costs, labels, capacity)
        capacity = dict(rest.capacity)
        if rest.is_empty:
            return _greedy(gain, none, contacts)
        if method == "greedy":
            raise ValueError(
                "method='greedy' is exact only under a contact limit; these constraints "
                "(cost budget over offers of different costs, capacities or channel limits) "
                "need method='milp' or 'auto'"
            )
    assignment = _milp(gain, none, costs, labels, contacts, rest, capacity, time_limit, mip_rel_gap)
    # HiGHS keeps limits to its feasibility tolerance; anything worse is a failure.
    broken = constraints.violations(
        expected_usage(one_hot(assignment, k), costs, labels, none), tol=FEASIBILITY_TOL
    )
    if broken:
        raise AssignmentError(f"offer assignment: the solver's answer breaks {broken}")
    return assignment


# --------------------------------------------------------------------------- stochastic


def one_hot(assignment: np.ndarray, n_actions: int) -> np.ndarray:
    """``(n, K)`` distribution putting all mass on each row's assigned action."""
    actions = np.asarray(assignment)
    if actions.ndim != 1 or not np.issubdtype(actions.dtype, np.integer):
        raise TypeError("assignment must be a 1-d integer array")
    if actions.size and not ((actions >= 0) & (actions < n_actions)).all():
        raise ValueError(f"assignment holds actions outside 0..{n_actions - 1}")
    out = np.zeros((actions.size, n_actions))
    out[np.arange(actions.size), actions] = 1.0
    return out


def epsilon_greedy(
    assignment: np.ndarray,
    eligible: np.ndarray,
    epsilon: float,
    *,
    none_index: int = -1,
    within_budget: bool = False,
) -> np.ndarray:
    """The assignment with a share ``epsilon`` of uniform exploration.

    Each row keeps ``1 - epsilon`` on its assigned action and spreads
    ``epsilon`` uniformly over its exploration set, so the assigned action gets
    at least ``1 - epsilon``.

    Parameters
    ----------
    assignment
        ``(n,)`` action per row, e.g. from :func:`optimal_assignment`.
    eligible
        ``(n, K)`` bool; the assigned actions must be eligible.
    epsilon
        Exploration share in ``[0, 1]``.
    none_index
        The "no offer" column.
    within_budget
        False: the exploration set is every eligible action ("no offer"
        included). Every eligible action then has a positive propensity, so the
        log supports off-policy evaluation of any policy, but rows the
        assignment left alone are explored onto offers: under a binding budget
        the campaign exceeds it, in expectation too (check with
        :func:`expected_usage`; reserve the headroom by solving the assignment
        under a tighter budget). True: the exploration set is the assigned
        action and "no offer", so exploration only withholds contacts and every
        draw keeps every limit the assignment keeps (contacts, cost, capacities,
        channels), spending about ``1 - epsilon / 2`` of the assignment. Offers
        the assignment did not pick get propensity 0: the log then evaluates only
        contacting versus not contacting with the assigned offer.

    Returns
    -------
    np.ndarray
        ``(n, K)`` action distribution.
    """
    if not 0 <= epsilon <= 1:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
    ok, none = _eligible(eligible, none_index)
    k = ok.shape[1]
    greedy = one_hot(assignment, k)
    if greedy.shape[0] != ok.shape[0]:
        raise ValueError(f"{greedy.shape[0]} assigned rows, {ok.shape[0]} eligibility rows")
    if not ok[greedy.astype(bool)].all():
        raise ValueError("the assignment gives some rows an ineligible action")
    explore = ok.astype(float)
    if within_budget:
        explore = greedy.copy()
        explore[:, none] = 1.0
    explore /= explore.sum(axis=1, keepdims=True)
    return (1 - epsilon) * greedy + epsilon * explore


def softmax_policy(
    expected_profit: np.ndarray,
    eligible: np.ndarray,
    temperature: float,
    *,
    none_index: int = -1,
) -> np.ndarray:
    """Probabilities ``exp(profit / temperature)`` over each row's eligible actions.

    ``temperature`` is in profit units: actions a few temperatures below the
    row's best get little mass; as it goes to 0 the policy approaches the
    per-row argmax (ties shared). It ignores every budget: a hard limit is not
    kept, not even in expectation (see :func:`expected_usage`).

    Returns
    -------
    np.ndarray
        ``(n, K)`` action distribution, 0 on ineligible actions.
    """
    if not temperature > 0 or math.isinf(temperature):
        raise ValueError(
            f"temperature must be a positive number, got {temperature}; "
            "for the argmax use one_hot(optimal_assignment(...), K)"
        )
    ok, _ = _eligible(eligible, none_index)
    profit = _profits(expected_profit, ok)
    z = np.where(ok, profit, -np.inf) / temperature
    z -= z.max(axis=1, keepdims=True)  # the best action gets exp(0): no overflow
    weights = np.exp(z)
    return weights / weights.sum(axis=1, keepdims=True)


def static_policy(action_index: int, eligible: np.ndarray, none_index: int = -1) -> np.ndarray:
    """Every row gets action ``action_index`` where eligible, else "no offer".

    Returns
    -------
    np.ndarray
        ``(n, K)`` one-hot action distribution.
    """
    ok, none = _eligible(eligible, none_index)
    action = _index(action_index, ok.shape[1], "action_index")
    return one_hot(np.where(ok[:, action], action, none), ok.shape[1])


def random_policy(eligible: np.ndarray, *, none_index: int = -1) -> np.ndarray:
    """Uniform over each row's eligible actions ("no offer" included)."""
    ok, _ = _eligible(eligible, none_index)
    return ok / ok.sum(axis=1, keepdims=True)


def sample_actions(
    action_dist: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one action per row and the probability it had (its propensity).

    Returns
    -------
    actions
        ``(n,)`` drawn action index per row; never one with probability 0.
    propensities
        ``(n,)`` ``action_dist[i, actions[i]]``, all > 0.
    """
    dist = np.asarray(action_dist, dtype=float)
    if dist.ndim != 2 or dist.shape[1] == 0:
        raise ValueError(f"action_dist must be (n, K), got shape {dist.shape}")
    if not ((dist >= 0).all() and np.allclose(dist.sum(axis=1), 1.0, rtol=0, atol=1e-9)):
        raise ValueError("action_dist rows must be non-negative and sum to 1")
    cum = np.cumsum(dist, axis=1)
    u = rng.random(dist.shape[0]) * cum[:, -1]
    # cum[j - 1] <= u < cum[j] only when dist[j] > 0, so zero-mass actions are never drawn.
    above = cum > u[:, None]
    last = dist.shape[1] - 1 - np.argmax(dist[:, ::-1] > 0, axis=1)
    actions = np.where(above.any(axis=1), np.argmax(above, axis=1), last)
    return actions, dist[np.arange(dist.shape[0]), actions]

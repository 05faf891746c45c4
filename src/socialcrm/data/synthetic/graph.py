"""The social graph: ties between persons and what the brand can observe of them.

Ties form mostly inside communities (homophily, community structure) with a
heavy-tailed number of ties per person (socially active people have more).
Churn contagion flows over these person ties. The brand observes a tie only as
edges between the two persons' accounts on a platform both use: a follow when
the tie forms, then mentions and replies over time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from socialcrm.data.synthetic.config import GeneratorConfig
from socialcrm.data.synthetic.population import Population, sigmoid

EDGE_FOLLOW, EDGE_MENTION, EDGE_REPLY = 0, 1, 2


@dataclass
class Accounts:
    """One row per account: a person's presence on one platform."""

    person: np.ndarray
    platform: np.ndarray
    followers: np.ndarray
    created_day: np.ndarray
    follows_brand: np.ndarray
    index: np.ndarray  # (n_persons, n_platforms) account row or -1

    def __len__(self) -> int:
        return len(self.person)


def person_ties(pop: Population, cfg: GeneratorConfig, rng: np.random.Generator) -> np.ndarray:
    """Undirected ties between persons as an ``(m, 2)`` int32 array with ``u < v``, unique."""
    n_p = pop.n_persons
    weight = np.exp(0.5 * pop.social + rng.normal(0.0, 0.5, n_p))
    degree = rng.poisson(cfg.graph.mean_degree * weight / weight.mean())
    k_in = rng.binomial(degree, cfg.graph.within_community)
    k_out = degree - k_in

    # Within communities: shuffle stubs inside each community and pair neighbours.
    stub = np.repeat(np.arange(n_p, dtype=np.int64), k_in)
    comm = pop.community[stub]
    order = np.lexsort((rng.random(len(stub)), comm))
    stub, comm = stub[order], comm[order]
    first = np.r_[0, np.flatnonzero(np.diff(comm)) + 1]
    group_start = np.repeat(first, np.diff(np.r_[first, len(stub)]))
    pos = np.arange(len(stub)) - group_start
    left = np.flatnonzero((pos % 2 == 0)[:-1] & (comm[:-1] == comm[1:]))
    within = np.column_stack([stub[left], stub[left + 1]])

    # Across communities: a global shuffle.
    stub_out = rng.permutation(np.repeat(np.arange(n_p, dtype=np.int64), k_out))
    m = len(stub_out) // 2
    across = stub_out[: 2 * m].reshape(m, 2)

    ties = np.concatenate([within, across])
    ties = ties[ties[:, 0] != ties[:, 1]]
    ties.sort(axis=1)
    key = np.unique(ties[:, 0] * n_p + ties[:, 1])
    return np.column_stack([key // n_p, key % n_p]).astype(np.int32)


def customer_adjacency(ties: np.ndarray, n_customers: int) -> sp.csr_matrix:
    """Symmetric 0/1 adjacency between customers (ties with a latent person dropped)."""
    both = (ties[:, 0] < n_customers) & (ties[:, 1] < n_customers)
    u, v = ties[both, 0], ties[both, 1]
    data = np.ones(2 * len(u), dtype=np.float32)
    adj = sp.csr_matrix(
        (data, (np.r_[u, v], np.r_[v, u])), shape=(n_customers, n_customers), dtype=np.float32
    )
    adj.sum_duplicates()
    return adj


def build_accounts(
    pop: Population, cfg: GeneratorConfig, rng: np.random.Generator, total_days: float
) -> Accounts:
    """Create every account implied by the persons' platform masks."""
    n_plat = len(pop.platforms)
    has = (pop.platform_mask[:, None] >> np.arange(n_plat)) & 1
    person, platform = np.nonzero(has)  # row-major: sorted by person, then platform
    person = person.astype(np.int32)
    platform = platform.astype(np.int8)
    n_acc = len(person)
    index = np.full((pop.n_persons, n_plat), -1, dtype=np.int32)
    index[person, platform] = np.arange(n_acc, dtype=np.int32)

    # Audience size: heavy-tailed, larger for socially active people; LinkedIn and
    # Telegram audiences are smaller, TikTok and Instagram larger.
    offsets = {"tiktok": 0.6, "instagram": 0.3, "x": 0.2, "linkedin": -0.4, "telegram": -0.6}
    plat_off = np.array([offsets.get(p, 0.0) for p in pop.platforms])[platform]
    followers = np.floor(
        rng.lognormal(4.6 + 1.0 * pop.social[person] + plat_off, 1.3, size=n_acc)
    ).astype(np.int64)

    # Most accounts predate the history; some are opened during it.
    is_cust = person < pop.n_customers
    anchor = np.where(
        is_cust, np.minimum(pop.signup_day[np.minimum(person, pop.n_customers - 1)], 0), 0
    )
    created = np.where(
        rng.random(n_acc) < 0.8,
        anchor - rng.exponential(700.0, size=n_acc),
        rng.uniform(0.0, total_days * 0.9, size=n_acc),
    )
    # Valuable customers follow the brand more often (the "best customers on social" signal).
    cust_row = np.minimum(person, pop.n_customers - 1)
    value = np.log(pop.mean_spend * pop.purchase_rate)
    value_z = np.where(is_cust, (value[cust_row] - value.mean()) / (value.std() + 1e-12), 0.0)
    base = np.where(is_cust, -0.6 + 0.5 * value_z, 0.9)
    follows_brand = rng.random(n_acc) < sigmoid(base + 0.7 * pop.social[person])
    return Accounts(
        person=person,
        platform=platform,
        followers=followers,
        created_day=np.floor(created),
        follows_brand=follows_brand,
        index=index,
    )


def drift_accounts(
    pop: Population,
    accounts: Accounts,
    cfg: GeneratorConfig,
    start_day: float,
    total_days: float,
    rng: np.random.Generator,
) -> Accounts:
    """``accounts`` with the accounts that ``drift.platform`` gains from ``start_day`` on
    appended (the same object when the drift adds none).

    A share ``drift.platform_growth`` of the customers without an account on the
    platform open one at a uniform time between ``start_day`` and the end of the
    history. The new accounts come last, so the rows of ``accounts`` keep their
    positions; they are quiet (no posts, no ties observed), so everything else
    the world holds is unchanged. ``rng``: a stream of its own.
    """
    d = cfg.drift
    if not d.on or d.platform is None or d.platform_growth <= 0:
        return accounts
    k = pop.platforms.index(d.platform)
    n = pop.n_customers
    without = np.flatnonzero(accounts.index[:n, k] < 0)
    person = without[rng.random(len(without)) < d.platform_growth].astype(np.int32)
    m = len(person)
    followers = np.floor(rng.lognormal(4.6 + pop.social[person], 1.3, size=m)).astype(np.int64)
    created = np.floor(rng.uniform(start_day, total_days, size=m))
    value = np.log(pop.mean_spend * pop.purchase_rate)
    value_z = (value[person] - value.mean()) / (value.std() + 1e-12)
    follows = rng.random(m) < sigmoid(-0.6 + 0.5 * value_z + 0.7 * pop.social[person])
    index = accounts.index.copy()
    index[person, k] = len(accounts) + np.arange(m, dtype=np.int32)
    return Accounts(
        person=np.r_[accounts.person, person],
        platform=np.r_[accounts.platform, np.full(m, k, dtype=np.int8)],
        followers=np.r_[accounts.followers, followers],
        created_day=np.r_[accounts.created_day, created],
        follows_brand=np.r_[accounts.follows_brand, follows],
        index=index,
    )


@dataclass
class Edges:
    src: np.ndarray  # account rows
    dst: np.ndarray
    kind: np.ndarray  # EDGE_FOLLOW / EDGE_MENTION / EDGE_REPLY
    day: np.ndarray  # days since history start (follows may predate it)


def observed_edges(
    ties: np.ndarray,
    pop: Population,
    accounts: Accounts,
    cfg: GeneratorConfig,
    rng: np.random.Generator,
    total_days: float,
) -> Edges:
    """Project person ties onto platforms both persons use: follows, mentions, replies."""
    n_plat = len(pop.platforms)
    u, v = ties[:, 0], ties[:, 1]
    shared = pop.platform_mask[u] & pop.platform_mask[v]
    keep = (shared > 0) & (rng.random(len(u)) < 0.9)
    u, v, shared = u[keep], v[keep], shared[keep]
    # Pick one shared platform at random per tie.
    bits = (shared[:, None] >> np.arange(n_plat)) & 1
    prio = rng.random((len(u), n_plat), dtype=np.float32) * bits
    plat = np.argmax(prio, axis=1)
    a, b = accounts.index[u, plat], accounts.index[v, plat]

    formed = np.maximum(accounts.created_day[a], accounts.created_day[b]) + rng.exponential(
        120.0, size=len(a)
    )
    live = formed < total_days
    a, b, formed, u, v = a[live], b[live], formed[live], u[live], v[live]

    fwd = rng.random(len(a)) < 0.85
    back = (rng.random(len(a)) < 0.85) | ~fwd
    f_src = np.r_[a[fwd], b[back]]
    f_dst = np.r_[b[fwd], a[back]]
    f_day = np.r_[formed[fwd], formed[back] + rng.exponential(5.0, size=back.sum())]
    ok = f_day < total_days
    f_src, f_dst, f_day = f_src[ok], f_dst[ok], f_day[ok]

    # Mentions and replies during the history, more between active people.
    activity = np.exp(0.4 * (pop.social[u] + pop.social[v]))
    n_int = rng.poisson(cfg.graph.interactions_per_tie * activity / activity.mean())
    tie_i = np.repeat(np.arange(len(a)), n_int)
    lo = np.maximum(formed[tie_i], 0.0)
    i_day = lo + rng.random(len(tie_i)) * (total_days - lo)
    flip = rng.random(len(tie_i)) < 0.5
    i_src = np.where(flip, b[tie_i], a[tie_i])
    i_dst = np.where(flip, a[tie_i], b[tie_i])
    i_kind = np.where(rng.random(len(tie_i)) < 0.5, EDGE_MENTION, EDGE_REPLY)

    src = np.r_[f_src, i_src].astype(np.int32)
    dst = np.r_[f_dst, i_dst].astype(np.int32)
    kind = np.r_[np.full(len(f_src), EDGE_FOLLOW), i_kind].astype(np.int8)
    day = np.floor(np.r_[f_day, i_day] * 86400.0) / 86400.0  # whole seconds
    # (src, dst, kind, timestamp) is the table's key: drop exact repeats.
    order = np.lexsort((day, kind, dst, src))
    src, dst, kind, day = src[order], dst[order], kind[order], day[order]
    dup = np.r_[
        False,
        (src[1:] == src[:-1])
        & (dst[1:] == dst[:-1])
        & (kind[1:] == kind[:-1])
        & (day[1:] == day[:-1]),
    ]
    return Edges(src=src[~dup], dst=dst[~dup], kind=kind[~dup], day=day[~dup])


def assign_referrals(
    pop: Population,
    adjacency: sp.csr_matrix,
    churn_day: np.ndarray,
    rng: np.random.Generator,
    rounds: int = 60,
) -> tuple[np.ndarray, np.ndarray]:
    """Find a referrer for customers acquired through the referral channel.

    The referrer is a social tie who signed up earlier and was still a customer
    at the referred customer's signup, chosen with probability rising with
    satisfaction and social activity (advocates refer). Vectorised rejection
    sampling over random neighbours; customers with no such tie keep the
    referral channel but no recorded referrer (a lost referral code).

    Returns
    -------
    tuple of numpy.ndarray
        ``(referrer, referred)`` customer indices.
    """
    n = pop.n_customers
    referral_code = pop.channels.index("referral") if "referral" in pop.channels else -1
    todo = np.flatnonzero(pop.acquisition == referral_code)
    advocacy = np.exp(0.8 * pop.satisfaction[:n] + 0.5 * pop.social[:n])
    accept = np.minimum(advocacy / np.quantile(advocacy, 0.9), 1.0)
    referrer = np.full(n, -1, dtype=np.int64)
    indptr, indices = adjacency.indptr, adjacency.indices
    signup = pop.signup_day
    for _ in range(rounds):
        deg = indptr[todo + 1] - indptr[todo]
        todo = todo[deg > 0]
        if not len(todo):
            break
        deg = deg[deg > 0]
        pick = indices[indptr[todo] + (rng.random(len(todo)) * deg).astype(np.int64)]
        ok = (
            (signup[pick] < signup[todo])
            & (churn_day[pick] > signup[todo])
            & (rng.random(len(todo)) < accept[pick])
        )
        referrer[todo[ok]] = pick[ok]
        todo = todo[~ok]
    referred = np.flatnonzero(referrer >= 0)
    return referrer[referred], referred

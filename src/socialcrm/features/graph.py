"""The ``social_graph`` group: position in the social graph and exposure to churn.

The graph at a cutoff has one node per consenting customer (all their linked
accounts merged) and one per non-customer account, and the follow, mention
and reply edges dated before the cutoff. Accounts of customers without consent
are not in it at all (see :mod:`socialcrm.features.engine`).

Exposure to churn counts neighbours who are customers and who had *observably*
churned by the cutoff: a contract closed before the cutoff, or (unless the
definition is ``contract_end``) no purchase for ``inactivity_days`` (churn date =
last purchase + that many days). Nothing after the cutoff is used.

Where it runs: the node numbering, the dated edge list and each customer's
status at each cutoff (last purchase, recent spend, churn date) are SQL on the
feature backend, each table read once. The rest runs on the driver with NumPy
and SciPy, one cutoff at a time: the graph at a cutoff is the prefix of the edge
list sorted by time, degree and exposure are sparse matrix-vector products, and
PageRank and community detection (multilevel modularity, "Louvain") use igraph,
which handles graphs with millions of nodes. Nothing joins edges to cutoffs, so
the cost grows with edges plus customers x cutoffs.
"""

from __future__ import annotations

import multiprocessing
import os
import random
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import igraph as ig
import numpy as np
import pandas as pd
import scipy.sparse as sp

from socialcrm.features.config import FeatureConfig
from socialcrm.features.manifest import FeatureSpec
from socialcrm.features.sql import event_stream, frame, windowed

GROUP = "social_graph"


def specs(cfg: FeatureConfig) -> list[FeatureSpec]:
    """The manifest entries of the group."""
    R = cfg.graph.recent_churn_days
    L = cfg.long_window
    return [
        FeatureSpec("degree", GROUP, "distinct accounts connected by follows, mentions or replies"),
        FeatureSpec("n_customer_neighbours", GROUP, "neighbours who are (consenting) customers"),
        FeatureSpec("n_churned_neighbours", GROUP, "neighbours who churned before the cutoff"),
        FeatureSpec(
            "churned_neighbour_share",
            GROUP,
            "share of customer neighbours who churned before the cutoff",
        ),
        FeatureSpec(
            f"n_recent_churned_neighbours_{R}d",
            GROUP,
            f"neighbours who churned in the {R} days before the cutoff",
        ),
        FeatureSpec(
            "two_hop_churned_share",
            GROUP,
            "share of churned customers among the neighbours' customer neighbours (two hops)",
        ),
        FeatureSpec(
            f"neighbours_mean_spend_{L}d",
            GROUP,
            f"mean spend of customer neighbours, last {L} days",
        ),
        FeatureSpec(
            "pagerank_scaled", GROUP, "PageRank influence times the number of nodes (1 = average)"
        ),
        FeatureSpec(
            "community_size", GROUP, "size of the customer's community (multilevel modularity)"
        ),
    ]


def _churn_date_sql(cfg: FeatureConfig) -> str:
    """When a neighbour observably churned, as of the cutoff (null: not churned).

    A closed contract is churn as soon as it happens, whatever the label
    definition (it is the quickest evidence); otherwise, unless the definition is
    ``contract_end``, ``inactivity_days`` without a purchase is churn, dated at the
    end of that quiet period.
    """
    inactive = (
        f"CASE WHEN coalesce(lb.last_buy, c.signup_date) + INTERVAL {cfg.churn.inactivity_days} DAY"
        f" <= k.cutoff THEN coalesce(lb.last_buy, c.signup_date)"
        f" + INTERVAL {cfg.churn.inactivity_days} DAY END"
    )
    closed = "CASE WHEN c.closed_at < k.cutoff THEN c.closed_at END"
    if cfg.churn.definition == "contract_end":
        return closed
    return f"least({inactive}, {closed})"


def prepare(db, cfg: FeatureConfig, materialise=None) -> None:
    """Create the graph tables on the backend ``db``: nodes, dated edges, customer status.

    - ``g_nodes (node, idx)``: one node per consenting customer and per non-customer account;
    - ``g_account_node (account_id, idx, customer_id)``; ``g_node_customer (idx, customer_id)``;
    - ``g_edge_events (src, dst, k)``: every visible edge between two nodes, ``k`` its time;
    - ``g_status (customer_id, cutoff, spend, churn_date)``: each consenting customer who
      signed up before a cutoff, with the spend of the last L days and the churn date as
      observable then (null: not churned).

    ``materialise(name, sql)`` builds ``g_status`` (default ``db.materialise``; the
    build passes its customer shards).
    """
    L = cfg.long_window
    lb = windowed(
        ["customer_id"],
        event_stream(
            ["customer_id"],
            """SELECT customer_id, epoch_seconds(timestamp) AS k, timestamp AS ts,
                CAST(amount AS DECIMAL(18, 2)) AS amount
            FROM transactions WHERE NOT is_return""",
            """SELECT c.customer_id, epoch_seconds(k.cutoff) AS k, k.cutoff
            FROM customers c JOIN cutoffs k ON c.signup_date < k.cutoff
            WHERE c.consent_social""",
            [("ts", "TIMESTAMP"), ("amount", "DECIMAL(18, 2)")],
        ),
        ["max(ts) OVER w_all AS last_buy", "sum(amount) OVER w_recent AS spend"],
        {"w_all": frame(), "w_recent": frame(within_days=L, inclusive=True)},
    )
    (materialise or db.materialise)(
        "g_status",
        f"""
SELECT c.customer_id, k.cutoff, coalesce(lb.spend, 0) AS spend, {_churn_date_sql(cfg)} AS churn_date
FROM ({lb}) AS lb
JOIN customers c ON c.customer_id = lb.customer_id
JOIN cutoffs k ON k.cutoff = lb.cutoff""",
    )
    db.materialise(
        "g_nodes",
        """
SELECT node, (row_number() OVER (ORDER BY node) - 1) AS idx
FROM (
    SELECT DISTINCT coalesce(customer_id, 'account:' || account_id) AS node
    FROM visible_accounts
) AS n""",
    )
    db.materialise(
        "g_account_node",
        """
SELECT a.account_id, n.idx, a.customer_id
FROM visible_accounts a
JOIN g_nodes n ON n.node = coalesce(a.customer_id, 'account:' || a.account_id)""",
    )
    db.materialise(
        "g_edge_events",
        """
SELECT s.idx AS src, d.idx AS dst, epoch_seconds(e.timestamp) AS k
FROM visible_edges e
JOIN g_account_node s ON s.account_id = e.src_account_id
JOIN g_account_node d ON d.account_id = e.dst_account_id
WHERE s.idx <> d.idx""",
    )
    db.materialise(
        "g_node_customer",
        "SELECT DISTINCT idx, customer_id FROM g_account_node WHERE customer_id IS NOT NULL",
    )


@dataclass
class EdgeEvents:
    """Every dated edge between two graph nodes, sorted by time (then src, dst).

    Attributes
    ----------
    src, dst
        Global node numbers (``g_nodes.idx``).
    k
        The edge's time in whole seconds since 1970.
    n_nodes
        The number of global nodes.
    """

    src: np.ndarray
    dst: np.ndarray
    k: np.ndarray
    n_nodes: int

    @classmethod
    def fetch(cls, db) -> EdgeEvents:
        """Read ``g_edge_events`` from the backend (after :func:`prepare`)."""
        e = db.fetch("SELECT src, dst, k FROM g_edge_events ORDER BY k, src, dst")
        n = int(db.fetch("SELECT count(*) AS n FROM g_nodes")["n"].iloc[0])
        return cls(
            e["src"].to_numpy(dtype=np.int64),
            e["dst"].to_numpy(dtype=np.int64),
            e["k"].to_numpy(dtype=np.int64),
            n,
        )

    def before(self, cutoff: pd.Timestamp) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The edges dated before ``cutoff`` merged per (src, dst): src, dst, count, sorted."""
        end = np.searchsorted(self.k, epoch_seconds(cutoff), side="left")
        code = self.src[:end] * np.int64(self.n_nodes) + self.dst[:end]
        pairs, weight = np.unique(code, return_counts=True)
        return pairs // self.n_nodes, pairs % self.n_nodes, weight.astype(float)


def epoch_seconds(ts: pd.Timestamp) -> int:
    """Whole seconds since 1970 (the ``k`` of the SQL streams)."""
    return int((pd.Timestamp(ts) - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1))


@dataclass
class GraphAt:
    """The social graph at one cutoff: nodes with an edge before it, numbered in key order.

    Attributes
    ----------
    nodes
        Global node numbers (``g_nodes.idx``) of the graph's nodes, sorted.
    src, dst, weight
        Directed weighted edges as positions into ``nodes``.
    pagerank
        PageRank times the number of nodes (mean 1).
    membership
        Community of each node (multilevel modularity on the undirected graph).
    """

    nodes: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    pagerank: np.ndarray
    membership: np.ndarray


def pagerank_power(
    n: int,
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    damping: float,
    tol: float = 1e-12,
    max_iter: int = 500,
) -> np.ndarray:
    """Weighted directed PageRank by power iteration (sums to 1).

    Dangling nodes spread their rank uniformly. A plain sparse power iteration
    gives the same bits on every run (library eigen-solvers may not), which
    keeps the feature table reproducible.
    """
    if n == 0:
        return np.zeros(0)
    out_w = np.bincount(src, weights=weight, minlength=n)
    trans = sp.csr_matrix((weight / out_w[src], (dst, src)), shape=(n, n))
    dangling = out_w == 0
    x = np.full(n, 1.0 / n)
    for _ in range(max_iter):
        new = damping * (trans @ x) + (damping * x[dangling].sum() + 1.0 - damping) / n
        done = np.abs(new - x).sum() < tol
        x = new
        if done:
            break
    return x / x.sum()


def graph_from_edges(
    src: np.ndarray, dst: np.ndarray, weight: np.ndarray, damping: float, seed: int
) -> GraphAt:
    """PageRank and communities of the graph of merged edges (global node numbers, sorted).

    Only nodes with an edge are in it, numbered in node-key order, so data that
    arrive after the cutoff (new accounts, later edges) cannot change any result.
    """
    nodes, inverse = np.unique(np.concatenate([src, dst]), return_inverse=True)
    k = len(src)
    s, d = inverse[:k], inverse[k:]
    pagerank = pagerank_power(len(nodes), s, d, weight, damping)
    # the undirected graph, both directions' weights summed, edges in (low, high) order:
    # what igraph's as_undirected(mode="collapse", combine_edges="sum") makes, built directly
    n = len(nodes)
    lo, hi = np.minimum(s, d), np.maximum(s, d)
    pair, inv = np.unique(lo * np.int64(n) + hi, return_inverse=True)
    und_w = np.bincount(inv, weights=weight, minlength=len(pair))
    und = ig.Graph(n=n, edges=np.column_stack([pair // n, pair % n]), directed=False)
    und.es["weight"] = und_w
    random.seed(seed)  # igraph draws from Python's random module: fixes the community result
    membership = np.asarray(und.community_multilevel(weights="weight").membership, dtype=int)
    return GraphAt(nodes, s, d, weight, pagerank * len(nodes), membership)


def graph_at(db, cutoff: pd.Timestamp, damping: float, seed: int) -> GraphAt:
    """The graph of the edges dated before ``cutoff`` (after :func:`prepare`)."""
    from socialcrm.features.build import as_backend  # build imports this module

    return graph_from_edges(*EdgeEvents.fetch(as_backend(db)).before(cutoff), damping, seed)


def features_at(
    edges: EdgeEvents,
    status: pd.DataFrame,
    cutoff: pd.Timestamp,
    recent_churn_days: int,
    damping: float,
    seed: int,
) -> pd.DataFrame:
    """Degree, exposure, neighbour spend, PageRank and community of each customer node.

    Parameters
    ----------
    edges
        The dated edge list (:class:`EdgeEvents`).
    status
        One row per customer node: ``idx``, ``customer_id`` and, for customers with a
        status at the cutoff (consenting, signed up before it), ``has_status``,
        ``spend``, ``churn_date`` (null: not churned).
    cutoff
        The cutoff.

    Returns
    -------
    pandas.DataFrame
        One row per customer node with an edge before the cutoff (the rest get the
        defaults in :func:`assemble_query`): ``customer_id``, ``cutoff``, ``degree``,
        ``n_customer_neighbours``, ``n_churned_neighbours``, ``churned_neighbour_share``,
        ``n_recent_churned_neighbours``, ``two_hop_churned_share``,
        ``neighbours_mean_spend``, ``pagerank_scaled``, ``community_size``.
    """
    n = edges.n_nodes
    src, dst, weight = edges.before(cutoff)
    ga = graph_from_edges(src, dst, weight, damping, seed)
    # neighbours: distinct nodes joined by an edge either way
    sym = sp.csr_matrix((np.ones(2 * len(src)), (np.r_[src, dst], np.r_[dst, src])), shape=(n, n))
    sym.data[:] = 1.0  # duplicates summed by the constructor: back to 0/1
    idx = status["idx"].to_numpy(dtype=np.int64)
    has = status["has_status"].to_numpy(dtype=bool)
    churn = pd.to_datetime(status["churn_date"])
    churned = has & churn.notna().to_numpy()
    recent = churned & (churn >= cutoff - pd.Timedelta(days=recent_churn_days)).to_numpy()

    def on_nodes(values: np.ndarray) -> np.ndarray:
        out = np.zeros(n)
        np.add.at(out, idx, values)
        return out

    churned_v = on_nodes(churned.astype(float))
    degree = np.asarray(sym.sum(axis=1)).ravel()
    # customer neighbours: those with a status at the cutoff (consenting, signed up before it)
    n_customers = sym @ on_nodes(has.astype(float))
    n_churned = sym @ churned_v
    n_recent = sym @ on_nodes(recent.astype(float))
    spend_sum = sym @ on_nodes(np.where(has, status["spend"].to_numpy(dtype=float), 0.0))
    # two hops: over each neighbour v, its customer neighbours but u, and those churned (the
    # count subtracts u whether or not u has a status, as the reference definition does)
    two_num = sym @ n_churned - degree * churned_v
    two_den = sym @ n_customers - degree

    d = degree[idx]
    keep = d > 0
    u = idx[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(n_customers[u] > 0, n_churned[u] / n_customers[u], np.nan)
        two_hop = np.where(two_den[u] != 0, two_num[u] / two_den[u], np.nan)
        mean_spend = np.where(n_customers[u] > 0, spend_sum[u] / n_customers[u], np.nan)
    pos = np.searchsorted(ga.nodes, u)
    sizes = np.bincount(ga.membership)[ga.membership]
    return pd.DataFrame(
        {
            "customer_id": status["customer_id"].to_numpy()[keep],
            "cutoff": cutoff,
            "degree": d[keep],
            "n_customer_neighbours": n_customers[u],
            "n_churned_neighbours": n_churned[u],
            "churned_neighbour_share": share,
            "n_recent_churned_neighbours": n_recent[u],
            "two_hop_churned_share": two_hop,
            "neighbours_mean_spend": mean_spend,
            "pagerank_scaled": ga.pagerank[pos],
            "community_size": sizes[pos].astype(float),
        }
    )


#: From this many edges on, the cutoffs' graphs are computed in parallel processes.
PARALLEL_EDGES = 500_000


def features_all(
    edges: EdgeEvents,
    statuses: list[pd.DataFrame],
    cutoffs: list[pd.Timestamp],
    recent_churn_days: int,
    damping: float,
    seed: int,
    workers: int | None = None,
) -> pd.DataFrame:
    """:func:`features_at` for every cutoff (``statuses[i]`` at ``cutoffs[i]``), one frame.

    On a large graph (:data:`PARALLEL_EDGES`) the cutoffs are shared among ``workers``
    processes (default: the CPUs); each result depends on its inputs only, so the
    table is the same either way.
    """
    args = [
        (c, st, recent_churn_days, damping, seed) for c, st in zip(cutoffs, statuses, strict=True)
    ]
    workers = workers or os.cpu_count() or 1
    if workers < 2 or len(cutoffs) < 2 or len(edges.k) < PARALLEL_EDGES:
        parts = [features_at(edges, st, c, r, d, s) for c, st, r, d, s in args]
    else:
        ctx = multiprocessing.get_context("spawn")  # no fork of the engine's threads
        with ProcessPoolExecutor(
            min(workers, len(cutoffs)), mp_context=ctx, initializer=_set_edges, initargs=(edges,)
        ) as pool:
            parts = list(pool.map(_features_at_worker, args))
    return pd.concat(parts, ignore_index=True)


_EDGES: EdgeEvents | None = None


def _set_edges(edges: EdgeEvents) -> None:
    global _EDGES
    _EDGES = edges


def _features_at_worker(args) -> pd.DataFrame:
    cutoff, status, recent, damping, seed = args
    assert _EDGES is not None
    return features_at(_EDGES, status, cutoff, recent, damping, seed)


def status_at(db, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Every customer node with its status at ``cutoff`` (see :func:`features_at`)."""
    at = f"TIMESTAMP '{pd.Timestamp(cutoff):%Y-%m-%d %H:%M:%S}'"
    return db.fetch(
        f"""
SELECT n.idx, n.customer_id, s.customer_id IS NOT NULL AS has_status,
    CAST(s.spend AS DOUBLE) AS spend, s.churn_date
FROM g_node_customer n
LEFT JOIN g_status s ON s.customer_id = n.customer_id AND s.cutoff = {at}
ORDER BY n.idx"""
    )


def assemble_query(cfg: FeatureConfig) -> str:
    """SQL joining ``g_features`` onto the population, gated by consent."""
    R = cfg.graph.recent_churn_days
    L = cfg.long_window
    gate = "CASE WHEN c.consent_social THEN {} END"
    cols = [
        ("degree", "coalesce(x.degree, 0)"),
        ("n_customer_neighbours", "coalesce(x.n_customer_neighbours, 0)"),
        ("n_churned_neighbours", "coalesce(x.n_churned_neighbours, 0)"),
        ("churned_neighbour_share", "x.churned_neighbour_share"),
        (f"n_recent_churned_neighbours_{R}d", "coalesce(x.n_recent_churned_neighbours, 0)"),
        ("two_hop_churned_share", "x.two_hop_churned_share"),
        (f"neighbours_mean_spend_{L}d", "x.neighbours_mean_spend"),
        ("pagerank_scaled", "coalesce(x.pagerank_scaled, 0)"),
        ("community_size", "coalesce(x.community_size, 1)"),
    ]
    sel = ",\n".join(f"    {gate.format(expr)}::DOUBLE AS {name}" for name, expr in cols)
    return f"""
SELECT p.customer_id, p.cutoff,
{sel}
FROM population_all p
JOIN customers c ON c.customer_id = p.customer_id
LEFT JOIN g_features x ON x.customer_id = p.customer_id AND x.cutoff = p.cutoff
"""

"""The social_graph group's queries before issue 16 (every event joined to every later cutoff):
the golden tests' reference. Everything else is the live module's."""

from __future__ import annotations

import random

import duckdb
import igraph as ig
import numpy as np
import pandas as pd

from socialcrm.features.config import FeatureConfig
from socialcrm.features.graph import GraphAt, _churn_date_sql, pagerank_power, specs  # noqa: F401


def prepare(con: duckdb.DuckDBPyConnection, cfg: FeatureConfig) -> None:
    """Create the graph tables for every cutoff: nodes, weighted edges, neighbours, status."""
    L = cfg.long_window
    con.execute(
        f"""
CREATE OR REPLACE TEMP TABLE g_status AS
WITH lb AS (
    SELECT k.cutoff, t.customer_id, max(t.timestamp) AS last_buy,
        coalesce(
            sum(t.amount::DECIMAL(18, 2)) FILTER (WHERE t.timestamp >= k.cutoff - INTERVAL {L} DAY),
            0
        ) AS spend
    FROM cutoffs k
    JOIN transactions t ON t.timestamp < k.cutoff AND NOT t.is_return
    JOIN customers c ON c.customer_id = t.customer_id AND c.consent_social
    GROUP BY k.cutoff, t.customer_id
)
SELECT c.customer_id, k.cutoff, coalesce(lb.spend, 0) AS spend, {_churn_date_sql(cfg)} AS churn_date
FROM customers c
JOIN cutoffs k ON c.signup_date < k.cutoff
LEFT JOIN lb ON lb.customer_id = c.customer_id AND lb.cutoff = k.cutoff
WHERE c.consent_social;

CREATE OR REPLACE TEMP TABLE g_nodes AS
SELECT node, (row_number() OVER (ORDER BY node) - 1)::BIGINT AS idx
FROM (
    SELECT DISTINCT coalesce(customer_id, 'account:' || account_id) AS node
    FROM visible_accounts
);

CREATE OR REPLACE TEMP TABLE g_account_node AS
SELECT a.account_id, n.idx, a.customer_id
FROM visible_accounts a
JOIN g_nodes n ON n.node = coalesce(a.customer_id, 'account:' || a.account_id);

CREATE OR REPLACE TEMP TABLE g_edges AS
SELECT k.cutoff, s.idx AS src, d.idx AS dst, count(*)::DOUBLE AS w
FROM visible_edges e
JOIN cutoffs k ON e.timestamp < k.cutoff
JOIN g_account_node s ON s.account_id = e.src_account_id
JOIN g_account_node d ON d.account_id = e.dst_account_id
WHERE s.idx <> d.idx
GROUP BY k.cutoff, s.idx, d.idx;

CREATE OR REPLACE TEMP TABLE g_nbr AS
SELECT DISTINCT cutoff, src AS u, dst AS v FROM g_edges
UNION
SELECT DISTINCT cutoff, dst AS u, src AS v FROM g_edges;

CREATE OR REPLACE TEMP TABLE g_node_customer AS
SELECT DISTINCT idx, customer_id FROM g_account_node WHERE customer_id IS NOT NULL;
"""
    )


def exposure_query(cfg: FeatureConfig) -> str:
    """SQL over the prepared tables: degree, exposure and neighbour spend per customer node."""
    R = cfg.graph.recent_churn_days
    return f"""
WITH nb AS (
    SELECT n.cutoff, n.u, n.v, st.customer_id AS v_customer, st.churn_date, st.spend
    FROM g_nbr n
    LEFT JOIN g_node_customer vc ON vc.idx = n.v
    LEFT JOIN g_status st ON st.customer_id = vc.customer_id AND st.cutoff = n.cutoff
),
per_node AS (
    SELECT cutoff, u,
        count(*) AS degree,
        count(v_customer) AS n_customer_neighbours,
        count(churn_date) AS n_churned,
        count(*) FILTER (WHERE churn_date >= cutoff - INTERVAL {R} DAY) AS n_recent,
        avg(spend) AS neighbours_mean_spend
    FROM nb GROUP BY cutoff, u
),
me AS (
    SELECT pn.*, uc.customer_id, (st.churn_date IS NOT NULL)::INTEGER AS u_churned
    FROM per_node pn
    JOIN g_node_customer uc ON uc.idx = pn.u
    LEFT JOIN g_status st ON st.customer_id = uc.customer_id AND st.cutoff = pn.cutoff
),
two_hop AS (
    -- over each neighbour v, its customer neighbours other than u, and how many churned
    SELECT n.cutoff, n.u,
        sum(pv.n_churned - m.u_churned) / nullif(sum(pv.n_customer_neighbours - 1), 0) AS share
    FROM g_nbr n
    JOIN me m ON m.u = n.u AND m.cutoff = n.cutoff
    JOIN per_node pv ON pv.u = n.v AND pv.cutoff = n.cutoff
    GROUP BY n.cutoff, n.u
)
SELECT m.customer_id, m.cutoff, m.u AS node,
    m.degree::DOUBLE AS degree,
    m.n_customer_neighbours::DOUBLE AS n_customer_neighbours,
    m.n_churned::DOUBLE AS n_churned_neighbours,
    m.n_churned / nullif(m.n_customer_neighbours, 0)::DOUBLE AS churned_neighbour_share,
    m.n_recent::DOUBLE AS n_recent_churned_neighbours,
    t.share::DOUBLE AS two_hop_churned_share,
    m.neighbours_mean_spend::DOUBLE AS neighbours_mean_spend
FROM me m LEFT JOIN two_hop t ON t.u = m.u AND t.cutoff = m.cutoff
"""


def graph_at(
    con: duckdb.DuckDBPyConnection, cutoff: pd.Timestamp, damping: float, seed: int
) -> GraphAt:
    """Build the graph of the edges dated before ``cutoff`` (after :func:`prepare`).

    Only nodes with an edge before the cutoff are in it, numbered in node-key
    order, so data that arrive after the cutoff (new accounts, later edges)
    cannot change any result.
    """
    e = con.execute(
        "SELECT src, dst, w FROM g_edges WHERE cutoff = ? ORDER BY src, dst", [cutoff]
    ).fetchnumpy()
    nodes, inverse = np.unique(np.concatenate([e["src"], e["dst"]]), return_inverse=True)
    k = len(e["src"])
    src, dst = inverse[:k], inverse[k:]
    pagerank = pagerank_power(len(nodes), src, dst, e["w"], damping)
    g = ig.Graph(n=len(nodes), edges=np.column_stack([src, dst]), directed=True)
    g.es["weight"] = e["w"]
    und = g.as_undirected(mode="collapse", combine_edges="sum")
    random.seed(seed)  # igraph draws from Python's random module: fixes the community result
    membership = np.asarray(und.community_multilevel(weights="weight").membership, dtype=int)
    return GraphAt(nodes, src, dst, e["w"], pagerank * len(nodes), membership)


def influence(
    con: duckdb.DuckDBPyConnection, cutoff: pd.Timestamp, damping: float, seed: int
) -> pd.DataFrame:
    """PageRank (scaled to mean 1) and community size of every customer node at one cutoff.

    Customers without an edge before the cutoff get PageRank 0 and a community of 1.
    """
    ga = graph_at(con, cutoff, damping, seed)
    sizes = np.bincount(ga.membership)[ga.membership] if len(ga.nodes) else np.array([], int)
    cust = con.execute("SELECT idx, customer_id FROM g_node_customer ORDER BY idx").fetchnumpy()
    pos = np.searchsorted(ga.nodes, cust["idx"])
    inside = pos < len(ga.nodes)
    inside[inside] = ga.nodes[pos[inside]] == cust["idx"][inside]
    pr = np.zeros(len(pos))
    size = np.ones(len(pos))
    pr[inside] = ga.pagerank[pos[inside]]
    size[inside] = sizes[pos[inside]]
    return pd.DataFrame(
        {
            "customer_id": cust["customer_id"],
            "cutoff": cutoff,
            "pagerank_scaled": pr,
            "community_size": size,
        }
    )


def assemble_query(cfg: FeatureConfig) -> str:
    """SQL joining ``g_exposure`` and ``g_influence`` onto the population, gated by consent."""
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
        ("pagerank_scaled", "coalesce(i.pagerank_scaled, 0)"),
        ("community_size", "coalesce(i.community_size, 1)"),
    ]
    sel = ",\n".join(f"    {gate.format(expr)}::DOUBLE AS {name}" for name, expr in cols)
    return f"""
SELECT p.customer_id, p.cutoff,
{sel}
FROM population p
JOIN customers c ON c.customer_id = p.customer_id
LEFT JOIN g_exposure x ON x.customer_id = p.customer_id AND x.cutoff = p.cutoff
LEFT JOIN g_influence i ON i.customer_id = p.customer_id AND i.cutoff = p.cutoff
"""

"""The social_activity group's query before issue 16 (every event joined to every later cutoff):
the golden tests' reference. Everything else is the live module's."""

from __future__ import annotations

from socialcrm.features.config import FeatureConfig
from socialcrm.features.social import specs  # noqa: F401  (unchanged)
from socialcrm.features.sql import ident, quote


def query(cfg: FeatureConfig, platforms: list[str]) -> str:
    """SQL: one row per population (customer, cutoff) with the group's features."""
    L = cfg.long_window
    on = ",\n".join(
        f"        max(CASE WHEN platform = {quote(p)} THEN 1.0 ELSE 0.0 END) AS on_{ident(p)}"
        for p in platforms
    )
    gate = "CASE WHEN c.consent_social THEN {expr} END"
    on_sel = ",\n".join(
        "    " + gate.format(expr=f"coalesce(pr.on_{ident(p)}, 0.0)") + f" AS on_{ident(p)}"
        for p in platforms
    )
    count_sel = ",\n".join(
        "    " + gate.format(expr=f"coalesce({src}, 0)::DOUBLE") + f" AS {name}"
        for name, src in [
            ("n_platforms", "pr.n_platforms"),
            ("n_posts_90d", "po.n_posts_90d"),
            (f"n_posts_{L}d", "po.n_posts"),
            (f"likes_{L}d", "po.likes"),
            (f"shares_{L}d", "po.shares"),
            (f"brand_mentions_{L}d", "po.brand_mentions"),
            ("followers_in_graph", "fi.followers"),
            ("following_in_graph", "fo.following"),
        ]
    )
    snapshot = ""
    if cfg.snapshot_attributes:
        snapshot = (
            ",\n    "
            + gate.format(expr="coalesce(pr.followers_snapshot, 0)::DOUBLE")
            + " AS followers_snapshot,\n    "
            + gate.format(expr="coalesce(pr.follows_brand_snapshot, 0.0)")
            + " AS follows_brand_snapshot"
        )
    engagement = "(coalesce(po.likes, 0) + coalesce(po.shares, 0)) / nullif(po.n_posts, 0)"
    return f"""
WITH acc AS (
    SELECT p.customer_id, p.cutoff, a.account_id, a.platform, a.followers, a.follows_brand
    FROM population p
    JOIN linked_accounts a ON a.customer_id = p.customer_id
    WHERE a.created_at IS NULL OR a.created_at < p.cutoff
),
presence AS (
    SELECT customer_id, cutoff,
        count(DISTINCT platform) AS n_platforms,
{on},
        sum(followers) AS followers_snapshot,
        max(CASE WHEN follows_brand THEN 1.0 ELSE 0.0 END) AS follows_brand_snapshot
    FROM acc GROUP BY customer_id, cutoff
),
post AS (
    SELECT a.customer_id, a.cutoff, po.likes, po.shares, po.mentions_brand,
           days_between(po.timestamp, a.cutoff) AS age
    FROM acc a JOIN posts po ON po.account_id = a.account_id AND po.timestamp < a.cutoff
),
post_agg AS (
    SELECT customer_id, cutoff,
        count(*) FILTER (WHERE age < 90) AS n_posts_90d,
        count(*) FILTER (WHERE age < {L}) AS n_posts,
        sum(likes) FILTER (WHERE age < {L}) AS likes,
        sum(shares) FILTER (WHERE age < {L}) AS shares,
        count(*) FILTER (WHERE mentions_brand AND age < {L}) AS brand_mentions,
        min(age) AS days_since_last_post
    FROM post GROUP BY customer_id, cutoff
),
fol_in AS (
    SELECT a.customer_id, a.cutoff, count(DISTINCT e.src_account_id) AS followers
    FROM acc a JOIN visible_edges e
      ON e.dst_account_id = a.account_id AND e.edge_type = 'follow' AND e.timestamp < a.cutoff
    GROUP BY a.customer_id, a.cutoff
),
fol_out AS (
    SELECT a.customer_id, a.cutoff, count(DISTINCT e.dst_account_id) AS following
    FROM acc a JOIN visible_edges e
      ON e.src_account_id = a.account_id AND e.edge_type = 'follow' AND e.timestamp < a.cutoff
    GROUP BY a.customer_id, a.cutoff
)
SELECT p.customer_id, p.cutoff,
{on_sel},
{count_sel},
    {gate.format(expr=engagement)}::DOUBLE AS engagement_per_post_{L}d,
    {gate.format(expr="po.days_since_last_post")} AS days_since_last_post{snapshot}
FROM population p
JOIN customers c ON c.customer_id = p.customer_id
LEFT JOIN presence pr ON pr.customer_id = p.customer_id AND pr.cutoff = p.cutoff
LEFT JOIN post_agg po ON po.customer_id = p.customer_id AND po.cutoff = p.cutoff
LEFT JOIN fol_in fi ON fi.customer_id = p.customer_id AND fi.cutoff = p.cutoff
LEFT JOIN fol_out fo ON fo.customer_id = p.customer_id AND fo.cutoff = p.cutoff
"""

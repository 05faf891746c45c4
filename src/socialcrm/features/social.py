"""The ``social_activity`` group: presence and activity on social platforms.

Only accounts linked to customers who consented (``linked_accounts``) are used,
and only accounts that existed before the cutoff. Customers without consent get
null in every column (unknown, not zero); consenting customers without any
account get zeros. Follower counts come from follow edges dated before the
cutoff; the accounts' ``followers`` and ``follows_brand`` attributes describe
the extract date, not the cutoff, and are used only with
``snapshot_attributes: true``.
"""

from __future__ import annotations

from socialcrm.features.config import FeatureConfig
from socialcrm.features.manifest import FeatureSpec
from socialcrm.features.sql import event_stream, frame, ident, quote, windowed

GROUP = "social_activity"


def _counts(cfg: FeatureConfig) -> list[tuple[str, str]]:
    L = cfg.long_window
    return [
        ("n_platforms", "platforms the customer has an account on"),
        ("n_posts_90d", "posts in the last 90 days"),
        (f"n_posts_{L}d", f"posts in the last {L} days"),
        (f"likes_{L}d", f"likes received on posts of the last {L} days"),
        (f"shares_{L}d", f"shares of posts of the last {L} days"),
        (f"brand_mentions_{L}d", f"posts naming the brand, last {L} days"),
        ("followers_in_graph", "accounts following the customer (follow edges before the cutoff)"),
        ("following_in_graph", "accounts the customer follows (follow edges before the cutoff)"),
    ]


def specs(cfg: FeatureConfig, platforms: list[str]) -> list[FeatureSpec]:
    """The manifest entries of the group."""
    L = cfg.long_window
    out = [
        FeatureSpec(f"on_{ident(p)}", GROUP, f"has an account on {p} (1/0; null: no consent)")
        for p in platforms
    ]
    out += [FeatureSpec(n, GROUP, f"{d} (null: no consent)") for n, d in _counts(cfg)]
    out += [
        FeatureSpec(
            f"engagement_per_post_{L}d", GROUP, f"(likes + shares) per post, last {L} days"
        ),
        FeatureSpec("days_since_last_post", GROUP, "days since the last post (null: none)"),
    ]
    if cfg.snapshot_attributes:
        out += [
            FeatureSpec(
                "followers_snapshot", GROUP, "followers at the extract date (not point in time)"
            ),
            FeatureSpec(
                "follows_brand_snapshot", GROUP, "follows the brand at the extract date (1/0)"
            ),
        ]
    return out


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
            ("followers_in_graph", "fi.n"),
            ("following_in_graph", "fo.n"),
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
    queries = """SELECT a.account_id, epoch_seconds(p.cutoff) AS k, p.cutoff
        FROM population p
        JOIN linked_accounts a ON a.customer_id = p.customer_id
        WHERE a.created_at IS NULL OR a.created_at < p.cutoff"""
    posts = windowed(
        ["account_id"],
        event_stream(
            ["account_id"],
            """SELECT po.account_id, epoch_seconds(po.timestamp) AS k, 1 AS ev,
                po.timestamp AS ts, po.likes, po.shares, po.mentions_brand
            FROM posts po
            SEMI JOIN (SELECT account_id FROM linked_accounts WHERE in_shard(customer_id)) AS a
              ON a.account_id = po.account_id""",
            queries,
            [
                ("ev", "INTEGER"),
                ("ts", "TIMESTAMP"),
                ("likes", "BIGINT"),
                ("shares", "BIGINT"),
                ("mentions_brand", "BOOLEAN"),
            ],
        ),
        [
            "count(ev) OVER w_90 AS n_posts_90d",
            f"count(ev) OVER w_{L} AS n_posts",
            f"sum(likes) OVER w_{L} AS likes",
            f"sum(shares) OVER w_{L} AS shares",
            f"count(CASE WHEN mentions_brand THEN 1 END) OVER w_{L} AS brand_mentions",
            "max(ts) OVER w_all AS last_post",
        ],
        {"w_all": frame(), "w_90": frame(within_days=90), f"w_{L}": frame(within_days=L)},
    )

    def follows(mine: str, other: str) -> str:
        # a follow counts once both it and the customer's account exist: key = the later time
        return windowed(
            ["customer_id"],
            event_stream(
                ["customer_id"],
                f"""SELECT a.customer_id, e.{other} AS other,
                    min(epoch_seconds(greatest(e.timestamp, coalesce(a.created_at, e.timestamp))))
                        AS k,
                    1 AS ev
                FROM visible_edges e JOIN linked_accounts a ON a.account_id = e.{mine}
                WHERE e.edge_type = 'follow'
                GROUP BY a.customer_id, e.{other}""",
                "SELECT customer_id, epoch_seconds(cutoff) AS k, cutoff FROM population",
                [("ev", "INTEGER")],
            ),
            ["count(ev) OVER w AS n"],
            {"w": frame()},
        )

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
account_posts AS ({posts}
),
post_agg AS (
    SELECT a.customer_id, a.cutoff,
        sum(ap.n_posts_90d) AS n_posts_90d,
        sum(ap.n_posts) AS n_posts,
        sum(ap.likes) AS likes,
        sum(ap.shares) AS shares,
        sum(ap.brand_mentions) AS brand_mentions,
        days_between(max(ap.last_post), a.cutoff) AS days_since_last_post
    FROM acc a
    JOIN account_posts ap ON ap.account_id = a.account_id AND ap.cutoff = a.cutoff
    GROUP BY a.customer_id, a.cutoff
),
fol_in AS ({follows("dst_account_id", "src_account_id")}
),
fol_out AS ({follows("src_account_id", "dst_account_id")}
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

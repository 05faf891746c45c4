"""The ``social_listening`` group: what the customer says, scored by a listening model.

Reads ``post_scores(post_id, sentiment, negative, complaint)``, the scores of the
posts of consenting customers (see :func:`socialcrm.features.build.score_posts`).
Customers without consent get null; consenting customers without posts get null
sentiment (nothing said) and zero complaints.
"""

from __future__ import annotations

from socialcrm.features.config import FeatureConfig
from socialcrm.features.manifest import FeatureSpec
from socialcrm.features.sql import event_stream, frame, windowed

GROUP = "social_listening"


def specs(cfg: FeatureConfig) -> list[FeatureSpec]:
    """The manifest entries of the group."""
    L = cfg.long_window
    return [
        FeatureSpec("sentiment_mean_90d", GROUP, "mean post sentiment (-1..1), last 90 days"),
        FeatureSpec(f"sentiment_mean_{L}d", GROUP, f"mean post sentiment, last {L} days"),
        FeatureSpec(f"sentiment_min_{L}d", GROUP, f"most negative post sentiment, last {L} days"),
        FeatureSpec(
            "sentiment_trend_90d",
            GROUP,
            f"mean sentiment of the last 90 days minus that of days 90-{L} before the cutoff",
        ),
        FeatureSpec(f"negative_share_{L}d", GROUP, f"share of negative posts, last {L} days"),
        FeatureSpec(
            f"complaint_rate_{L}d", GROUP, f"share of posts stating a complaint, last {L} days"
        ),
        FeatureSpec("n_complaints_90d", GROUP, "posts stating a complaint, last 90 days"),
        FeatureSpec("n_negative_posts_90d", GROUP, "negative posts, last 90 days"),
    ]


def query(cfg: FeatureConfig) -> str:
    """SQL: one row per population (customer, cutoff) with the group's features."""
    L = cfg.long_window
    gate = "CASE WHEN c.consent_social THEN {} END"
    neg = "CASE WHEN negative THEN 1.0 ELSE 0.0 END"
    comp = "CASE WHEN complaint THEN 1.0 ELSE 0.0 END"
    agg = windowed(
        ["customer_id"],
        event_stream(
            ["customer_id"],
            """SELECT a.customer_id, epoch_seconds(po.timestamp) AS k,
                CAST(s.sentiment AS DECIMAL(18, 6)) AS sentiment, s.negative, s.complaint
            FROM linked_accounts a
            JOIN posts po ON po.account_id = a.account_id
            JOIN post_scores s ON s.post_id = po.post_id""",
            "SELECT customer_id, epoch_seconds(cutoff) AS k, cutoff FROM population",
            [("sentiment", "DECIMAL(18, 6)"), ("negative", "BOOLEAN"), ("complaint", "BOOLEAN")],
        ),
        [
            "sum(sentiment) OVER w_90 AS sentiment_sum_90d",
            "count(sentiment) OVER w_90 AS n_90d",
            f"sum(sentiment) OVER w_{L} AS sentiment_sum",
            f"count(sentiment) OVER w_{L} AS n_posts",
            f"min(sentiment) OVER w_{L} AS sentiment_min",
            "sum(sentiment) OVER w_before AS sentiment_sum_before",
            "count(sentiment) OVER w_before AS n_before",
            f"sum({neg}) OVER w_{L} AS n_negative",
            f"sum({comp}) OVER w_{L} AS n_complaints",
            "count(CASE WHEN complaint THEN 1 END) OVER w_90 AS n_complaints_90d",
            "count(CASE WHEN negative THEN 1 END) OVER w_90 AS n_negative_90d",
        ],
        {
            "w_90": frame(within_days=90),
            f"w_{L}": frame(within_days=L),
            "w_before": frame(older_than_days=90, within_days=L),
        },
    )
    mean_90 = "g.sentiment_sum_90d / nullif(g.n_90d, 0)"
    mean_before = "g.sentiment_sum_before / nullif(g.n_before, 0)"
    return f"""
WITH agg AS ({agg}
)
SELECT p.customer_id, p.cutoff,
    {gate.format(mean_90)}::DOUBLE AS sentiment_mean_90d,
    {gate.format("g.sentiment_sum / nullif(g.n_posts, 0)")}::DOUBLE AS sentiment_mean_{L}d,
    {gate.format("g.sentiment_min")}::DOUBLE AS sentiment_min_{L}d,
    {gate.format(f"{mean_90} - {mean_before}")}::DOUBLE AS sentiment_trend_90d,
    {gate.format("g.n_negative / nullif(g.n_posts, 0)")}::DOUBLE AS negative_share_{L}d,
    {gate.format("g.n_complaints / nullif(g.n_posts, 0)")}::DOUBLE AS complaint_rate_{L}d,
    {gate.format("coalesce(g.n_complaints_90d, 0)")}::DOUBLE AS n_complaints_90d,
    {gate.format("coalesce(g.n_negative_90d, 0)")}::DOUBLE AS n_negative_posts_90d
FROM population p
JOIN customers c ON c.customer_id = p.customer_id
LEFT JOIN agg g ON g.customer_id = p.customer_id AND g.cutoff = p.cutoff
"""

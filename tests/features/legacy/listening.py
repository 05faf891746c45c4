"""The social_listening group's query before issue 16 (every event joined to every later cutoff):
the golden tests' reference. Everything else is the live module's."""

from __future__ import annotations

from socialcrm.features.config import FeatureConfig
from socialcrm.features.listening import specs  # noqa: F401  (unchanged)


def query(cfg: FeatureConfig) -> str:
    """SQL: one row per population (customer, cutoff) with the group's features."""
    L = cfg.long_window
    gate = "CASE WHEN c.consent_social THEN {} END"
    return f"""
WITH scored AS (
    SELECT p.customer_id, p.cutoff, s.sentiment::DECIMAL(18, 6) AS sentiment,
           s.negative, s.complaint,
           days_between(po.timestamp, p.cutoff) AS age
    FROM population p
    JOIN linked_accounts a ON a.customer_id = p.customer_id
    JOIN posts po ON po.account_id = a.account_id AND po.timestamp < p.cutoff
    JOIN post_scores s ON s.post_id = po.post_id
    WHERE days_between(po.timestamp, p.cutoff) < {L}
),
agg AS (
    SELECT customer_id, cutoff,
        avg(sentiment) FILTER (WHERE age < 90) AS sentiment_mean_90d,
        avg(sentiment) AS sentiment_mean,
        min(sentiment) AS sentiment_min,
        avg(sentiment) FILTER (WHERE age >= 90) AS sentiment_before_90d,
        avg(CASE WHEN negative THEN 1.0 ELSE 0.0 END) AS negative_share,
        avg(CASE WHEN complaint THEN 1.0 ELSE 0.0 END) AS complaint_rate,
        count(*) FILTER (WHERE complaint AND age < 90) AS n_complaints_90d,
        count(*) FILTER (WHERE negative AND age < 90) AS n_negative_90d
    FROM scored GROUP BY customer_id, cutoff
)
SELECT p.customer_id, p.cutoff,
    {gate.format("g.sentiment_mean_90d")}::DOUBLE AS sentiment_mean_90d,
    {gate.format("g.sentiment_mean")}::DOUBLE AS sentiment_mean_{L}d,
    {gate.format("g.sentiment_min")}::DOUBLE AS sentiment_min_{L}d,
    {gate.format("g.sentiment_mean_90d - g.sentiment_before_90d")}::DOUBLE AS sentiment_trend_90d,
    {gate.format("g.negative_share")}::DOUBLE AS negative_share_{L}d,
    {gate.format("g.complaint_rate")}::DOUBLE AS complaint_rate_{L}d,
    {gate.format("coalesce(g.n_complaints_90d, 0)")}::DOUBLE AS n_complaints_90d,
    {gate.format("coalesce(g.n_negative_90d, 0)")}::DOUBLE AS n_negative_posts_90d
FROM population p
JOIN customers c ON c.customer_id = p.customer_id
LEFT JOIN agg g ON g.customer_id = p.customer_id AND g.cutoff = p.cutoff
"""

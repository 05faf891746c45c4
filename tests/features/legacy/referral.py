"""The referral group's query before issue 16 (every event joined to every later cutoff):
the golden tests' reference. Everything else is the live module's."""

from __future__ import annotations

from socialcrm.features.config import FeatureConfig
from socialcrm.features.referral import specs  # noqa: F401  (unchanged)


def query(cfg: FeatureConfig) -> str:
    """SQL: one row per population (customer, cutoff) with the group's features."""
    L = cfg.long_window
    return f"""
WITH refs AS (
    SELECT p.customer_id, p.cutoff, r.referred_id, days_between(r.timestamp, p.cutoff) AS age
    FROM population p
    JOIN referrals r ON r.referrer_id = p.customer_id AND r.timestamp < p.cutoff
),
ref_value AS (
    SELECT f.customer_id, f.cutoff,
        sum(t.amount::DECIMAL(18, 2)) AS value_total,
        sum(t.amount::DECIMAL(18, 2)) FILTER (WHERE t.timestamp >= f.cutoff - INTERVAL {L} DAY)
            AS value_recent
    FROM refs f JOIN transactions t ON t.customer_id = f.referred_id AND t.timestamp < f.cutoff
    GROUP BY f.customer_id, f.cutoff
),
ref_count AS (
    SELECT customer_id, cutoff, count(*) AS n_total, count(*) FILTER (WHERE age < {L}) AS n_recent
    FROM refs GROUP BY customer_id, cutoff
),
referred AS (
    SELECT DISTINCT p.customer_id, p.cutoff
    FROM population p
    JOIN referrals r ON r.referred_id = p.customer_id AND r.timestamp < p.cutoff
)
SELECT p.customer_id, p.cutoff,
    coalesce(n.n_total, 0)::DOUBLE AS n_referrals_total,
    coalesce(n.n_recent, 0)::DOUBLE AS n_referrals_{L}d,
    coalesce(v.value_total, 0)::DOUBLE AS referral_value_total,
    coalesce(v.value_recent, 0)::DOUBLE AS referral_value_{L}d,
    CASE WHEN d.customer_id IS NULL THEN 0.0 ELSE 1.0 END AS is_referred
FROM population p
LEFT JOIN ref_count n ON n.customer_id = p.customer_id AND n.cutoff = p.cutoff
LEFT JOIN ref_value v ON v.customer_id = p.customer_id AND v.cutoff = p.cutoff
LEFT JOIN referred d ON d.customer_id = p.customer_id AND d.cutoff = p.cutoff
"""

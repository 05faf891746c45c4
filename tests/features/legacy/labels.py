"""The labels group's query before issue 16 (every event joined to every later cutoff):
the golden tests' reference. Everything else is the live module's."""

from __future__ import annotations

from socialcrm.features.config import FeatureConfig
from socialcrm.features.labels import specs  # noqa: F401  (unchanged)


def query(cfg: FeatureConfig) -> str:
    """SQL: one row per population (customer, cutoff) with the labels."""
    h = cfg.horizon_days
    window = "{t}.timestamp >= p.cutoff AND {t}.timestamp < p.cutoff + INTERVAL " + str(h) + " DAY"
    churn = {
        "inactivity": "coalesce(f.n_buys, 0) = 0",
        "contract_end": (
            "coalesce(c.closed_at >= p.cutoff"
            f" AND c.closed_at < p.cutoff + INTERVAL {h} DAY, false)"
        ),
    }
    churn["either"] = f"({churn['inactivity']}) OR ({churn['contract_end']})"
    return f"""
WITH fut AS (
    SELECT p.customer_id, p.cutoff,
        count(*) FILTER (WHERE NOT t.is_return) AS n_buys,
        sum(t.amount::DECIMAL(18, 2)) AS net_spend
    FROM population p
    JOIN transactions t ON t.customer_id = p.customer_id AND {window.format(t="t")}
    GROUP BY p.customer_id, p.cutoff
),
camp AS (
    SELECT p.customer_id, p.cutoff,
        count(*) AS n_contacts,
        count(*) FILTER (WHERE l.offer_id IS NOT NULL AND l.response) AS n_responses,
        sum(l.revenue::DECIMAL(18, 2)) FILTER (WHERE l.offer_id IS NOT NULL AND l.response)
            AS revenue
    FROM population p
    JOIN offer_log l ON l.customer_id = p.customer_id AND {window.format(t="l")}
    GROUP BY p.customer_id, p.cutoff
)
SELECT p.customer_id, p.cutoff,
    ({churn[cfg.churn.definition]}) AS label_churn,
    coalesce(f.net_spend, 0)::DOUBLE AS label_future_spend,
    coalesce(f.n_buys, 0)::DOUBLE AS label_future_purchases,
    coalesce(m.n_contacts, 0)::DOUBLE AS label_contacts,
    coalesce(m.n_responses, 0)::DOUBLE AS label_offer_responses,
    coalesce(m.revenue, 0)::DOUBLE AS label_offer_revenue
FROM population p
JOIN customers c ON c.customer_id = p.customer_id
LEFT JOIN fut f ON f.customer_id = p.customer_id AND f.cutoff = p.cutoff
LEFT JOIN camp m ON m.customer_id = p.customer_id AND m.cutoff = p.cutoff
"""

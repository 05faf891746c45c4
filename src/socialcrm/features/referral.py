"""The ``referral`` group: customers brought in, and their value so far.

Customer referral value (CRV) here is *realised*: the net spend, before the
cutoff, of the customers this customer referred before the cutoff. Referrals
are CRM records (a referral programme), so they do not depend on social consent.
"""

from __future__ import annotations

from socialcrm.features.config import FeatureConfig
from socialcrm.features.manifest import FeatureSpec
from socialcrm.features.sql import DAY, event_stream, frame, windowed

GROUP = "referral"


def specs(cfg: FeatureConfig) -> list[FeatureSpec]:
    """The manifest entries of the group."""
    L = cfg.long_window
    return [
        FeatureSpec("n_referrals_total", GROUP, "customers referred before the cutoff"),
        FeatureSpec(f"n_referrals_{L}d", GROUP, f"customers referred in the last {L} days"),
        FeatureSpec(
            "referral_value_total",
            GROUP,
            "net spend before the cutoff of the customers referred (realised referral value)",
        ),
        FeatureSpec(
            f"referral_value_{L}d",
            GROUP,
            f"net spend in the last {L} days of the customers referred",
        ),
        FeatureSpec("is_referred", GROUP, "the customer was referred by another (1/0)"),
    ]


def query(cfg: FeatureConfig) -> str:
    """SQL: one row per population (customer, cutoff) with the group's features.

    A referred customer's purchase counts for the referrer once both it and the
    referral happened (key: the later of the two). The recent value counts it
    only while the purchase is at most L days old, so it is added at that key and
    taken away again (an expiry row) once it is older; one cumulative sum gives it.
    """
    L = cfg.long_window
    queries = "SELECT customer_id, epoch_seconds(cutoff) AS k, cutoff FROM population"
    value_events = f"""WITH rt AS (
            SELECT r.referrer_id AS customer_id,
                epoch_seconds(greatest(t.timestamp, r.timestamp)) AS k_both,
                epoch_seconds(t.timestamp) AS k_tx,
                CAST(t.amount AS DECIMAL(18, 2)) AS amount
            FROM referrals r JOIN transactions t ON t.customer_id = r.referred_id
        )
        SELECT customer_id, k_both AS k, 1 AS ev, amount,
            CASE WHEN k_both < k_tx + {L * DAY} THEN amount END AS recent
        FROM rt
        UNION ALL
        SELECT customer_id, k_tx + {L * DAY} AS k, NULL AS ev, NULL AS amount, -amount AS recent
        FROM rt WHERE k_both < k_tx + {L * DAY}"""
    values = windowed(
        ["customer_id"],
        event_stream(
            ["customer_id"],
            value_events,
            queries,
            [("ev", "INTEGER"), ("amount", "DECIMAL(18, 2)"), ("recent", "DECIMAL(18, 2)")],
        ),
        [
            "count(ev) OVER w AS n_values",
            "sum(amount) OVER w AS value_total",
            "sum(recent) OVER w AS value_recent",
        ],
        {"w": frame()},
    )
    counts = windowed(
        ["customer_id"],
        event_stream(
            ["customer_id"],
            """SELECT referrer_id AS customer_id, epoch_seconds(timestamp) AS k, 1 AS ev
            FROM referrals""",
            queries,
            [("ev", "INTEGER")],
        ),
        ["count(ev) OVER w_all AS n_total", f"count(ev) OVER w_{L} AS n_recent"],
        {"w_all": frame(), f"w_{L}": frame(within_days=L)},
    )
    return f"""
WITH ref_value AS ({values}
),
ref_count AS ({counts}
),
referred AS (
    SELECT referred_id AS customer_id, min(timestamp) AS first_referred
    FROM referrals GROUP BY referred_id
)
SELECT p.customer_id, p.cutoff,
    coalesce(n.n_total, 0)::DOUBLE AS n_referrals_total,
    coalesce(n.n_recent, 0)::DOUBLE AS n_referrals_{L}d,
    coalesce(v.value_total, 0)::DOUBLE AS referral_value_total,
    coalesce(CASE WHEN v.n_values > 0 THEN coalesce(v.value_recent, 0) END, 0)::DOUBLE
        AS referral_value_{L}d,
    CASE WHEN d.first_referred < p.cutoff THEN 1.0 ELSE 0.0 END AS is_referred
FROM population p
LEFT JOIN ref_count n ON n.customer_id = p.customer_id AND n.cutoff = p.cutoff
LEFT JOIN ref_value v ON v.customer_id = p.customer_id AND v.cutoff = p.cutoff
LEFT JOIN referred d ON d.customer_id = p.customer_id
"""

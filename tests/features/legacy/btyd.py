"""The btyd group's RFM query before issue 16 (every event joined to every later cutoff):
the golden tests' reference. Everything else is the live module's."""

from __future__ import annotations

from socialcrm.features.btyd import TIME_UNIT_DAYS, btyd_outputs, specs  # noqa: F401


def rfm_query() -> str:
    """SQL: the RFM summary (weeks) of every population row with a purchase before its cutoff."""
    return _legacy_rfm_sql(TIME_UNIT_DAYS)


def _legacy_rfm_sql(time_unit_days: float = 7.0) -> str:
    """SQL: the RFM summary of every (customer, cutoff) of a ``population`` table.

    Reads ``population (customer_id, cutoff)`` and ``transactions (customer_id,
    timestamp, amount, is_return)``; only purchases strictly before the cutoff
    count (returns are left out). Purchases on the same day are merged (amounts
    summed). ``frequency`` counts purchase days after the first; ``recency`` is
    the time from the first to the last purchase day and ``T`` from the first
    purchase day to the last day before the cutoff, in units of
    ``time_unit_days``; ``monetary_value`` is the mean amount of the repeat
    purchase days (0 without repeats). Customers without a purchase before the
    cutoff get no row.
    """
    unit = 86400.0 * float(time_unit_days)
    return f"""
WITH daily AS (
    SELECT p.customer_id, p.cutoff, date_trunc('day', t.timestamp) AS day,
        sum(t.amount::DECIMAL(18, 2)) AS amount
    FROM population p
    JOIN transactions t
      ON t.customer_id = p.customer_id AND t.timestamp < p.cutoff AND NOT t.is_return
    GROUP BY p.customer_id, p.cutoff, day
),
agg AS (
    SELECT customer_id, cutoff, min(day) AS first_day, max(day) AS last_day,
        count(*) AS n_days, sum(amount) AS total, arg_min(amount, day) AS first_amount
    FROM daily GROUP BY customer_id, cutoff
)
SELECT customer_id, cutoff,
    (n_days - 1)::DOUBLE AS frequency,
    (epoch(last_day) - epoch(first_day)) / {unit} AS recency,
    (epoch(cutoff - INTERVAL 1 DAY) - epoch(first_day)) / {unit} AS "T",
    CASE WHEN n_days > 1 THEN ((total - first_amount) / (n_days - 1))::DOUBLE ELSE 0.0 END
        AS monetary_value
FROM agg
ORDER BY cutoff, customer_id
"""

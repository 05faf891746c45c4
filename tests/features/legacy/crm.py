"""The crm group's query before issue 16 (every event joined to every later cutoff):
the golden tests' reference. Everything else is the live module's."""

from __future__ import annotations

from socialcrm.features.config import FeatureConfig
from socialcrm.features.crm import specs  # noqa: F401  (unchanged)
from socialcrm.features.sql import ident, quote


def query(cfg: FeatureConfig) -> str:
    """SQL returning one row per ``population`` (customer, cutoff) with the group's features."""
    L = cfg.long_window
    wins = cfg.windows_days
    buy = "NOT is_return"
    freq = ",\n".join(
        f"        count(*) FILTER (WHERE {buy} AND age < {w}) AS frequency_{w}d" for w in wins
    )
    mon = ",\n".join(
        f"        coalesce(sum(amount) FILTER (WHERE {buy} AND age < {w}), 0) AS monetary_{w}d"
        for w in wins
    )
    chan = ",\n".join(
        f"        avg(CASE WHEN channel = {quote(ch)} THEN 1.0 ELSE 0.0 END)"
        f" FILTER (WHERE {buy} AND age < {L}) AS channel_share_{ident(ch)}_{L}d"
        for ch in cfg.channels
    )
    w_select = ",\n".join(
        f"    coalesce(t.frequency_{w}d, 0)::DOUBLE AS frequency_{w}d,\n"
        f"    coalesce(t.monetary_{w}d, 0)::DOUBLE AS monetary_{w}d"
        for w in wins
    )
    chan_select = ",\n".join(
        f"    t.channel_share_{ident(ch)}_{L}d::DOUBLE AS channel_share_{ident(ch)}_{L}d"
        for ch in cfg.channels
    )
    resp = cfg.offer_response_days
    return f"""
WITH tx AS (
    SELECT p.customer_id, p.cutoff, t.amount::DECIMAL(18, 2) AS amount,
           t.is_return, t.category, t.channel,
           days_between(t.timestamp, p.cutoff) AS age
    FROM population p
    JOIN transactions t ON t.customer_id = p.customer_id AND t.timestamp < p.cutoff
),
tx_agg AS (
    SELECT customer_id, cutoff,
        count(*) FILTER (WHERE {buy}) AS frequency_total,
        coalesce(sum(amount) FILTER (WHERE {buy}), 0) AS monetary_total,
        min(age) FILTER (WHERE {buy}) AS recency_days,
        max(age) FILTER (WHERE {buy}) AS first_purchase_age,
{freq},
{mon},
        sum(amount) FILTER (WHERE {buy} AND age < 90) AS monetary_last_90d,
        count(*) FILTER (WHERE {buy} AND age < 90) AS frequency_last_90d,
        count(*) FILTER (WHERE {buy} AND age >= 90 AND age < 180) AS frequency_prev_90d,
        count(*) FILTER (WHERE is_return) AS n_returns_total,
        sum(amount) FILTER (WHERE {buy} AND age >= 90 AND age < 180) AS monetary_prev_90d,
        count(DISTINCT category) FILTER (WHERE {buy} AND age < {L}) AS n_categories,
        count(DISTINCT channel) FILTER (WHERE {buy} AND age < {L}) AS n_channels,
{chan},
        count(*) FILTER (WHERE is_return AND age < {L}) AS n_returns,
        -coalesce(sum(amount) FILTER (WHERE is_return AND age < {L}), 0) AS returned_amount
    FROM tx GROUP BY customer_id, cutoff
),
cat_spend AS (
    SELECT customer_id, cutoff, category, sum(amount) AS spend
    FROM tx WHERE {buy} AND age < {L} AND amount > 0 AND category IS NOT NULL
    GROUP BY customer_id, cutoff, category
),
cat_mix AS (
    SELECT customer_id, cutoff,
        -ordered_sum((spend / total)::DOUBLE * ln((spend / total)::DOUBLE)) AS category_entropy,
        max(spend / total) AS top_category_share
    FROM (SELECT *, sum(spend) OVER (PARTITION BY customer_id, cutoff) AS total FROM cat_spend)
    GROUP BY customer_id, cutoff
),
tk AS (
    SELECT p.customer_id, p.cutoff, s.satisfaction,
           s.resolution_hours::DECIMAL(18, 4) AS resolution_hours,
           days_between(s.timestamp, p.cutoff) AS age,
           (s.resolution_hours IS NOT NULL
            AND days_between(s.timestamp, p.cutoff) * 24.0 > s.resolution_hours) AS resolved
    FROM population p
    JOIN support_tickets s ON s.customer_id = p.customer_id AND s.timestamp < p.cutoff
),
tk_agg AS (
    SELECT customer_id, cutoff,
        count(*) FILTER (WHERE age < 90) AS n_tickets_90d,
        count(*) FILTER (WHERE age < {L}) AS n_tickets,
        count(*) FILTER (WHERE NOT resolved) AS n_open_tickets,
        count(*) FILTER (WHERE resolved AND satisfaction <= 2 AND age < {L}) AS n_bad_tickets,
        count(*) FILTER (WHERE resolved AND satisfaction <= 2 AND age < 90) AS n_bad_tickets_90d,
        count(*) AS n_tickets_total,
        avg(satisfaction) FILTER (WHERE resolved) AS ticket_satisfaction_total,
        count(*) FILTER (WHERE resolved AND resolution_hours > 72 AND age < {L}) AS n_slow_tickets,
        avg(satisfaction) FILTER (WHERE resolved AND age < {L}) AS ticket_satisfaction,
        avg(resolution_hours) FILTER (WHERE resolved AND age < {L}) AS resolution_hours,
        min(age) AS days_since_last_ticket
    FROM tk GROUP BY customer_id, cutoff
),
ol AS (
    SELECT p.customer_id, p.cutoff, l.offer_id, l.response, o.offer_type,
           days_between(l.timestamp, p.cutoff) AS age
    FROM population p
    JOIN offer_log l ON l.customer_id = p.customer_id AND l.timestamp < p.cutoff
    LEFT JOIN offers o ON o.offer_id = l.offer_id
),
ol_agg AS (
    SELECT customer_id, cutoff,
        count(*) FILTER (WHERE age < {L}) AS n_contacts,
        count(*) FILTER (WHERE offer_id IS NOT NULL AND age < {L}) AS n_offers,
        avg(CASE WHEN response THEN 1.0 ELSE 0.0 END)
            FILTER (WHERE offer_id IS NOT NULL AND age >= {resp} AND age < {L}) AS response_rate,
        avg(CASE WHEN response THEN 1.0 ELSE 0.0 END)
            FILTER (WHERE offer_type = 'discount' AND age >= {resp}) AS discount_response_rate,
        avg(CASE WHEN response THEN 1.0 ELSE 0.0 END)
            FILTER (WHERE offer_id IS NULL AND age >= {resp}) AS control_response_rate,
        min(age) AS days_since_last_contact
    FROM ol GROUP BY customer_id, cutoff
)
SELECT p.customer_id, p.cutoff,
    days_between(c.signup_date, p.cutoff) AS tenure_days,
    c.plan, c.region, c.age_band, c.acquisition_channel,
    coalesce(t.recency_days, days_between(c.signup_date, p.cutoff)) AS recency_days,
    coalesce(t.frequency_total, 0)::DOUBLE AS frequency_total,
    coalesce(t.monetary_total, 0)::DOUBLE AS monetary_total,
{w_select},
    t.monetary_{L}d / nullif(t.frequency_{L}d, 0) AS avg_basket_{L}d,
    (t.first_purchase_age - t.recency_days)
        / nullif(t.frequency_total - 1, 0) AS interpurchase_days,
    ln(1 + greatest(coalesce(t.monetary_last_90d, 0), 0))
        - ln(1 + greatest(coalesce(t.monetary_prev_90d, 0), 0)) AS spend_trend_90d,
    ln(1 + coalesce(t.frequency_last_90d, 0)) - ln(1 + coalesce(t.frequency_prev_90d, 0))
        AS frequency_trend_90d,
    (coalesce(t.frequency_last_90d, 0) + 1.0)
        / (coalesce(t.frequency_total, 0) * 90.0
           / greatest(coalesce(t.first_purchase_age, 0), 90.0) + 1.0) AS purchase_pace_90d,
    coalesce(t.n_returns_total, 0) / nullif(t.frequency_total, 0)::DOUBLE AS return_rate_total,
    coalesce(t.n_categories, 0)::DOUBLE AS n_categories_{L}d,
    coalesce(m.category_entropy, 0)::DOUBLE AS category_entropy_{L}d,
    m.top_category_share AS top_category_share_{L}d,
    coalesce(t.n_channels, 0)::DOUBLE AS n_channels_{L}d,
{chan_select},
    coalesce(t.n_returns, 0)::DOUBLE AS n_returns_{L}d,
    coalesce(t.returned_amount, 0)::DOUBLE AS returned_amount_{L}d,
    coalesce(t.n_returns, 0) / nullif(t.frequency_{L}d, 0)::DOUBLE AS return_rate_{L}d,
    coalesce(k.n_tickets_90d, 0)::DOUBLE AS n_tickets_90d,
    coalesce(k.n_tickets, 0)::DOUBLE AS n_tickets_{L}d,
    coalesce(k.n_open_tickets, 0)::DOUBLE AS n_open_tickets,
    coalesce(k.n_bad_tickets, 0)::DOUBLE AS n_bad_tickets_{L}d,
    coalesce(k.n_bad_tickets_90d, 0)::DOUBLE AS n_bad_tickets_90d,
    coalesce(k.n_tickets_total, 0)
        / greatest(days_between(c.signup_date, p.cutoff), 30.0) * 365.25 AS tickets_per_year,
    k.ticket_satisfaction_total::DOUBLE AS ticket_satisfaction_total,
    coalesce(k.n_slow_tickets, 0)::DOUBLE AS n_slow_tickets_{L}d,
    k.ticket_satisfaction::DOUBLE AS ticket_satisfaction_{L}d,
    k.resolution_hours::DOUBLE AS resolution_hours_{L}d,
    k.days_since_last_ticket,
    coalesce(o.n_contacts, 0)::DOUBLE AS n_contacts_{L}d,
    coalesce(o.n_offers, 0)::DOUBLE AS n_offers_{L}d,
    o.response_rate::DOUBLE AS offer_response_rate_{L}d,
    o.discount_response_rate::DOUBLE AS discount_response_rate,
    o.control_response_rate::DOUBLE AS control_response_rate,
    o.days_since_last_contact
FROM population p
JOIN customers c ON c.customer_id = p.customer_id
LEFT JOIN tx_agg t ON t.customer_id = p.customer_id AND t.cutoff = p.cutoff
LEFT JOIN cat_mix m ON m.customer_id = p.customer_id AND m.cutoff = p.cutoff
LEFT JOIN tk_agg k ON k.customer_id = p.customer_id AND k.cutoff = p.cutoff
LEFT JOIN ol_agg o ON o.customer_id = p.customer_id AND o.cutoff = p.cutoff
"""

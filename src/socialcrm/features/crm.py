"""The ``crm`` group: structured CRM behaviour before the cutoff.

Profile (tenure, plan, region, age band, acquisition channel), RFM over several
windows, spend trend, category and channel mix, returns, support tickets and
offer history. Two point-in-time subtleties are handled explicitly:

- a ticket's resolution time and satisfaction score are known only once it is
  resolved: tickets resolved after the cutoff count as *open*, and their scores
  are not used;
- an offer's response is known only ``offer_response_days`` after the contact:
  younger contacts count as contacts but not in the response rate.
"""

from __future__ import annotations

from socialcrm.features.config import FeatureConfig
from socialcrm.features.manifest import FeatureSpec, windows_specs
from socialcrm.features.sql import DAY, event_stream, frame, ident, quote, windowed

GROUP = "crm"
CATEGORICAL = ("plan", "region", "age_band", "acquisition_channel")


def specs(cfg: FeatureConfig) -> list[FeatureSpec]:
    """The manifest entries of the group for this config."""
    w = cfg.windows_days
    L = cfg.long_window
    s = [
        FeatureSpec("tenure_days", GROUP, "days from signup to the cutoff"),
        *(
            FeatureSpec(c, GROUP, f"customer's {c.replace('_', ' ')}", "category")
            for c in CATEGORICAL
        ),
        FeatureSpec(
            "recency_days", GROUP, "days since the last purchase (since signup if none yet)"
        ),
        FeatureSpec("frequency_total", GROUP, "purchases before the cutoff"),
        FeatureSpec("monetary_total", GROUP, "spend on purchases before the cutoff"),
        *windows_specs(GROUP, "frequency_{w}d", "purchases in the last {w} days", w),
        *windows_specs(GROUP, "monetary_{w}d", "spend on purchases in the last {w} days", w),
        FeatureSpec(f"avg_basket_{L}d", GROUP, f"mean purchase amount, last {L} days (null: none)"),
        FeatureSpec(
            "interpurchase_days", GROUP, "mean days between purchases (null: fewer than two)"
        ),
        FeatureSpec(
            "frequency_trend_90d",
            GROUP,
            "log(1 + purchases in the last 90 days) - log(1 + purchases in the 90 days before)",
        ),
        FeatureSpec(
            "purchase_pace_90d",
            GROUP,
            "purchases in the last 90 days relative to the customer's own long-run pace",
        ),
        FeatureSpec("return_rate_total", GROUP, "returns per purchase over the whole history"),
        FeatureSpec(
            "spend_trend_90d",
            GROUP,
            "log(1 + spend in the last 90 days) - log(1 + spend in the 90 days before)",
        ),
        FeatureSpec(f"n_categories_{L}d", GROUP, f"distinct categories bought, last {L} days"),
        FeatureSpec(
            f"category_entropy_{L}d", GROUP, f"entropy of the spend over categories, last {L} days"
        ),
        FeatureSpec(
            f"top_category_share_{L}d", GROUP, f"share of spend in the top category, last {L} days"
        ),
        FeatureSpec(f"n_channels_{L}d", GROUP, f"distinct purchase channels, last {L} days"),
        *(
            FeatureSpec(
                f"channel_share_{ident(ch)}_{L}d",
                GROUP,
                f"share of purchases through channel {ch!r}, last {L} days",
            )
            for ch in cfg.channels
        ),
        FeatureSpec(f"n_returns_{L}d", GROUP, f"returns in the last {L} days"),
        FeatureSpec(f"returned_amount_{L}d", GROUP, f"amount returned in the last {L} days"),
        FeatureSpec(f"return_rate_{L}d", GROUP, f"returns per purchase, last {L} days"),
        FeatureSpec("n_tickets_90d", GROUP, "support tickets opened in the last 90 days"),
        FeatureSpec(f"n_tickets_{L}d", GROUP, f"support tickets opened in the last {L} days"),
        FeatureSpec(
            "n_open_tickets", GROUP, "tickets opened before the cutoff and not resolved by it"
        ),
        FeatureSpec(
            f"n_bad_tickets_{L}d",
            GROUP,
            f"tickets resolved before the cutoff with satisfaction 1-2, last {L} days",
        ),
        FeatureSpec(
            "n_bad_tickets_90d",
            GROUP,
            "tickets resolved before the cutoff with satisfaction 1-2, last 90 days",
        ),
        FeatureSpec("tickets_per_year", GROUP, "support tickets per year of tenure"),
        FeatureSpec(
            "ticket_satisfaction_total",
            GROUP,
            "mean satisfaction (1-5) of all tickets resolved before the cutoff",
        ),
        FeatureSpec(
            f"n_slow_tickets_{L}d",
            GROUP,
            f"tickets that took over 72 hours to resolve, last {L} days",
        ),
        FeatureSpec(
            f"ticket_satisfaction_{L}d",
            GROUP,
            f"mean satisfaction (1-5) of tickets resolved before the cutoff, last {L} days",
        ),
        FeatureSpec(
            f"resolution_hours_{L}d", GROUP, f"mean hours to resolve a ticket, last {L} days"
        ),
        FeatureSpec("days_since_last_ticket", GROUP, "days since the last ticket (null: none)"),
        FeatureSpec(f"n_contacts_{L}d", GROUP, f"campaign contacts in the last {L} days"),
        FeatureSpec(f"n_offers_{L}d", GROUP, f"offers received in the last {L} days"),
        FeatureSpec(
            f"offer_response_rate_{L}d",
            GROUP,
            f"responses per offer whose response window closed before the cutoff, last {L} days",
        ),
        FeatureSpec(
            "discount_response_rate",
            GROUP,
            "purchases within the response window per discount offer received (known ones)",
        ),
        FeatureSpec(
            "control_response_rate",
            GROUP,
            "purchases within the response window when contacted without an offer",
        ),
        FeatureSpec("days_since_last_contact", GROUP, "days since the last campaign contact"),
    ]
    return s


def _transactions(cfg: FeatureConfig) -> str:
    """Per population row: purchase and return aggregates over the history and the windows.

    Each window aggregate costs a pass over the stream, so derived figures are
    computed from others (the 90 days before the last 90 are the last 180 minus
    the last 90; the first purchase is the customer's first ever, once there is one).
    """
    L = cfg.long_window
    wins = sorted({*cfg.windows_days, 90, 180, L})
    buy = "CASE WHEN buy THEN {} END"
    aggs = [
        f"count({buy.format(1)}) OVER w_all AS frequency_total",
        f"coalesce(sum({buy.format('amount')}) OVER w_all, 0) AS monetary_total",
        f"max({buy.format('ts')}) OVER w_all AS last_buy",
        "count(CASE WHEN is_return THEN 1 END) OVER w_all AS n_returns_total",
        *(f"count({buy.format(1)}) OVER w_{w} AS frequency_{w}d" for w in wins),
        *(f"sum({buy.format('amount')}) OVER w_{w} AS monetary_{w}d" for w in wins),
        *(
            f"count(CASE WHEN buy AND channel = {quote(ch)} THEN 1 END) OVER w_{L}"
            f" AS n_channel_{ident(ch)}"
            for ch in cfg.channels
        ),
        f"count(CASE WHEN is_return THEN 1 END) OVER w_{L} AS n_returns",
        f"-coalesce(sum(CASE WHEN is_return THEN amount END) OVER w_{L}, 0) AS returned_amount",
    ]
    windows = {"w_all": frame(), **{f"w_{w}": frame(within_days=w) for w in wins}}
    stream = event_stream(
        ["customer_id"],
        """SELECT customer_id, epoch_seconds(timestamp) AS k, timestamp AS ts,
            CAST(amount AS DECIMAL(18, 2)) AS amount, is_return, NOT is_return AS buy, channel
        FROM transactions""",
        "SELECT customer_id, epoch_seconds(cutoff) AS k, cutoff FROM population",
        [
            ("ts", "TIMESTAMP"),
            ("amount", "DECIMAL(18, 2)"),
            ("is_return", "BOOLEAN"),
            ("buy", "BOOLEAN"),
            ("channel", "VARCHAR"),
        ],
    )
    first = """SELECT customer_id, min(timestamp) AS first_buy
        FROM transactions WHERE NOT is_return GROUP BY customer_id"""
    return f"""SELECT w.*,
        w.frequency_180d - w.frequency_90d AS frequency_prev_90d,
        coalesce(w.monetary_180d, 0) - coalesce(w.monetary_90d, 0) AS monetary_prev_90d,
        CASE WHEN w.frequency_total > 0 THEN f.first_buy END AS first_buy
    FROM ({windowed(["customer_id"], stream, aggs, windows)}) AS w
    LEFT JOIN ({first}) AS f ON f.customer_id = w.customer_id"""


def _mix(cfg: FeatureConfig) -> str:
    """Per population row and category bought: purchases and spend, last L days.

    Distinct counts and the category entropy over a window stay exact: each
    (customer, category) is its own window partition, so "distinct categories in
    the window" is the number of partitions with a purchase in it, and the spend
    per category is that partition's windowed sum. Purchase channels outside
    ``channels`` (the configured ones are counted in :func:`_transactions`) get
    partitions too, for the distinct-channel count.
    """
    L = cfg.long_window
    listed = ", ".join(quote(ch) for ch in cfg.channels) or "NULL"
    events = f"""SELECT customer_id, 'category' AS dim, category AS val,
            epoch_seconds(timestamp) AS k, CAST(amount AS DECIMAL(18, 2)) AS amount
        FROM transactions WHERE NOT is_return AND category IS NOT NULL
        UNION ALL
        SELECT customer_id, 'channel' AS dim, channel AS val,
            epoch_seconds(timestamp) AS k, CAST(amount AS DECIMAL(18, 2)) AS amount
        FROM transactions
        WHERE NOT is_return AND channel IS NOT NULL AND channel NOT IN ({listed})"""
    queries = f"""SELECT p.customer_id, d.dim, d.val, epoch_seconds(p.cutoff) AS k, p.cutoff
        FROM population p
        JOIN (SELECT DISTINCT customer_id, dim, val FROM ({events}) AS de) AS d
          ON d.customer_id = p.customer_id"""
    stream = event_stream(
        ["customer_id", "dim", "val"],
        events,
        queries,
        [("amount", "DECIMAL(18, 2)")],
    )
    return windowed(
        ["customer_id", "dim", "val"],
        stream,
        [
            "count(amount) OVER w AS n_buys",
            "sum(CASE WHEN amount > 0 THEN amount END) OVER w AS spend",
        ],
        {"w": frame(within_days=L)},
    )


def _tickets(cfg: FeatureConfig) -> str:
    """Per population row: ticket aggregates, with resolution known only once it happened.

    A ticket is resolved at a cutoff when ``days_between(opened, cutoff) * 24 >
    resolution_hours``, i.e. from the key ``k_res = k_open + floor(3600 h)`` on. A
    statistic over "tickets opened in the last W days and resolved by the cutoff"
    counts a ticket from ``k_res`` on and stops counting it once it is W days old:
    a resolution row adds it and an expiry row (key ``k_open + 86400 W - 1``)
    takes it away again, so one cumulative sum gives the window exactly.
    """
    L = cfg.long_window
    spans = sorted({90, L})
    expiry = "\n        UNION ALL\n        ".join(
        f"""SELECT customer_id, k_open + {w * DAY - 1} AS k, 'exp{w}' AS kind, NULL AS ts,
            satisfaction, resolution_hours, {w} AS span,
            {", ".join(f"{'TRUE' if v == w else 'FALSE'} AS in_{v}" for v in spans)}
        FROM tickets_resolved WHERE k_res <= k_open + {w * DAY - 1}"""
        for w in spans
    )
    in_cols = ", ".join(f"k_res <= k_open + {w * DAY - 1} AS in_{w}" for w in spans)
    events = f"""WITH tickets_resolved AS (
            SELECT customer_id, satisfaction,
                CAST(resolution_hours AS DECIMAL(18, 4)) AS resolution_hours,
                epoch_seconds(timestamp) AS k_open,
                epoch_seconds(timestamp)
                    + CAST(floor(CAST(resolution_hours AS DECIMAL(18, 4)) * 3600) AS BIGINT)
                    AS k_res
            FROM support_tickets WHERE resolution_hours IS NOT NULL
        )
        SELECT customer_id, epoch_seconds(timestamp) AS k, 'open' AS kind, timestamp AS ts,
            satisfaction, CAST(resolution_hours AS DECIMAL(18, 4)) AS resolution_hours,
            NULL AS span, {", ".join(f"FALSE AS in_{w}" for w in spans)}
        FROM support_tickets
        UNION ALL
        SELECT customer_id, k_res AS k, 'res' AS kind, NULL AS ts,
            satisfaction, resolution_hours, NULL AS span, {in_cols}
        FROM tickets_resolved
        UNION ALL
        {expiry}"""

    def resolved_within(w: int, expr: str, cond: str = "TRUE") -> str:
        """Cumulative sum of ``expr`` over tickets opened < w days ago and resolved."""
        return (
            f"sum(CASE WHEN kind = 'res' AND in_{w} AND {cond} THEN {expr}"
            f" WHEN kind = 'exp{w}' AND {cond} THEN -({expr}) END) OVER w_all"
        )

    bad = "satisfaction <= 2"
    aggs = [
        "count(CASE WHEN kind = 'open' THEN 1 END) OVER w_90 AS n_tickets_90d",
        f"count(CASE WHEN kind = 'open' THEN 1 END) OVER w_{L} AS n_tickets",
        "count(CASE WHEN kind = 'open' THEN 1 END) OVER w_all AS n_tickets_total",
        "count(CASE WHEN kind = 'open' THEN 1 END) OVER w_all"
        " - count(CASE WHEN kind = 'res' THEN 1 END) OVER w_all AS n_open_tickets",
        f"{resolved_within(L, '1', bad)} AS n_bad_tickets",
        f"{resolved_within(90, '1', bad)} AS n_bad_tickets_90d",
        "sum(CASE WHEN kind = 'res' THEN satisfaction END) OVER w_all AS sat_sum_total",
        "count(CASE WHEN kind = 'res' THEN satisfaction END) OVER w_all AS sat_n_total",
        f"{resolved_within(L, '1', 'resolution_hours > 72')} AS n_slow_tickets",
        f"{resolved_within(L, 'satisfaction')} AS sat_sum",
        f"{resolved_within(L, '1', 'satisfaction IS NOT NULL')} AS sat_n",
        f"{resolved_within(L, 'resolution_hours')} AS hours_sum",
        f"{resolved_within(L, '1')} AS hours_n",
        "max(CASE WHEN kind = 'open' THEN ts END) OVER w_all AS last_ticket",
    ]
    stream = event_stream(
        ["customer_id"],
        events,
        "SELECT customer_id, epoch_seconds(cutoff) AS k, cutoff FROM population",
        [
            ("kind", "VARCHAR"),
            ("ts", "TIMESTAMP"),
            ("satisfaction", "DOUBLE"),
            ("resolution_hours", "DECIMAL(18, 4)"),
            ("span", "INTEGER"),
            *((f"in_{w}", "BOOLEAN") for w in spans),
        ],
    )
    windows = {"w_all": frame(), **{f"w_{w}": frame(within_days=w) for w in spans}}
    return windowed(["customer_id"], stream, aggs, windows)


def _offers(cfg: FeatureConfig) -> str:
    """Per population row: contacts, offers and known responses."""
    L = cfg.long_window
    resp = cfg.offer_response_days
    hit = "CASE WHEN response THEN 1.0 ELSE 0.0 END"
    aggs = [
        f"count(ev) OVER w_{L} AS n_contacts",
        f"count(CASE WHEN has_offer THEN 1 END) OVER w_{L} AS n_offers",
        f"sum(CASE WHEN has_offer THEN {hit} END) OVER w_known AS responses",
        "count(CASE WHEN has_offer THEN 1 END) OVER w_known AS known_offers",
        f"sum(CASE WHEN is_discount THEN {hit} END) OVER w_known_all AS discount_responses",
        "count(CASE WHEN is_discount THEN 1 END) OVER w_known_all AS discount_offers",
        f"sum(CASE WHEN NOT has_offer THEN {hit} END) OVER w_known_all AS control_responses",
        "count(CASE WHEN NOT has_offer THEN 1 END) OVER w_known_all AS control_contacts",
        "max(ts) OVER w_all AS last_contact",
    ]
    stream = event_stream(
        ["customer_id"],
        """SELECT l.customer_id, epoch_seconds(l.timestamp) AS k, 1 AS ev, l.timestamp AS ts,
            l.offer_id IS NOT NULL AS has_offer, l.response,
            coalesce(o.offer_type = 'discount', FALSE) AS is_discount
        FROM offer_log l LEFT JOIN offers o ON o.offer_id = l.offer_id""",
        "SELECT customer_id, epoch_seconds(cutoff) AS k, cutoff FROM population",
        [
            ("ev", "INTEGER"),
            ("ts", "TIMESTAMP"),
            ("has_offer", "BOOLEAN"),
            ("response", "BOOLEAN"),
            ("is_discount", "BOOLEAN"),
        ],
    )
    windows = {
        "w_all": frame(),
        f"w_{L}": frame(within_days=L),
        "w_known": frame(older_than_days=resp, within_days=L),
        "w_known_all": frame(older_than_days=resp),
    }
    return windowed(["customer_id"], stream, aggs, windows)


def query(cfg: FeatureConfig) -> str:
    """SQL returning one row per ``population`` (customer, cutoff) with the group's features.

    Every event table is read once (see :func:`socialcrm.features.sql.event_stream`).
    """
    L = cfg.long_window
    wins = cfg.windows_days
    w_select = ",\n".join(
        f"    coalesce(t.frequency_{w}d, 0)::DOUBLE AS frequency_{w}d,\n"
        f"    coalesce(t.monetary_{w}d, 0)::DOUBLE AS monetary_{w}d"
        for w in wins
    )
    n_channels = (
        " + ".join(
            f"CASE WHEN t.n_channel_{ident(ch)} > 0 THEN 1 ELSE 0 END" for ch in cfg.channels
        )
        or "0"
    )
    chan_select = ",\n".join(
        f"    (t.n_channel_{ident(ch)} / nullif(t.frequency_{L}d, 0))::DOUBLE"
        f" AS channel_share_{ident(ch)}_{L}d"
        for ch in cfg.channels
    )
    return f"""
WITH tx_agg AS ({_transactions(cfg)}
),
mix AS ({_mix(cfg)}
),
mix_agg AS (
    SELECT customer_id, cutoff,
        count(CASE WHEN dim = 'category' AND n_buys > 0 THEN 1 END) AS n_categories,
        count(CASE WHEN dim = 'channel' AND n_buys > 0 THEN 1 END) AS n_other_channels
    FROM mix GROUP BY customer_id, cutoff
),
cat_spend AS (
    SELECT customer_id, cutoff, spend, sum(spend) OVER (PARTITION BY customer_id, cutoff) AS total
    FROM mix WHERE dim = 'category' AND spend IS NOT NULL
),
cat_mix AS (
    SELECT customer_id, cutoff,
        -ordered_sum((spend / total)::DOUBLE * ln((spend / total)::DOUBLE)) AS category_entropy,
        max(spend / total) AS top_category_share
    FROM cat_spend
    GROUP BY customer_id, cutoff
),
tk_agg AS ({_tickets(cfg)}
),
ol_agg AS ({_offers(cfg)}
)
SELECT p.customer_id, p.cutoff,
    days_between(c.signup_date, p.cutoff) AS tenure_days,
    c.plan, c.region, c.age_band, c.acquisition_channel,
    coalesce(days_between(t.last_buy, p.cutoff), days_between(c.signup_date, p.cutoff))
        AS recency_days,
    coalesce(t.frequency_total, 0)::DOUBLE AS frequency_total,
    coalesce(t.monetary_total, 0)::DOUBLE AS monetary_total,
{w_select},
    t.monetary_{L}d / nullif(t.frequency_{L}d, 0) AS avg_basket_{L}d,
    (days_between(t.first_buy, p.cutoff) - days_between(t.last_buy, p.cutoff))
        / nullif(t.frequency_total - 1, 0) AS interpurchase_days,
    ln(1 + greatest(coalesce(t.monetary_90d, 0), 0))
        - ln(1 + greatest(coalesce(t.monetary_prev_90d, 0), 0)) AS spend_trend_90d,
    ln(1 + coalesce(t.frequency_90d, 0)) - ln(1 + coalesce(t.frequency_prev_90d, 0))
        AS frequency_trend_90d,
    (coalesce(t.frequency_90d, 0) + 1.0)
        / (coalesce(t.frequency_total, 0) * 90.0
           / greatest(coalesce(days_between(t.first_buy, p.cutoff), 0), 90.0) + 1.0)
        AS purchase_pace_90d,
    coalesce(t.n_returns_total, 0) / nullif(t.frequency_total, 0)::DOUBLE AS return_rate_total,
    coalesce(x.n_categories, 0)::DOUBLE AS n_categories_{L}d,
    coalesce(m.category_entropy, 0)::DOUBLE AS category_entropy_{L}d,
    m.top_category_share AS top_category_share_{L}d,
    ({n_channels} + coalesce(x.n_other_channels, 0))::DOUBLE AS n_channels_{L}d,
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
    (k.sat_sum_total / nullif(k.sat_n_total, 0))::DOUBLE AS ticket_satisfaction_total,
    coalesce(k.n_slow_tickets, 0)::DOUBLE AS n_slow_tickets_{L}d,
    (k.sat_sum / nullif(k.sat_n, 0))::DOUBLE AS ticket_satisfaction_{L}d,
    (k.hours_sum / nullif(k.hours_n, 0))::DOUBLE AS resolution_hours_{L}d,
    days_between(k.last_ticket, p.cutoff) AS days_since_last_ticket,
    coalesce(o.n_contacts, 0)::DOUBLE AS n_contacts_{L}d,
    coalesce(o.n_offers, 0)::DOUBLE AS n_offers_{L}d,
    (o.responses / nullif(o.known_offers, 0))::DOUBLE AS offer_response_rate_{L}d,
    (o.discount_responses / nullif(o.discount_offers, 0))::DOUBLE AS discount_response_rate,
    (o.control_responses / nullif(o.control_contacts, 0))::DOUBLE AS control_response_rate,
    days_between(o.last_contact, p.cutoff) AS days_since_last_contact
FROM population p
JOIN customers c ON c.customer_id = p.customer_id
LEFT JOIN tx_agg t ON t.customer_id = p.customer_id AND t.cutoff = p.cutoff
LEFT JOIN mix_agg x ON x.customer_id = p.customer_id AND x.cutoff = p.cutoff
LEFT JOIN cat_mix m ON m.customer_id = p.customer_id AND m.cutoff = p.cutoff
LEFT JOIN tk_agg k ON k.customer_id = p.customer_id AND k.cutoff = p.cutoff
LEFT JOIN ol_agg o ON o.customer_id = p.customer_id AND o.cutoff = p.cutoff
"""

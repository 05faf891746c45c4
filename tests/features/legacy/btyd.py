"""The ``btyd`` group: buy-till-you-die model outputs as of the cutoff.

BG/NBD (purchases) and Gamma-Gamma (spend per purchase) are fitted on the RFM
summary of the purchases strictly before a cutoff and give, for each customer
in the population then: expected purchases and expected spend in the label
horizon, probability of being alive, and expected amount per purchase. These
are the probabilistic CLV baseline and, as features, make the hybrid models.

Point in time: a model is fitted at a cutoff on that cutoff's data only and
reused for later cutoffs until the next refit (``btyd.refit_every_months``),
never for earlier ones. Customers without a purchase before the cutoff get
nulls (BG/NBD starts at the first purchase).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from socialcrm.features.config import FeatureConfig
from socialcrm.features.manifest import FeatureSpec
from socialcrm.models.btyd import BTYDModel

GROUP = "btyd"
TIME_UNIT_DAYS = 7.0
COLUMNS = ("btyd_expected_purchases", "btyd_p_alive", "btyd_expected_spend", "btyd_clv")


def specs(cfg: FeatureConfig) -> list[FeatureSpec]:
    """The manifest entries of the group."""
    h = cfg.horizon_days
    return [
        FeatureSpec(
            "btyd_expected_purchases",
            GROUP,
            f"BG/NBD expected purchases in the {h} days after the cutoff",
        ),
        FeatureSpec("btyd_p_alive", GROUP, "BG/NBD probability the customer is still active"),
        FeatureSpec(
            "btyd_expected_spend", GROUP, "Gamma-Gamma expected amount per future purchase"
        ),
        FeatureSpec(
            "btyd_clv",
            GROUP,
            f"BTYD expected spend in the {h} days after the cutoff (purchases x amount)",
        ),
    ]


def rfm_query() -> str:
    """SQL: the RFM summary (weeks) of every population row with a purchase before its cutoff."""
    return _legacy_rfm_sql(TIME_UNIT_DAYS)


def _months_between(a: pd.Timestamp, b: pd.Timestamp) -> int:
    return (b.year - a.year) * 12 + (b.month - a.month)


def btyd_outputs(
    rfm: pd.DataFrame,
    horizon_days: int,
    refit_every_months: int,
    fit: Callable[[pd.DataFrame], BTYDModel] = lambda rfm: BTYDModel().fit(rfm),
) -> pd.DataFrame:
    """The group's columns for every (customer, cutoff) of an RFM table.

    Parameters
    ----------
    rfm
        :func:`rfm_query`'s result: ``customer_id, cutoff, frequency, recency, T,
        monetary_value``.
    horizon_days
        The label horizon the expected purchases and spend cover.
    refit_every_months
        Refit at the first cutoff and whenever this many months have passed
        since the last fit; in between, the last fit (on earlier data) is applied
        to the current cutoff's RFM.
    fit
        Fits a model on one cutoff's RFM rows.

    Returns
    -------
    pandas.DataFrame
        ``customer_id, cutoff`` and :data:`COLUMNS`.
    """
    horizon = horizon_days / TIME_UNIT_DAYS
    parts = []
    model, fitted_at = None, None
    for cutoff, rows in rfm.groupby("cutoff", sort=True):
        cutoff = pd.Timestamp(cutoff)
        if model is None or _months_between(fitted_at, cutoff) >= refit_every_months:
            model, fitted_at = fit(rows), cutoff
        purchases = model.expected_purchases(rows, horizon)
        spend = model.expected_spend(rows)
        parts.append(
            pd.DataFrame(
                {
                    "customer_id": rows["customer_id"].to_numpy(),
                    "cutoff": rows["cutoff"].to_numpy(),
                    "btyd_expected_purchases": purchases,
                    "btyd_p_alive": model.probability_alive(rows),
                    "btyd_expected_spend": spend,
                    "btyd_clv": purchases * spend,
                }
            )
        )
    if not parts:
        empty = {c: pd.Series([], dtype=float) for c in COLUMNS}
        return pd.DataFrame(
            {
                "customer_id": pd.Series([], dtype=str),
                "cutoff": pd.Series([], dtype="datetime64[us]"),
            }
            | empty
        )
    out = pd.concat(parts, ignore_index=True)
    # rounded so sums downstream do not depend on optimiser noise in the last bits
    out[list(COLUMNS)] = np.round(out[list(COLUMNS)].to_numpy(dtype=float), 6)
    return out


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

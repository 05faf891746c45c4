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
from socialcrm.features.sql import event_stream, frame, windowed
from socialcrm.models.btyd import BTYDModel, rfm_select

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
    """SQL: the RFM summary (weeks) of every population row with a purchase before its cutoff.

    The same summary as :func:`socialcrm.models.btyd.rfm_sql`, from daily purchase
    totals read once (cutoffs are midnights, so a day is wholly before a cutoff or
    not): first and last purchase day, number of days and total spend before each
    cutoff are window aggregates; the first day's amount is the customer's first ever.
    """
    agg = windowed(
        ["customer_id"],
        event_stream(
            ["customer_id"],
            "SELECT customer_id, epoch_seconds(day) AS k, day, amount FROM daily",
            "SELECT customer_id, epoch_seconds(cutoff) AS k, cutoff FROM population",
            [("day", "TIMESTAMP"), ("amount", "DECIMAL(18, 2)")],
        ),
        [
            "min(day) OVER w AS first_day",
            "max(day) OVER w AS last_day",
            "count(day) OVER w AS n_days",
            "sum(amount) OVER w AS total",
        ],
        {"w": frame()},
    )
    return f"""
WITH daily AS (
    SELECT customer_id, date_trunc('day', timestamp) AS day,
        sum(CAST(amount AS DECIMAL(18, 2))) AS amount
    FROM transactions WHERE NOT is_return
    GROUP BY customer_id, date_trunc('day', timestamp)
),
first_days AS (
    SELECT customer_id, arg_min(amount, day) AS first_amount FROM daily GROUP BY customer_id
),
agg AS (
    SELECT w.*, f.first_amount
    FROM ({agg}) AS w JOIN first_days f ON f.customer_id = w.customer_id
    WHERE w.n_days > 0
)
{rfm_select(TIME_UNIT_DAYS)}
"""


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

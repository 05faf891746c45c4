"""Ground-truth quantities of the synthetic world, for judging models (never features).

The truth tables live in ``<raw_dir>/truth/``; these functions turn them into
the best possible predictions at a cutoff (oracles).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAYS_PER_MONTH = 365.25 / 12


def churn_probability(
    customer_month: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: float
) -> pd.Series:
    """True probability of churning within the horizon, knowing everything at the cutoff.

    Uses each customer's hazard for the month that contains the cutoff, which the
    generator computes from the state entering that month (latent traits, recent
    tickets and posts, churned ties), held for the horizon: ``1 - exp(-h * t)``.
    Events after the cutoff are unknowable, so no predictor from data can do
    better in expectation; its ROC-AUC is the oracle AUC.

    Parameters
    ----------
    customer_month
        ``truth/customer_month`` (``customer_id``, ``month_start``, ``hazard``).
    cutoff
        The snapshot date.
    horizon_days
        Label window length.

    Returns
    -------
    pandas.Series
        Probability indexed by ``customer_id`` (customers at risk that month).
    """
    month = pd.Timestamp(cutoff).to_period("M").to_timestamp()
    rows = customer_month[customer_month["month_start"] == month]
    p = 1.0 - np.exp(-rows["hazard"].to_numpy(dtype=float) * horizon_days / DAYS_PER_MONTH)
    return pd.Series(p, index=rows["customer_id"].to_numpy(), name="true_churn_probability")


def expected_future_spend(
    customer_month: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: float
) -> pd.Series:
    """True expected spend in the horizon, knowing everything at the cutoff.

    Each customer's expected monthly spend and churn hazard for the month that
    contains the cutoff (the state entering it), held for the horizon: the
    expected spend while alive, ``s * (1 - exp(-h * H)) / h`` for a horizon of
    ``H`` months (``s * H`` when ``h`` is 0). Ranking customers by it gives the
    oracle Gini: no predictor from data can rank better in expectation.

    Returns
    -------
    pandas.Series
        Expected spend indexed by ``customer_id`` (customers at risk that month).
    """
    month = pd.Timestamp(cutoff).to_period("M").to_timestamp()
    rows = customer_month[customer_month["month_start"] == month]
    s = rows["expected_spend"].to_numpy(dtype=float)
    h = rows["hazard"].to_numpy(dtype=float)
    H = horizon_days / DAYS_PER_MONTH
    survival_months = np.where(h > 1e-12, -np.expm1(-h * H) / np.maximum(h, 1e-12), H)
    return pd.Series(
        s * survival_months, index=rows["customer_id"].to_numpy(), name="true_expected_spend"
    )

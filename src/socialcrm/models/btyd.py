"""Buy-till-you-die baseline for CLV: BG/NBD purchases with Gamma-Gamma spend.

Fitted by maximum a posteriori with flat priors through pymc-marketing's
``clv`` module (no hand-written likelihood), which then equals maximum
likelihood and reproduces the published CDNOW parameters. Outputs are named
for the business: expected purchases in a horizon, probability alive,
expected spend per purchase, and CLV (expected purchases x expected spend,
undiscounted, over the horizon).

Time is in weeks (``time_unit_days=7``) as in the BG/NBD literature, computed
from daily dates: purchases on the same day are merged into one.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd

RFM_COLUMNS = ("customer_id", "frequency", "recency", "T", "monetary_value")


def rfm_sql(time_unit_days: float = 7.0) -> str:
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
{rfm_select(time_unit_days)}
"""


def rfm_select(time_unit_days: float = 7.0) -> str:
    """SQL: the RFM columns from ``agg (customer_id, cutoff, first_day, last_day, n_days,
    total, first_amount)``, one row per (customer, cutoff) with a purchase day before it."""
    unit = 86400.0 * float(time_unit_days)
    return f"""SELECT customer_id, cutoff,
    (n_days - 1)::DOUBLE AS frequency,
    (epoch(last_day) - epoch(first_day)) / {unit} AS recency,
    (epoch(cutoff - INTERVAL 1 DAY) - epoch(first_day)) / {unit} AS "T",
    CASE WHEN n_days > 1 THEN ((total - first_amount) / (n_days - 1))::DOUBLE ELSE 0.0 END
        AS monetary_value
FROM agg
ORDER BY cutoff, customer_id"""


def rfm_from_transactions(
    transactions: pd.DataFrame,
    end: pd.Timestamp | str,
    customer_col: str = "customer_id",
    time_col: str = "timestamp",
    amount_col: str = "amount",
    time_unit_days: float = 7.0,
) -> pd.DataFrame:
    """Per customer: repeat purchases, recency, age and mean repeat amount before ``end``.

    The same computation as :func:`rfm_sql` (which the ``btyd`` feature group runs
    for every cutoff), for one transactions frame and one exclusive ``end``.
    Rows flagged ``is_return`` (if that column exists) are left out.

    Returns
    -------
    pandas.DataFrame
        ``customer_id, frequency, recency, T, monetary_value``, one row per
        customer with a purchase before ``end``, sorted by customer.
    """
    import duckdb

    missing = [c for c in (customer_col, time_col, amount_col) if c not in transactions.columns]
    if missing:
        raise ValueError(f"transactions lack columns {missing}")
    tx = pd.DataFrame(
        {
            "customer_id": transactions[customer_col].to_numpy(),
            "timestamp": pd.to_datetime(transactions[time_col]).to_numpy(),
            "amount": transactions[amount_col].to_numpy(dtype=float),
            "is_return": (
                transactions["is_return"].to_numpy(dtype=bool)
                if "is_return" in transactions.columns
                else np.zeros(len(transactions), dtype=bool)
            ),
        }
    )
    end = pd.Timestamp(end)
    con = duckdb.connect()
    try:
        con.register("transactions", tx)
        con.execute(
            "CREATE TEMP TABLE population AS SELECT DISTINCT customer_id, ?::TIMESTAMP AS cutoff "
            "FROM transactions WHERE timestamp < ? AND NOT is_return",
            [end.to_pydatetime(), end.to_pydatetime()],
        )
        out = con.execute(rfm_sql(time_unit_days)).df()
    finally:
        con.close()
    return out.drop(columns="cutoff").reset_index(drop=True)


class BTYDModel:
    """BG/NBD + Gamma-Gamma, fitted by MAP with flat priors (pymc-marketing).

    Parameters
    ----------
    compiledir
        Where PyTensor keeps compiled code (default: ``$PYTENSOR_FLAGS`` or its own).
    """

    def __init__(self, compiledir: str | None = None):
        if compiledir and "PYTENSOR_FLAGS" not in os.environ:
            os.environ["PYTENSOR_FLAGS"] = f"compiledir={compiledir}"
        self.purchases_ = None
        self.spend_ = None

    def fit(self, rfm: pd.DataFrame) -> BTYDModel:
        """Fit both models on an RFM table (:func:`rfm_from_transactions`)."""
        from pymc_extras.prior import Prior
        from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

        missing = [c for c in RFM_COLUMNS if c not in rfm.columns]
        if missing:
            raise ValueError(f"the RFM table lacks columns {missing}")
        flat = {k: Prior("HalfFlat") for k in ("a", "b", "alpha", "r")}
        # Gamma-Gamma needs a positive mean repeat amount (a repeat day can net to $0)
        repeaters = rfm[(rfm.frequency > 0) & (rfm.monetary_value > 0)]
        self.purchases_ = BetaGeoModel(model_config=flat)
        self.spend_ = GammaGammaModel(model_config={k: Prior("HalfFlat") for k in ("p", "q", "v")})
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*BLAS.*")
            self.purchases_.fit(
                rfm[["customer_id", "frequency", "recency", "T"]], method="map", progressbar=False
            )
            self.spend_.fit(
                repeaters[["customer_id", "monetary_value", "frequency"]],
                method="map",
                progressbar=False,
            )
        return self

    @property
    def params(self) -> dict[str, float]:
        """BG/NBD (r, alpha, a, b) and Gamma-Gamma (p, q, v) parameters."""
        out = {k: float(v) for k, v in self.purchases_.fit_summary().items()}
        out.update({k: float(v) for k, v in self.spend_.fit_summary().items()})
        return out

    @staticmethod
    def _point(x) -> np.ndarray:
        return np.asarray(x.mean(("chain", "draw")), dtype=float)

    def expected_purchases(self, rfm: pd.DataFrame, horizon: float) -> np.ndarray:
        """Expected number of purchases in the next ``horizon`` time units."""
        data = rfm[["customer_id", "frequency", "recency", "T"]]
        return self._point(self.purchases_.expected_purchases(data, future_t=horizon))

    def probability_alive(self, rfm: pd.DataFrame) -> np.ndarray:
        """Probability that each customer is still active at the end of the data."""
        data = rfm[["customer_id", "frequency", "recency", "T"]]
        return self._point(self.purchases_.expected_probability_alive(data))

    def expected_spend(self, rfm: pd.DataFrame) -> np.ndarray:
        """Expected amount per future purchase (the population mean for one-time buyers)."""
        data = rfm[["customer_id", "monetary_value", "frequency"]]
        return self._point(self.spend_.expected_customer_spend(data))

    def clv(self, rfm: pd.DataFrame, horizon: float) -> np.ndarray:
        """Expected value over the horizon: expected purchases x expected spend."""
        return self.expected_purchases(rfm, horizon) * self.expected_spend(rfm)

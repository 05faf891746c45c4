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


def rfm_from_transactions(
    transactions: pd.DataFrame,
    end: pd.Timestamp | str,
    customer_col: str = "customer_id",
    time_col: str = "timestamp",
    amount_col: str = "amount",
    time_unit_days: float = 7.0,
) -> pd.DataFrame:
    """Per customer: repeat purchases, recency, age and mean repeat amount before ``end``.

    Purchases on the same day are merged (amounts summed). ``frequency`` counts
    purchase days after the first; ``recency`` is the time from the first to
    the last purchase day and ``T`` from the first purchase day to the last day
    before ``end`` (``end`` is exclusive), in
    units of ``time_unit_days``; ``monetary_value`` is the mean amount of the
    repeat purchase days (0 without repeats).
    """
    missing = [c for c in (customer_col, time_col, amount_col) if c not in transactions.columns]
    if missing:
        raise ValueError(f"transactions lack columns {missing}")
    end = pd.Timestamp(end)
    tx = transactions.loc[transactions[time_col] < end, [customer_col, time_col, amount_col]]
    day = tx[time_col].dt.floor("D")
    daily = (
        tx.assign(_day=day)
        .groupby([customer_col, "_day"], sort=True)[amount_col]
        .sum()
        .reset_index()
    )
    g = daily.groupby(customer_col, sort=True)
    first, last, n = g["_day"].min(), g["_day"].max(), g.size()
    first_amount = g[amount_col].first()
    repeat_total = g[amount_col].sum() - first_amount
    unit = pd.Timedelta(days=time_unit_days)
    out = pd.DataFrame(
        {
            "customer_id": first.index,
            "frequency": (n - 1).to_numpy(dtype=float),
            "recency": ((last - first) / unit).to_numpy(dtype=float),
            # to the last day before ``end`` (exclusive), as in the BG/NBD papers
            "T": ((end - pd.Timedelta(days=1) - first) / unit).to_numpy(dtype=float),
        }
    )
    freq = out["frequency"].to_numpy()
    out["monetary_value"] = np.where(freq > 0, repeat_total.to_numpy() / np.maximum(freq, 1), 0.0)
    return out


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
        self.purchases_ = BetaGeoModel(
            data=rfm[["customer_id", "frequency", "recency", "T"]], model_config=flat
        )
        repeaters = rfm[rfm.frequency > 0]
        self.spend_ = GammaGammaModel(
            data=repeaters[["customer_id", "monetary_value", "frequency"]],
            model_config={k: Prior("HalfFlat") for k in ("p", "q", "v")},
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*BLAS.*")
            self.purchases_.fit(method="map", progressbar=False)
            self.spend_.fit(method="map", progressbar=False)
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

"""The retention-campaign view: expected profit by number of customers contacted."""

from __future__ import annotations

import numpy as np
import pandas as pd


def profit_curve(
    p,
    value,
    contact_cost: float,
    save_rate: float,
    y=None,
) -> pd.DataFrame:
    """Profit of contacting the customers with the largest expected gain first.

    A contacted customer who would churn is saved with probability ``save_rate``
    and is then worth ``value`` (a number, or one value per customer, e.g. the
    CLV); every contact costs ``contact_cost``. Customers are ranked by expected
    gain ``p * save_rate * value``.

    Parameters
    ----------
    p
        Churn probabilities (calibrated, so that expected profit is meaningful).
    value
        Value of a saved customer (scalar or per customer).
    contact_cost, save_rate
        Campaign economics.
    y
        Observed churn (optional): adds the profit the campaign would have made.

    Returns
    -------
    pandas.DataFrame
        ``contacted`` (0..n), ``share``, ``expected_profit`` and, with ``y``,
        ``realised_profit``.
    """
    p = np.asarray(p, dtype=float)
    v = np.broadcast_to(np.asarray(value, dtype=float), p.shape)
    gain = p * save_rate * v
    order = np.argsort(-gain, kind="stable")
    n = len(p)
    out = pd.DataFrame(
        {
            "contacted": np.arange(n + 1),
            "share": np.arange(n + 1) / max(n, 1),
            "expected_profit": np.r_[0.0, np.cumsum(gain[order] - contact_cost)],
        }
    )
    if y is not None:
        yy = np.asarray(y, dtype=float)
        out["realised_profit"] = np.r_[
            0.0, np.cumsum(yy[order] * save_rate * v[order] - contact_cost)
        ]
    return out


def best_cut(curve: pd.DataFrame, column: str = "expected_profit") -> dict[str, float]:
    """The number contacted that maximises ``column``, and the profit there."""
    i = int(curve[column].to_numpy().argmax())
    row = curve.iloc[i]
    out = {
        "contacted": float(row["contacted"]),
        "share": float(row["share"]),
        column: float(row[column]),
    }
    if "realised_profit" in curve and column != "realised_profit":
        out["realised_profit_at_cut"] = float(row["realised_profit"])
    return out

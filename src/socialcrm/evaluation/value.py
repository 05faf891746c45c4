"""Customer-value (CLV) metrics: small, typed, pure functions (arrays in, numbers or tables out).

Ranking: normalized Gini of predicted vs actual value, Spearman correlation,
share of actual value captured by the top of the prediction. Calibration:
mean predicted vs mean actual per predicted decile, and the decile MAPE.
Error: MAE, RMSE, totals. The grade compares how many of the truly most
valuable customers the model finds against a baseline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from socialcrm.evaluation.metrics import paired_arrays


def _gini(y: np.ndarray, order: np.ndarray) -> float:
    """Gini of ``y`` accumulated in ``order`` against an even spread (Kaggle's definition)."""
    n = len(y)
    total = y.sum()
    if total == 0:
        return float("nan")
    cum = np.cumsum(y[order]) / total
    return float(cum.sum() / n - (n + 1) / (2 * n))


def normalized_gini(y_true, y_pred) -> float:
    """Gini of the prediction's ranking divided by the Gini of the perfect ranking.

    1 for a perfect ranking, about 0 for a random one, -1 for the reverse.
    Ties in the prediction are broken by position (stable order), as in the
    usual implementation; only the ranking matters, not the scale.
    """
    y, p = paired_arrays(y_true, y_pred)
    by_pred = np.argsort(-p, kind="stable")
    by_true = np.argsort(-y, kind="stable")
    return _gini(y, by_pred) / _gini(y, by_true)


def spearman(y_true, y_pred) -> float:
    """Spearman rank correlation of predicted and actual value."""
    y, p = paired_arrays(y_true, y_pred)
    return float(spearmanr(y, p).statistic)


def top_share_captured(y_true, y_pred, frac: float = 0.1) -> float:
    """Share of all actual value held by the ``ceil(frac * n)`` customers predicted highest."""
    y, p = paired_arrays(y_true, y_pred)
    k = int(np.ceil(frac * len(y)))
    top = np.argsort(-p, kind="stable")[:k]
    total = y.sum()
    return float(y[top].sum() / total) if total else float("nan")


def top_customers_found(y_true, y_pred, frac: float = 0.2) -> float:
    """Share of the truly top ``frac`` customers (by actual value) that the prediction's top
    ``frac`` contains: how many of the most valuable customers the model finds."""
    y, p = paired_arrays(y_true, y_pred)
    k = int(np.ceil(frac * len(y)))
    true_top = set(np.argsort(-y, kind="stable")[:k])
    pred_top = set(np.argsort(-p, kind="stable")[:k])
    return len(true_top & pred_top) / k


def gain_curve(y_true, y_pred, points: int | None = None) -> pd.DataFrame:
    """Cumulative share of actual value by share of customers, highest predicted first
    (the Lorenz / gain curve); ``points`` evenly spaced shares, or every customer.

    Returns
    -------
    pandas.DataFrame
        ``share_customers`` and ``share_value``, both from 0 to 1.
    """
    y, p = paired_arrays(y_true, y_pred)
    n = len(y)
    order = np.argsort(-p, kind="stable")
    cum = np.r_[0.0, np.cumsum(y[order])] / (y.sum() or 1.0)
    idx = np.arange(n + 1) if points is None else np.unique(np.linspace(0, n, points + 1).round())
    idx = idx.astype(int)
    return pd.DataFrame({"share_customers": idx / n, "share_value": cum[idx]})


def decile_table(y_true, y_pred, bins: int = 10) -> pd.DataFrame:
    """Mean predicted and mean actual value per decile of the prediction (1 = highest)."""
    y, p = paired_arrays(y_true, y_pred)
    rank = pd.Series(-p).rank(method="first")
    decile = pd.qcut(rank, bins, labels=False) + 1
    g = pd.DataFrame({"decile": decile, "p": p, "y": y}).groupby("decile")
    return pd.DataFrame(
        {"mean_predicted": g.p.mean(), "mean_actual": g.y.mean(), "n": g.y.size()}
    ).reset_index()


def decile_mape(y_true, y_pred, bins: int = 10) -> float:
    """Mean over predicted deciles of ``|mean predicted - mean actual| / mean actual``
    (deciles with no actual value are left out)."""
    t = decile_table(y_true, y_pred, bins)
    t = t[t.mean_actual > 0]
    return float(((t.mean_predicted - t.mean_actual).abs() / t.mean_actual).mean())


def value_metrics(y_true, y_pred) -> dict[str, float]:
    """Every reported number for predicted customer value."""
    y, p = paired_arrays(y_true, y_pred)
    err = p - y
    return {
        "normalized_gini": normalized_gini(y, p),
        "spearman": spearman(y, p),
        "top10_share": top_share_captured(y, p, 0.1),
        "top20_share": top_share_captured(y, p, 0.2),
        "top20_found": top_customers_found(y, p, 0.2),
        "decile_mape": decile_mape(y, p),
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "total_predicted": float(p.sum()),
        "total_actual": float(y.sum()),
        "n": float(len(y)),
    }


def value_grade(model_found: float, baseline_found: float, a_points: float = 0.05) -> str:
    """A: the model finds at least ``a_points`` more of the true top customers than the
    baseline (absolute share); B: more; C: not more."""
    if model_found >= baseline_found + a_points:
        return "A"
    if model_found > baseline_found:
        return "B"
    return "C"

"""Classification metrics: small, typed, pure functions (arrays in, numbers or tables out)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score


def paired_arrays(y, p) -> tuple[np.ndarray, np.ndarray]:
    """Actual values (or 0/1 labels) and predictions as float arrays of one shape.

    Parameters
    ----------
    y, p
        Row-aligned actual values and predictions (scores), array-like.

    Returns
    -------
    tuple of numpy.ndarray
        ``y`` and ``p`` as floats.

    Raises
    ------
    ValueError
        If the two differ in shape or hold no customers.
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if y.shape != p.shape:
        raise ValueError(f"actual values and predictions differ in shape: {y.shape} vs {p.shape}")
    if y.size == 0:
        raise ValueError("no customers to evaluate")
    return y, p


def top_mask(p: np.ndarray, frac: float) -> np.ndarray:
    """The ``ceil(frac * n)`` highest scores (ties broken by position, stably)."""
    n = len(p)
    k = int(np.ceil(frac * n))
    order = np.argsort(-p, kind="stable")
    mask = np.zeros(n, dtype=bool)
    mask[order[:k]] = True
    return mask


def lift_at(y, p, frac: float = 0.1) -> float:
    """Churn rate in the top ``frac`` by score divided by the overall rate."""
    y, p = paired_arrays(y, p)
    base = y.mean()
    return float(y[top_mask(p, frac)].mean() / base) if base > 0 else float("nan")


def capture_at(y, p, frac: float = 0.1) -> float:
    """Share of all positives found in the top ``frac`` by score."""
    y, p = paired_arrays(y, p)
    total = y.sum()
    return float(y[top_mask(p, frac)].sum() / total) if total > 0 else float("nan")


def precision_recall_f1(y, decision) -> tuple[float, float, float]:
    """Precision, recall and F1 of the positive class for a 0/1 decision."""
    y = np.asarray(y).astype(bool)
    d = np.asarray(decision).astype(bool)
    tp = float((y & d).sum())
    prec = tp / d.sum() if d.sum() else 0.0
    rec = tp / y.sum() if y.sum() else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return prec, rec, f1


def best_threshold(y, p) -> float:
    """The score threshold that maximises F1 of the positive class (ties: the higher one)."""
    y, p = paired_arrays(y, p)
    order = np.argsort(-p, kind="stable")
    ys, ps = y[order], p[order]
    tp = np.cumsum(ys)
    k = np.arange(1, len(ys) + 1)
    f1 = 2 * tp / (k + ys.sum())
    # only cut between distinct scores
    distinct = np.r_[ps[1:] != ps[:-1], True]
    i = int(np.argmax(np.where(distinct, f1, -1.0)))
    return float(ps[i])


def calibration_table(y, p, bins: int = 10) -> pd.DataFrame:
    """Mean predicted vs observed rate in quantile bins of the score."""
    y, p = paired_arrays(y, p)
    q = pd.qcut(pd.Series(p).rank(method="first"), bins, labels=False)
    t = pd.DataFrame({"bin": q, "p": p, "y": y}).groupby("bin")
    return pd.DataFrame(
        {"mean_predicted": t.p.mean(), "observed_rate": t.y.mean(), "n": t.y.size()}
    ).reset_index()


def lift_curve(y, p, points: int = 100) -> pd.DataFrame:
    """Cumulative capture and lift by share of customers contacted (highest scores first)."""
    y, p = paired_arrays(y, p)
    order = np.argsort(-p, kind="stable")
    cum = np.cumsum(y[order])
    n = len(y)
    idx = np.unique(np.linspace(0, n - 1, points).astype(int))
    share = (idx + 1) / n
    capture = cum[idx] / max(y.sum(), 1e-12)
    return pd.DataFrame({"share_contacted": share, "capture": capture, "lift": capture / share})


def classification_metrics(y, p, threshold: float) -> dict[str, float]:
    """Every reported number for scores ``p`` (probabilities) and a decision threshold."""
    y, p = paired_arrays(y, p)
    pc = np.clip(p, 1e-12, 1 - 1e-12)
    prec, rec, f1 = precision_recall_f1(y, p >= threshold)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, pc)),
        "log_loss": float(log_loss(y, pc, labels=[0, 1])),
        "lift_at_10": lift_at(y, p, 0.1),
        "capture_at_10": capture_at(y, p, 0.1),
        "precision": prec,
        "recall": rec,
        "f1": f1,
        "threshold": float(threshold),
        "positive_rate": float(y.mean()),
        "n": float(len(y)),
    }


def grade(model_value: float, baseline_value: float, a_margin: float = 0.10) -> str:
    """A: the model beats the baseline by ``a_margin`` (relative) or more; B: beats it; C: not."""
    if model_value >= baseline_value * (1 + a_margin) and model_value > baseline_value:
        return "A"
    if model_value > baseline_value:
        return "B"
    return "C"

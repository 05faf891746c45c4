"""How well a scorer's outputs match labels: pure functions, arrays in, numbers out."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

#: A complaint score at or above this flags the text as a complaint.
COMPLAINT_THRESHOLD = 0.5


def label_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 of predicted labels (sentiment, or any classes).

    Parameters
    ----------
    y_true, y_pred
        True and predicted labels, row-aligned.

    Returns
    -------
    dict
        ``accuracy`` and ``macro_f1``.
    """
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro")),
    }


def complaint_metrics(
    y_true: np.ndarray, score: np.ndarray, threshold: float = COMPLAINT_THRESHOLD
) -> dict[str, float]:
    """Precision, recall and F1 of ``score >= threshold``, and the score's ROC-AUC.

    Parameters
    ----------
    y_true
        Boolean complaint labels.
    score
        Complaint scores in [0, 1], row-aligned.
    threshold
        The score at which a text counts as a complaint.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1`` (0 where undefined) and ``roc_auc``.
    """
    flag = np.asarray(score) >= threshold
    return {
        "precision": float(precision_score(y_true, flag, zero_division=0)),
        "recall": float(recall_score(y_true, flag, zero_division=0)),
        "f1": float(f1_score(y_true, flag, zero_division=0)),
        "roc_auc": float(roc_auc_score(y_true, score)),
    }

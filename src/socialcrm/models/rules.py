"""The rule baseline commercial churn tools grade against.

"No purchase in the last ``W / 2**k`` days": the rule fires when the customer's
recency exceeds the window; ``k`` is chosen on the data passed to ``fit`` (the
validation snapshot) by F1 on the churners. Its probability is the churn rate
observed when the rule fires or not; its ranking score for ROC/PR curves is the
recency itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import f1_score


class RecencyRule(ClassifierMixin, BaseEstimator):
    """Churn if no purchase in the last ``window_days / 2**k`` days.

    Parameters
    ----------
    window_days
        ``W``, the longest window considered.
    max_k
        Candidate ``k`` run from 0 to ``max_k``.
    column
        The recency feature (days since the last purchase).
    higher_is_riskier
        False for a column where *low* values mean risk (e.g. tenure): the rule
        then fires below ``window / 2**k`` and ranks by the negated value.
    """

    def __init__(
        self,
        window_days: float = 365,
        max_k: int = 6,
        column: str = "recency_days",
        higher_is_riskier: bool = True,
    ):
        self.window_days = window_days
        self.max_k = max_k
        self.column = column
        self.higher_is_riskier = higher_is_riskier

    def _recency(self, X) -> np.ndarray:
        if isinstance(X, pd.DataFrame):
            r = X[self.column].to_numpy(dtype=float)
        else:
            r = np.asarray(X, dtype=float)[:, 0]
        r = np.nan_to_num(r, nan=np.inf)  # never bought: as stale as can be
        return r if self.higher_is_riskier else -r

    def fit(self, X, y):
        y = np.asarray(y).astype(bool)
        r = self._recency(X)
        scores = {}
        sign = 1 if self.higher_is_riskier else -1
        for k in range(self.max_k + 1):
            fired = r > sign * self.window_days / 2**k
            scores[k] = f1_score(y, fired, zero_division=0.0)
        self.k_ = max(scores, key=lambda k: (scores[k], -k))
        self.threshold_days_ = self.window_days / 2**self.k_
        fired = r > sign * self.threshold_days_
        self.rate_fired_ = float(y[fired].mean()) if fired.any() else float(y.mean())
        self.rate_quiet_ = float(y[~fired].mean()) if (~fired).any() else float(y.mean())
        self.classes_ = np.array([False, True])
        self.f1_by_k_ = scores
        return self

    def predict(self, X) -> np.ndarray:
        sign = 1 if self.higher_is_riskier else -1
        return self._recency(X) > sign * self.threshold_days_

    def predict_proba(self, X) -> np.ndarray:
        p = np.where(self.predict(X), self.rate_fired_, self.rate_quiet_)
        return np.column_stack([1 - p, p])

    def decision_function(self, X) -> np.ndarray:
        """The ranking score: the column, signed so that higher means more likely to churn."""
        return self._recency(X)

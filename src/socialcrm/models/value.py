"""Customer-value models: a two-part model for zero-inflated, heavy-tailed spend,
and the commercial rule of thumb CLV tools grade against."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone

DAYS_PER_MONTH = 365.25 / 12


class TwoPartRegressor(RegressorMixin, BaseEstimator):
    """Expected spend as P(buys in the horizon) x E[spend | buys].

    The zero spike (customers who buy nothing) and the heavy tail of those who
    buy are modelled apart: a classifier for buying and a regressor, fitted on
    buyers only, for the amount (a gamma or log-normal loss suits the tail).

    Parameters
    ----------
    classifier
        Estimator with ``predict_proba`` for ``y > 0``.
    regressor
        Estimator for ``y`` on the rows with ``y > 0``.
    random_state
        Passed to both parts (if they take one).
    """

    def __init__(self, classifier=None, regressor=None, random_state: int | None = None):
        self.classifier = classifier
        self.regressor = regressor
        self.random_state = random_state

    def _part(self, estimator):
        part = clone(estimator)
        if self.random_state is not None and "random_state" in part.get_params():
            part.set_params(random_state=self.random_state)
        return part

    def fit(self, X, y):
        if self.classifier is None or self.regressor is None:
            raise ValueError("TwoPartRegressor needs a classifier and a regressor")
        y = np.asarray(y, dtype=float)
        buys = y > 0
        if buys.all() or not buys.any():
            raise ValueError("the two-part model needs rows with and without spend")
        self.classifier_ = self._part(self.classifier).fit(X, buys.astype(int))
        X_buy = X[buys] if hasattr(X, "iloc") else np.asarray(X)[buys]
        self.regressor_ = self._part(self.regressor).fit(X_buy, y[buys])
        return self

    def probability_buys(self, X) -> np.ndarray:
        """P(spend > 0 in the horizon)."""
        return self.classifier_.predict_proba(X)[:, 1]

    def spend_if_buys(self, X) -> np.ndarray:
        """E[spend | spend > 0] (floored at 0)."""
        return np.maximum(self.regressor_.predict(X), 0.0)

    def predict(self, X) -> np.ndarray:
        """Expected spend in the horizon."""
        return self.probability_buys(X) * self.spend_if_buys(X)


def commercial_clv(
    monetary,
    tenure_days,
    window_days: int,
    horizon_days: int,
    retention_rate: float,
) -> np.ndarray:
    """Average monthly spend x months in the horizon x overall retention rate.

    The rule of thumb commercial CLV tools use as their baseline. The monthly
    average is the spend in the last ``window_days`` over the months the
    customer was on the books in that window (at least one month).

    Parameters
    ----------
    monetary
        Spend in the last ``window_days`` before the cutoff.
    tenure_days
        Days from signup to the cutoff.
    window_days, horizon_days
        The look-back window of ``monetary`` and the prediction horizon.
    retention_rate
        Share of customers still active after a horizon (one number for everyone).
    """
    if not 0 <= retention_rate <= 1:
        raise ValueError(f"retention_rate must be in [0, 1], got {retention_rate}")
    spend = np.nan_to_num(np.asarray(monetary, dtype=float), nan=0.0)
    tenure = np.nan_to_num(np.asarray(tenure_days, dtype=float), nan=float(window_days))
    months_seen = np.maximum(np.minimum(tenure, window_days) / DAYS_PER_MONTH, 1.0)
    return spend / months_seen * (horizon_days / DAYS_PER_MONTH) * retention_rate

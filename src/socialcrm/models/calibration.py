"""Probability calibration and the scoring model that carries it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

METHODS = ("none", "isotonic", "sigmoid")
TIE_BREAK = 1e-6


class ProbabilityCalibrator:
    """Map raw scores to calibrated probabilities (isotonic or Platt's sigmoid).

    Parameters
    ----------
    method
        ``isotonic``, ``sigmoid`` or ``none``.
    """

    def __init__(self, method: str = "isotonic"):
        if method not in METHODS:
            raise ValueError(f"calibration must be one of {METHODS}, got {method!r}")
        self.method = method

    def fit(self, p_raw, y) -> ProbabilityCalibrator:
        p = np.asarray(p_raw, dtype=float)
        y = np.asarray(y, dtype=float)
        if self.method == "isotonic":
            self.model_ = IsotonicRegression(y_min=1e-6, y_max=1 - 1e-6, out_of_bounds="clip")
            self.model_.fit(p, y)
        elif self.method == "sigmoid":
            self.model_ = LogisticRegression(C=1e6).fit(_logit(p)[:, None], y)
        return self

    def transform(self, p_raw) -> np.ndarray:
        p = np.asarray(p_raw, dtype=float)
        if self.method == "isotonic":
            # isotonic steps tie whole blocks of customers; a negligible strictly
            # increasing term keeps the model's ranking (ROC-AUC) intact
            return np.clip(self.model_.predict(p) + TIE_BREAK * p, 0.0, 1.0)
        if self.method == "sigmoid":
            return self.model_.predict_proba(_logit(p)[:, None])[:, 1]
        return p


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


@dataclass
class ScoringModel:
    """What gets deployed: the fitted pipeline (with its preprocessing), the
    calibration, the decision threshold and the input columns it expects.

    Attributes
    ----------
    pipeline
        Fitted ``prep`` + ``model`` pipeline.
    numeric, categorical
        Input feature columns by type.
    kind
        ``classification`` or ``regression``.
    calibrator
        Applied to classifier probabilities (None: raw).
    threshold
        Decision threshold chosen on validation (classifiers).
    """

    pipeline: Pipeline
    numeric: list[str]
    categorical: list[str]
    kind: str = "classification"
    calibrator: ProbabilityCalibrator | None = None
    threshold: float = 0.5
    info: dict = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """The input columns in order with the training dtypes (extra columns ignored)."""
        missing = [c for c in self.features if c not in X.columns]
        if missing:
            raise ValueError(f"input lacks feature columns {missing[:10]} (of {len(missing)})")
        out = X[self.features].copy()
        for c in self.numeric:
            out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
        for c in self.categorical:
            out[c] = out[c].astype("str")
        return out

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        Xf = self.frame(X)
        if self.kind == "classification":
            return self.pipeline.predict_proba(Xf)[:, 1]
        return self.pipeline.predict(Xf)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probability (classifiers) or prediction (regressors)."""
        raw = self.raw_score(X)
        if self.kind == "classification" and self.calibrator is not None:
            return self.calibrator.transform(raw)
        return raw

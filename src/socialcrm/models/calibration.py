"""Probability calibration and the scoring model that carries it.

The scoring model guards its own door: :meth:`ScoringModel.frame` checks every
input against the feature contract (each feature column present, numeric
columns numbers, no infinities) and raises :class:`ModelInputError`, whose
message names the columns and the broken rules but never a row's values. The
error is an ``MlflowException`` with code ``INVALID_PARAMETER_VALUE``, so the
REST server (``mlflow models serve``) answers it with HTTP 400 and that message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

METHODS = ("none", "isotonic", "sigmoid")
TIE_BREAK = 1e-6

#: A feature column is absent from the input.
MISSING_COLUMN = "missing_column"
#: A feature column appears more than once in the input.
DUPLICATE_COLUMN = "duplicate_column"
#: A numeric feature holds values that are not numbers (text, dates).
NOT_NUMERIC = "not_numeric"
#: A numeric feature holds +inf or -inf (NaN, a missing value, is allowed).
NON_FINITE = "non_finite"
RULES = {
    MISSING_COLUMN: "feature column absent",
    DUPLICATE_COLUMN: "feature column given more than once",
    NOT_NUMERIC: "values that are not numbers",
    NON_FINITE: "+inf or -inf; NaN is allowed",
}
#: Columns named per rule in the message (all of them are in ``ModelInputError.problems``).
MAX_NAMED = 5


class ModelInputError(MlflowException, ValueError):
    """The input breaks the model's feature contract.

    The message names the broken rules and the columns (with how many rows break
    them), never a value, an identifier or the input frame.

    A ``ValueError`` for callers in Python; an ``MlflowException`` with error code
    ``INVALID_PARAMETER_VALUE`` for MLflow's scoring server, which then answers
    HTTP 400 with the body ``{"error_code": "INVALID_PARAMETER_VALUE", "message":
    ..., "problems": ..., "n_rows": ...}`` (any other exception gets a generic
    message and the server's stack trace).

    Parameters
    ----------
    problems
        ``{rule: {column: rows}}``: for each broken rule (:data:`RULES`), the
        offending columns and how many rows break it there (0: the whole column).
    n_rows
        Rows in the input.
    """

    def __init__(self, problems: dict[str, dict[str, int]], n_rows: int):
        self.problems = problems
        self.n_rows = n_rows
        super().__init__(
            input_error_message(problems, n_rows),
            error_code=INVALID_PARAMETER_VALUE,
            problems=problems,
            n_rows=n_rows,
        )

    @property
    def message(self) -> str:
        """The short text (what ``str`` gives and the server's JSON body carries)."""
        return input_error_message(self.problems, self.n_rows)

    @message.setter
    def message(self, value: str) -> None:
        # Ignored on purpose: MLflow's scoring server rewrites the message of an
        # MlflowException raised in predict to "Failed to predict data '<frame>'...",
        # the frame's repr showing customer ids and feature values to the client.
        pass

    def __reduce__(self):
        return type(self), (self.problems, self.n_rows)


def input_error_message(problems: dict[str, dict[str, int]], n_rows: int) -> str:
    """The short text of a :class:`ModelInputError`: rules and columns, no values."""
    parts = []
    for rule, meaning in RULES.items():
        columns = problems.get(rule)
        if not columns:
            continue
        named = [
            f"{c} ({n} of {n_rows} rows)" if n else c for c, n in list(columns.items())[:MAX_NAMED]
        ]
        more = f" and {len(columns) - MAX_NAMED} more" if len(columns) > MAX_NAMED else ""
        parts.append(f"{rule} ({meaning}): {', '.join(named)}{more}")
    # the row count tells an empty request (no rows, hence no columns) from a wrong one
    rows = f"{n_rows} row{'' if n_rows == 1 else 's'}"
    return f"model input rejected ({rows}): " + "; ".join(parts) + ". Row values are not shown."


def _not_numbers(values: pd.Series, numbers: pd.Series) -> int:
    """Rows holding something (not missing) that is not a number."""
    if pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_timedelta64_dtype(values):
        return int(values.notna().sum())
    return int((values.notna() & numbers.isna()).sum())


def to_float(values: pd.Series) -> pd.Series:
    """A column as float64: numbers kept, missing values and non-numbers as NaN."""
    numbers = pd.to_numeric(values, errors="coerce")
    return pd.Series(numbers.to_numpy(dtype="float64", na_value=np.nan), index=values.index)


def input_problems(
    X: pd.DataFrame, numeric: list[str], categorical: list[str]
) -> dict[str, dict[str, int]]:
    """How ``X`` breaks the feature contract (empty: it does not).

    Parameters
    ----------
    X
        Input rows; columns other than the features are ignored.
    numeric, categorical
        The model's feature columns by type (categorical values may be anything).

    Returns
    -------
    dict
        ``{rule: {column: rows}}`` for the broken rules only (see :class:`ModelInputError`).
    """
    columns = pd.Index(X.columns)
    counts = columns.value_counts()
    problems: dict[str, dict[str, int]] = {rule: {} for rule in RULES}
    for c in [*numeric, *categorical]:
        if c not in counts:
            problems[MISSING_COLUMN][c] = 0
        elif counts[c] > 1:
            problems[DUPLICATE_COLUMN][c] = 0
    for c in numeric:
        if counts.get(c, 0) != 1:
            continue
        numbers = to_float(X[c])
        if text := _not_numbers(X[c], numbers):
            problems[NOT_NUMERIC][c] = text
        if infinite := int(np.isinf(numbers.to_numpy()).sum()):
            problems[NON_FINITE][c] = infinite
    return {rule: cols for rule, cols in problems.items() if cols}


def feature_frame(
    X: pd.DataFrame, numeric: list[str], categorical: list[str], check: bool = True
) -> pd.DataFrame:
    """The feature columns of ``X`` in order, numbers as floats and categories as text
    (extra columns dropped): what every deployed model scores.

    Raises
    ------
    ModelInputError
        With ``check``: a feature column is missing or duplicated, or a numeric one
        holds non-numbers or infinities (see :func:`input_problems`).
    """
    if check and (problems := input_problems(X, numeric, categorical)):
        raise ModelInputError(problems, len(X))
    out = X[[*numeric, *categorical]].copy()
    for c in numeric:
        out[c] = to_float(out[c])
    for c in categorical:
        out[c] = out[c].astype("str")
    return out


class FeatureInput:
    """What a deployed model takes: ``numeric`` and ``categorical`` feature columns,
    checked at the door (the scoring model and the offer model share it)."""

    numeric: list[str]
    categorical: list[str]

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """The input columns in order with the training dtypes (extra columns ignored).

        Raises
        ------
        ModelInputError
            A feature column is missing or duplicated, or a numeric one holds
            non-numbers or infinities (see :func:`input_problems`).
        """
        return feature_frame(X, self.numeric, self.categorical)


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
class ScoringModel(FeatureInput):
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

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        Xf = self.frame(X)
        if Xf.empty:  # scikit-learn refuses zero rows; nothing to score is no error
            return np.empty(0, dtype="float64")
        if self.kind == "classification":
            return self.pipeline.predict_proba(Xf)[:, 1]
        return self.pipeline.predict(Xf)

    @property
    def output_name(self) -> str:
        """The score's column in what the deployed model returns."""
        return "probability" if self.kind == "classification" else "prediction"

    def scores(self, X: pd.DataFrame) -> pd.DataFrame:
        """What the deployed model returns before reasons: the score, and for
        classifiers the ``decision`` at the threshold chosen on validation."""
        X = self.frame(X)
        out = pd.DataFrame({self.output_name: self.predict(X)}, index=X.index)
        if self.kind == "classification":
            out["decision"] = out[self.output_name] >= self.threshold
        return out

    @property
    def explainable(self) -> bool:
        """Whether :meth:`explanation` can explain this model (SHAP supports it)."""
        from socialcrm.explain.shap_values import explainable

        return explainable(self.pipeline)

    def explanation(self, X: pd.DataFrame):
        """Per-row contributions of each input feature to the score's margin
        (:class:`~socialcrm.explain.shap_values.Explanation`): what reason codes and
        the SHAP plots show. ``X`` as returned by :meth:`frame`."""
        from socialcrm.explain.shap_values import explain

        return explain(self.pipeline, X, background=self.info.get("background"))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probability (classifiers) or prediction (regressors)."""
        raw = self.raw_score(X)
        # the calibrators, scikit-learn models too, refuse zero rows
        if raw.size and self.kind == "classification" and self.calibrator is not None:
            return self.calibrator.transform(raw)
        return raw

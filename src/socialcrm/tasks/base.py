"""What every task shares: the data it learns from, fitting with calibration, results.

A task (churn, CLV, next best offer) is a class with plain-value parameters
built by ``hydra.utils.instantiate(cfg.task)``; its ``fit_evaluate`` takes the
feature table, its manifest, the feature groups to use and a model config, and
returns a :class:`TaskResult`. Nothing here touches disk or MLflow.

Evaluation is by time (train on earlier cutoffs, calibrate and choose the
threshold on the validation cutoff, report on the test cutoff) or, for data
that arrive as one customer table without time (``evaluation: cv``), by
stratified K-fold cross-validation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from socialcrm.evaluation.metrics import best_threshold
from socialcrm.models.calibration import ProbabilityCalibrator, ScoringModel
from socialcrm.models.factory import build_pipeline


@dataclass
class TaskData:
    """The rows and columns a task learns from."""

    frame: pd.DataFrame
    numeric: list[str]
    categorical: list[str]
    target: str

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def part(self, split: str) -> pd.DataFrame:
        return self.frame[self.frame["split"] == split]

    def X(self, rows: pd.DataFrame) -> pd.DataFrame:
        return rows[self.features]

    def y(self, rows: pd.DataFrame) -> np.ndarray:
        return rows[self.target].to_numpy()


@dataclass
class TaskResult:
    """Everything a run reports; the tracking layer logs it.

    Attributes
    ----------
    metrics
        Test metrics of the model (``valid_*`` keys: validation; CV: fold means).
    baseline_metrics
        The same metrics for the task's baseline.
    grade
        A, B or C against the baseline.
    model
        The deployable :class:`ScoringModel` (fitted on the training rows).
    tables
        Named tables to log (curves, reasons, importance, per-fold metrics).
    figures
        Named figures to log.
    scored
        The rows the model was evaluated on, with keys and predictions.
    """

    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    grade: str
    model: ScoringModel
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, plt.Figure] = field(default_factory=dict)
    scored: pd.DataFrame | None = None
    info: dict[str, Any] = field(default_factory=dict)


def select_columns(
    manifest: Sequence[Mapping[str, str]], groups: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Numeric and categorical feature columns of the chosen groups, in manifest order."""
    wanted = set(groups)
    numeric, categorical = [], []
    for spec in manifest:
        if spec["role"] != "feature" or spec["group"] not in wanted:
            continue
        (categorical if spec["dtype"] == "category" else numeric).append(spec["name"])
    if not numeric and not categorical:
        raise ValueError(f"no features in groups {list(groups)}")
    return numeric, categorical


def task_data(
    frame: pd.DataFrame, manifest: Sequence[Mapping[str, str]], groups: Sequence[str], target: str
) -> TaskData:
    """The task's view of the feature table (rows without a label are dropped)."""
    if target not in frame.columns:
        raise ValueError(f"the feature table has no label column {target!r}")
    numeric, categorical = select_columns(manifest, groups)
    keys = [c for c in ("customer_id", "cutoff", "split") if c in frame.columns]
    rows = frame.loc[frame[target].notna(), [*keys, *numeric, *categorical, target]]
    return TaskData(rows.reset_index(drop=True), numeric, categorical, target)


def fit_calibrated(
    data: TaskData,
    train: pd.DataFrame,
    calib: pd.DataFrame | None,
    model_cfg: Mapping[str, Any],
    calibration: str,
    seed: int,
) -> ScoringModel:
    """Fit a classifier on ``train``, calibrate it and choose its decision threshold.

    Calibration and threshold use ``calib`` (the validation cutoff) or, with
    ``calib=None``, out-of-fold predictions on ``train`` (3-fold cross-fitting)
    for data without a validation cutoff. The threshold maximises F1 on the
    churners (the positive class).
    """
    pipe = build_pipeline(model_cfg, "classification", data.numeric, data.categorical, seed)
    X, y = data.X(train), data.y(train).astype(int)
    if calib is None:
        folds = StratifiedKFold(3, shuffle=True, random_state=seed)
        p_cal = cross_val_predict(pipe, X, y, cv=folds, method="predict_proba")[:, 1]
        y_cal = y
    pipe.fit(X, y)
    if calib is not None:
        p_cal = pipe.predict_proba(data.X(calib))[:, 1]
        y_cal = data.y(calib).astype(int)
    calibrator = ProbabilityCalibrator(calibration).fit(p_cal, y_cal)
    model = ScoringModel(
        pipeline=pipe,
        numeric=data.numeric,
        categorical=data.categorical,
        kind="classification",
        calibrator=calibrator if calibration != "none" else None,
    )
    p = calibrator.transform(p_cal) if calibration != "none" else p_cal
    model.threshold = best_threshold(y_cal, p)
    # a few training rows (features only, no identifiers): the baseline for explaining
    # linear models wherever the model is loaded
    model.info["background"] = model.frame(X.sample(min(len(X), 200), random_state=seed))
    return model


def cv_folds(y: np.ndarray, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified K-fold (shuffled with ``seed``) indices."""
    return list(
        StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    )


def mean_sd(per_fold: pd.DataFrame) -> dict[str, float]:
    """``metric`` (mean) and ``metric_sd`` (sample sd) for every column."""
    out = {}
    for c in per_fold.columns:
        out[c] = float(per_fold[c].mean())
        out[f"{c}_sd"] = float(per_fold[c].std(ddof=1)) if len(per_fold) > 1 else 0.0
    return out

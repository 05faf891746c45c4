"""What every task shares: the data it learns from, fitting with calibration, results.

A task (churn, CLV, next best offer) is a class with plain-value parameters
built by :func:`socialcrm.runner.build_task` (``hydra.utils.instantiate`` of
``cfg.task`` without the run edge's keys) that follows
:class:`socialcrm.tasks.protocol.Task`; its ``fit_evaluate`` takes the feature
table, its manifest, the feature groups to use and a model config, and returns
a :class:`TaskResult`: numbers, tables and plot functions, never drawn figures
(the run edge draws them and explains with SHAP when it publishes). Nothing
here touches disk or MLflow.

Evaluation is by time (train on earlier cutoffs, calibrate and choose the
threshold on the validation cutoff, report on the test cutoff) or, for data
that arrive as one customer table without time (``evaluation: cv``), by
stratified K-fold cross-validation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from socialcrm.data.privacy import hash_identifiers
from socialcrm.evaluation.metrics import best_threshold
from socialcrm.explain.shap_values import (
    global_importance,
    group_bar,
    group_importance,
    reason_codes,
    synthetic_background,
    to_shap_explanation,
)
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
    drawings
        Named plots, each a function that draws on the Axes it is given; the run
        edge draws them (``figures``) only when it publishes a run, so fitting
        (tuning trials, experiment grids, backtest origins) makes no figure.
    figure_size
        Size of each drawn figure (inches).
    figures
        The drawn figures (filled by the run edge's render step).
    explain_rows
        The rows the run edge explains with SHAP when it publishes (the test rows).
    scored
        The rows the model was evaluated on, with keys and predictions.
    info
        Anything else worth keeping (not logged as metrics).
    references
        Metrics of other reference models by name (e.g. the BTYD model for CLV),
        logged as ``<name>_<metric>``.
    """

    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    grade: str
    model: ScoringModel
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    drawings: dict[str, Callable[[plt.Axes], object]] = field(default_factory=dict)
    figure_size: tuple[float, float] = (6, 4)
    figures: dict[str, plt.Figure] = field(default_factory=dict)
    explain_rows: pd.DataFrame | None = None
    scored: pd.DataFrame | None = None
    info: dict[str, Any] = field(default_factory=dict)
    references: dict[str, dict[str, float]] = field(default_factory=dict)


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
    frame: pd.DataFrame,
    manifest: Sequence[Mapping[str, str]],
    groups: Sequence[str],
    target: str,
    extra: Sequence[str] = (),
) -> TaskData:
    """The task's view of the feature table (rows without a label are dropped).

    ``extra`` columns (baseline scores, say) are carried along, not used as features.
    """
    if target not in frame.columns:
        raise ValueError(f"the feature table has no label column {target!r}")
    numeric, categorical = select_columns(manifest, groups)
    keys = [c for c in ("customer_id", "cutoff", "split", *extra) if c in frame.columns]
    keys = [c for c in dict.fromkeys(keys) if c not in (*numeric, *categorical, target)]
    rows = frame.loc[frame[target].notna(), [*keys, *numeric, *categorical, target]]
    return TaskData(rows.reset_index(drop=True), numeric, categorical, target)


def latest_labelled_rows(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """The rows a deployed model is judged on: the test cutoff's labelled rows (the
    latest cutoff whose horizon is observed), or every labelled row of a table
    without a split (one customer table)."""
    if target not in frame.columns:
        raise ValueError(f"the feature table has no label column {target!r}")
    rows = frame[frame[target].notna()]
    if "split" in rows.columns:
        rows = rows[rows["split"] == "test"]
    if rows.empty:
        raise ValueError(f"the feature table has no labelled test rows ({target})")
    return rows.reset_index(drop=True)


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
    # the baseline for explaining linear models wherever the model is loaded: quantile
    # rows of the training data, no customer's row (the model travels with it)
    model.info["background"] = synthetic_background(model.frame(X), k=200, seed=seed)
    return model


def draw_figures(
    drawings: Mapping[str, Callable[[plt.Axes], object]], size: tuple[float, float] = (6, 4)
) -> dict[str, plt.Figure]:
    """One figure per named drawing function (each draws on the Axes it is given)."""
    figures = {}
    for name, draw in drawings.items():
        fig, ax = plt.subplots(figsize=size)
        draw(ax)
        fig.tight_layout()
        figures[name] = fig
    return figures


def explanation_outputs(
    model: ScoringModel,
    rows: pd.DataFrame,
    score_name: str,
    salt: str,
    top_reasons: int,
    max_rows: int,
    groups: Mapping[str, str] | None = None,
) -> tuple[dict[str, pd.DataFrame], dict[str, plt.Figure]]:
    """SHAP for the rows a task reports on: global factors, reason codes, plots.

    Parameters
    ----------
    groups
        Feature name -> feature group (the manifest); adds the by-group table and bar.

    Returns
    -------
    (tables, figures)
        ``shap_importance`` (the most influential factors with their direction)
        and ``reasons`` (per customer, with a hashed identifier and the score
        ``score_name``); ``shap_beeswarm`` and ``shap_bar`` (at most ``max_rows``
        rows drawn); with ``groups``, ``shap_groups`` (table and bar).
    """
    import shap

    expl = model.explanation(model.frame(rows))
    reasons = reason_codes(expl, top_reasons)
    ids = rows["customer_id"] if "customer_id" in rows.columns else pd.Series(rows.index)
    reasons.insert(0, "customer_hash", hash_identifiers(ids.astype(str), "handle", salt))
    if "cutoff" in rows.columns:
        reasons.insert(1, "cutoff", rows["cutoff"].to_numpy())
    reasons.insert(2, score_name, model.scores(rows)[score_name].to_numpy())
    tables = {
        "shap_importance": global_importance(expl),
        "reasons": reasons.reset_index(drop=True),
    }
    sx = to_shap_explanation(expl, max_rows)
    figures = {}
    for name, plot, extra in (
        ("shap_beeswarm", shap.plots.beeswarm, {"plot_size": None}),
        ("shap_bar", shap.plots.bar, {}),
    ):
        fig, ax = plt.subplots(figsize=(8, 6))
        plot(sx, max_display=15, ax=ax, show=False, **extra)
        fig.tight_layout()
        figures[name] = fig
    if groups:
        tables["shap_groups"] = group_importance(expl, groups)
        fig, ax = plt.subplots(figsize=(7, 0.5 * len(tables["shap_groups"]) + 1.5))
        group_bar(tables["shap_groups"], ax)
        fig.tight_layout()
        figures["shap_groups"] = fig
    return tables, figures

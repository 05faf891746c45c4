"""The CLV task: what each customer will spend in the horizon, and what they bring.

Fits the configured regressor (``model=lightgbm``: Tweedie loss for the zero
spike and heavy tail; ``model=two_part``: P(buy) x E[spend | buy]; any model on
``features`` that include the ``btyd`` group is the hybrid) on the earlier
cutoffs and reports on the test cutoff against two references:

- the commercial baseline it is graded against: average monthly spend x months
  in the horizon x overall retention rate (the retention rate from the
  training cutoffs' labels);
- the probabilistic BTYD model (BG/NBD + Gamma-Gamma, the ``btyd_clv`` feature)
  when the table has it.

With a referrals table in the context it adds customer referral value (CRV):
the predicted CLV of the customers each customer referred, and how many of the
top customers by CLV + CRV a CLV-only ranking misses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from socialcrm.data.privacy import hash_identifiers
from socialcrm.evaluation import plots as eval_plots
from socialcrm.evaluation.value import decile_table, gain_curve, value_grade, value_metrics
from socialcrm.explain.shap_values import synthetic_background
from socialcrm.models.calibration import ScoringModel
from socialcrm.models.factory import build_pipeline
from socialcrm.models.value import commercial_clv
from socialcrm.tasks.base import TaskResult, latest_labelled_rows, task_data
from socialcrm.tasks.protocol import Headline
from socialcrm.tasks.referral import missed_by_clv, referral_value
from socialcrm.tasks.splits import cv_folds, mean_sd

BASELINE = "baseline_clv"
GRADE_METRIC = "top20_found"  # share of the true top-20% customers found


class ClvTask:
    """Customer lifetime value over the label horizon, graded against the commercial rule.

    Parameters
    ----------
    target
        Label column (``label_future_spend``: net spend in the horizon).
    metric
        Validation metric a sweep or tuner maximises.
    horizon_days
        The label horizon (for the commercial baseline's months).
    evaluation
        ``time`` (train / valid / test cutoffs) or ``cv`` (K-fold, for one table
        without time).
    cv_folds
        Folds for ``evaluation: cv``.
    baseline
        The commercial baseline's inputs: ``monetary_column`` (spend in the
        last ``window_days``), ``tenure_column`` and ``churn_column`` (whose
        training mean gives the retention rate).
    reference_column
        The BTYD CLV feature reported as a second reference (if present).
    grade_points
        Grade A: the model finds at least this many more (absolute share) of the
        true top-20% customers than the baseline.
    referral_top
        Size of the top list for the referral-value comparison.
    explain, explain_max_rows, top_reasons
        SHAP settings as in the churn task.
    salt
        Key for hashing customer identifiers in the reason and referral tables.
    """

    name = "clv"
    question = (
        "What will each customer spend in the horizon after the cutoff, and who are the "
        "most valuable customers, counting the customers they brought in?"
    )
    kind = "regression"
    context_tables = ("referrals",)
    context_models: Mapping[str, str] = {}
    headline = (
        Headline("normalized Gini", "normalized_gini", ".3f"),
        Headline("Spearman", "spearman", ".3f"),
        Headline("top-10% value share", "top10_share", ".3f"),
        Headline("top-20% found", "top20_found", ".3f"),
        Headline("decile MAPE", "decile_mape", ".3f"),
        Headline("MAE", "mae", ".1f"),
        Headline("RMSE", "rmse", ".1f"),
        Headline("total predicted", "total_predicted", ",.0f"),
        Headline("total actual", "total_actual", ",.0f"),
    )
    dvc_tables = ("deciles", "gain")

    def __init__(
        self,
        target: str = "label_future_spend",
        metric: str = "normalized_gini",
        horizon_days: int = 90,
        evaluation: str = "time",
        cv_folds: int = 5,
        baseline: Mapping[str, Any] | None = None,
        reference_column: str | None = "btyd_clv",
        grade_points: float = 0.05,
        referral_top: int = 100,
        explain: bool = True,
        explain_max_rows: int = 5000,
        top_reasons: int = 3,
        salt: str = "socialcrm",
    ):
        self.target = target
        self.metric = metric
        if evaluation not in ("time", "cv"):
            raise ValueError(f"task.evaluation must be time or cv, got {evaluation!r}")
        self.horizon_days = int(horizon_days)
        self.evaluation = evaluation
        self.n_folds = cv_folds
        self.baseline = {
            "monetary_column": "monetary_365d",
            "window_days": 365,
            "tenure_column": "tenure_days",
            "churn_column": "label_churn",
        } | dict(baseline or {})
        self.reference_column = reference_column
        self.grade_points = grade_points
        self.referral_top = referral_top
        self.explain = explain
        self.explain_max_rows = explain_max_rows
        self.top_reasons = top_reasons
        self.salt = salt

    # -- the protocol ---------------------------------------------------------------
    def fit_evaluate(
        self,
        frame: pd.DataFrame,
        manifest: Sequence[Mapping[str, str]],
        groups: Sequence[str],
        model_cfg: Mapping[str, Any],
        seed: int,
        context: Mapping[str, pd.DataFrame] | None = None,
    ) -> TaskResult:
        """Fit on the training cutoffs, evaluate on the test cutoff, explain, add CRV.

        ``context["referrals"]`` (``referrer_id, referred_id, timestamp``), if
        given, adds the referral value tables and metrics.
        """
        if self.evaluation == "cv":
            return self._by_cv(frame, manifest, groups, model_cfg, seed)
        if "split" not in frame.columns:
            raise ValueError(
                "task=clv evaluates by time: the feature table needs a split column "
                "(train / valid / test cutoffs); for one table without time set "
                "task.evaluation=cv"
            )
        frame, data, reference, retention = self._data(frame, manifest, groups)
        train, valid, test = data.part("train"), data.part("valid"), data.part("test")
        for name, part in (("train", train), ("valid", valid), ("test", test)):
            if part.empty:
                raise ValueError(f"the {name} split has no rows")
        model = self._fit(data, train, model_cfg, seed)
        y_test = data.y(test).astype(float)
        p_test = model.predict(data.X(test))
        metrics = value_metrics(y_test, p_test)
        valid_metrics = value_metrics(data.y(valid).astype(float), model.predict(data.X(valid)))
        metrics.update({f"valid_{k}": v for k, v in valid_metrics.items()})
        scores = self._scores(test, p_test, reference)
        base = value_metrics(y_test, scores["commercial baseline"])
        references = {"btyd": value_metrics(y_test, scores["BTYD"])} if reference else {}
        result = self._result(data, model, metrics, base, references, test, y_test, scores)
        result.info["retention_rate"] = retention
        if context and context.get("referrals") is not None:
            self._referrals(result, context["referrals"])
        return result

    def _data(self, frame: pd.DataFrame, manifest, groups):
        """The frame with the baseline column, the task data, the reference column, retention."""
        retention = self.retention_rate(frame)
        frame = frame.assign(**{BASELINE: self.baseline_prediction(frame, retention)})
        reference = self.reference_column if self.reference_column in frame.columns else None
        extra = [BASELINE, *([reference] if reference else [])]
        return (
            frame,
            task_data(frame, manifest, groups, self.target, extra=extra),
            reference,
            retention,
        )

    def _fit(self, data, rows: pd.DataFrame, model_cfg, seed: int) -> ScoringModel:
        pipe = build_pipeline(model_cfg, "regression", data.numeric, data.categorical, seed)
        # net spend can dip below zero (returns only); the losses need y >= 0
        pipe.fit(data.X(rows), np.clip(data.y(rows), 0.0, None))
        model = ScoringModel(pipe, data.numeric, data.categorical, kind="regression")
        model.info["background"] = synthetic_background(model.frame(data.X(rows)), k=200, seed=seed)
        return model

    @staticmethod
    def _scores(rows: pd.DataFrame, predicted: np.ndarray, reference: str | None) -> dict:
        scores = {"model": predicted, "commercial baseline": rows[BASELINE].to_numpy()}
        if reference:
            # no purchase before the cutoff: BG/NBD has nothing to say; value 0
            scores["BTYD"] = rows[reference].fillna(0.0).to_numpy()
        return scores

    def _result(self, data, model, metrics, base, references, rows, y, scores) -> TaskResult:
        keys = [c for c in ("customer_id", "cutoff") if c in rows.columns]
        scored = rows[keys].assign(actual=y, prediction=scores["model"])
        for name, s in scores.items():
            if name != "model":
                scored[name.replace(" ", "_").lower()] = s
        result = TaskResult(
            metrics=metrics,
            baseline_metrics=base,
            grade=value_grade(metrics[GRADE_METRIC], base[GRADE_METRIC], self.grade_points),
            model=model,
            scored=scored.reset_index(drop=True),
            references=references,
            info={"n_features": len(data.features)},
            explain_rows=rows,
        )
        self._report(result, y, scores)
        return result

    def _by_cv(self, frame: pd.DataFrame, manifest, groups, model_cfg, seed: int) -> TaskResult:
        """K-fold cross-validation for one table without time: metrics are fold means
        (``<metric>_sd`` the spread); the deployable model is fitted on every row."""
        frame, data, reference, retention = self._data(frame, manifest, groups)
        rows = data.frame
        y = data.y(rows).astype(float)
        folds = cv_folds(y, self.n_folds, seed, stratify=False)
        oof = np.zeros(len(rows))
        per_fold, per_fold_base, per_fold_btyd = [], [], []
        for train_idx, test_idx in folds:
            model = self._fit(data, rows.iloc[train_idx], model_cfg, seed)
            oof[test_idx] = model.predict(data.X(rows.iloc[test_idx]))
            fold_scores = self._scores(rows.iloc[test_idx], oof[test_idx], reference)
            per_fold.append(value_metrics(y[test_idx], oof[test_idx]))
            per_fold_base.append(value_metrics(y[test_idx], fold_scores["commercial baseline"]))
            if reference:
                per_fold_btyd.append(value_metrics(y[test_idx], fold_scores["BTYD"]))
        metrics = mean_sd(pd.DataFrame(per_fold))
        base = mean_sd(pd.DataFrame(per_fold_base))
        references = {"btyd": mean_sd(pd.DataFrame(per_fold_btyd))} if reference else {}
        final = self._fit(data, rows, model_cfg, seed)
        result = self._result(
            data, final, metrics, base, references, rows, y, self._scores(rows, oof, reference)
        )
        result.info["retention_rate"] = retention
        result.tables["cv_folds"] = pd.DataFrame(per_fold).assign(fold=np.arange(1, len(folds) + 1))
        return result

    # -- a deployed model ---------------------------------------------------------------
    def evaluation_rows(
        self,
        frame: pd.DataFrame,
        manifest: Sequence[Mapping[str, str]],
        groups: Sequence[str],
        model_cfg: Mapping[str, Any],
        seed: int,
        context: Mapping[str, pd.DataFrame] | None = None,
    ) -> pd.DataFrame:
        """The test cutoff's labelled rows (every row of a customer table)."""
        return latest_labelled_rows(frame, self.target)

    def deployed_metrics(self, rows: pd.DataFrame, outputs: pd.DataFrame) -> dict[str, float]:
        """The training run's test metrics of the model's ``prediction``."""
        y = rows[self.target].astype(float).to_numpy()
        return value_metrics(y, outputs["prediction"].to_numpy(float))

    def decide(
        self,
        rows: pd.DataFrame,
        outputs: pd.DataFrame,
        context: Mapping[str, pd.DataFrame] | None = None,
    ) -> pd.Series | None:
        """None: a value is a number to act on, not a decision."""
        return None

    def retention_rate(self, frame: pd.DataFrame) -> float:
        """Share of customers still active after a horizon, from the training cutoffs:
        ``1 - churn rate``, or without a churn label the share who bought in the horizon."""
        churn = self.baseline["churn_column"]
        train = frame[frame["split"] == "train"] if "split" in frame.columns else frame
        if churn in frame.columns and train[churn].notna().any():
            return float(1.0 - train[churn].astype(float).mean())
        return float((train[self.target] > 0).mean())

    def baseline_prediction(self, frame: pd.DataFrame, retention: float) -> np.ndarray:
        """The commercial baseline for every row of the feature table."""
        b = self.baseline
        missing = [c for c in (b["monetary_column"], b["tenure_column"]) if c not in frame.columns]
        if missing:
            raise ValueError(f"the commercial CLV baseline needs columns {missing} (the crm group)")
        return commercial_clv(
            frame[b["monetary_column"]],
            frame[b["tenure_column"]],
            int(b["window_days"]),
            self.horizon_days,
            retention,
        )

    # -- reporting ------------------------------------------------------------------
    def summary_rows(self, result: TaskResult) -> list[tuple[str, str, str]]:
        """How many of the top customers by CLV + referral value a CLV ranking misses."""
        m = result.metrics
        key = f"referral_top{self.referral_top}_missed_by_clv"
        if key not in m:
            return []
        return [
            (
                "referral value",
                f"{m[key]:.0f} of the top by CLV + CRV missed by CLV alone",
                f"CRV {m['crv_share_of_value']:.1%} of value",
            )
        ]

    def _report(self, result: TaskResult, y: np.ndarray, scores: dict[str, np.ndarray]) -> None:
        deciles = {name: decile_table(y, s) for name, s in scores.items()}
        comparison = pd.DataFrame(
            [{"model": name} | value_metrics(y, s) for name, s in scores.items()]
        )
        result.tables |= {
            "deciles": deciles["model"],
            "deciles_baseline": deciles["commercial baseline"],
            "comparison": comparison,
            "gain": gain_curve(y, scores["model"], points=100),
        }
        if "BTYD" in deciles:
            result.tables["deciles_btyd"] = deciles["BTYD"]
        result.drawings |= {
            "deciles": lambda ax: eval_plots.deciles(deciles, ax),
            "gain": lambda ax: eval_plots.gain(y, scores, ax),
        }
        result.figure_size = (7, 4.5)

    def _referrals(self, result: TaskResult, referrals: pd.DataFrame) -> None:
        scored = result.scored
        cutoff = scored["cutoff"].max()
        latest = scored[scored["cutoff"] == cutoff]
        values = referral_value(
            latest[["customer_id"]].assign(clv=latest["prediction"].to_numpy()),
            referrals,
            cutoff,
        )
        missed, top = missed_by_clv(values, self.referral_top)
        result.metrics |= {
            f"referral_top{self.referral_top}_missed_by_clv": float(missed),
            "crv_total": float(values["crv"].sum()),
            "crv_share_of_value": float(values["crv"].sum() / values["total_value"].sum())
            if values["total_value"].sum()
            else float("nan"),
            "customers_with_crv": float((values["crv"] > 0).sum()),
        }
        top.insert(0, "customer_hash", hash_identifiers(top["customer_id"], "handle", self.salt))
        result.tables["referral_top"] = top.drop(columns="customer_id")
        result.info["referral_values"] = values

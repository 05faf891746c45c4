"""The churn task: who is about to leave, why, and whom to contact.

Fits the configured classifier with calibrated probabilities, grades it against
the recency rule commercial tools use ("no purchase in the last W/2^k days"),
explains it with SHAP (global factors and per-customer reason codes) and turns
its probabilities into a retention campaign (expected profit by number of
customers contacted, and the best cut).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from socialcrm.evaluation import plots as eval_plots
from socialcrm.evaluation.metrics import (
    calibration_table,
    classification_metrics,
    grade,
    lift_curve,
    precision_recall_f1,
)
from socialcrm.evaluation.profit import best_cut, profit_curve
from socialcrm.models.rules import RecencyRule
from socialcrm.tasks.base import (
    TaskData,
    TaskResult,
    fit_calibrated,
    latest_labelled_rows,
    task_data,
)
from socialcrm.tasks.protocol import Headline
from socialcrm.tasks.splits import cv_folds, mean_sd

GRADE_METRIC = "f1"  # churner F1 at the threshold chosen on validation


class ChurnTask:
    """Churn prediction with a graded baseline, explanations and a campaign view.

    Parameters
    ----------
    target
        Label column (``label_churn``).
    metric
        Validation metric a sweep or tuner maximises.
    calibration
        ``isotonic``, ``sigmoid`` or ``none``.
    evaluation
        ``time`` (train / valid / test cutoffs) or ``cv`` (stratified K-fold).
    cv_folds
        Folds for ``evaluation: cv``.
    baseline
        Keyword arguments of :class:`~socialcrm.models.rules.RecencyRule`.
    grade_margin
        Relative margin over the baseline's churner F1 for grade A.
    contact_cost, saved_value, save_rate
        Retention campaign economics (value of a saved customer, share of
        contacted churners who stay).
    value_model
        A CLV model (``socialcrm-clv@challenger``, or a logged model's URI such
        as ``models:/m-...``) whose prediction
        is each customer's value when saved; the training entry point scores
        it and passes the values as ``context["customer_value"]``. Customers
        without a value (or no such model) are worth ``saved_value``.
    explain, explain_max_rows, top_reasons
        SHAP settings: explain the test rows (plots use at most
        ``explain_max_rows``), with this many reasons each way.
    salt
        Key for hashing customer identifiers in the reason-code table.
    """

    name = "churn"
    question = (
        "Who will leave in the horizon after the cutoff, why, and whom should a "
        "retention campaign contact?"
    )
    kind = "classification"
    context_tables: tuple[str, ...] = ()
    headline = (
        Headline("ROC-AUC", "roc_auc", ".3f"),
        Headline("PR-AUC", "pr_auc", ".3f"),
        Headline("Brier", "brier", ".4f"),
        Headline("log loss", "log_loss", ".4f"),
        Headline("lift@10%", "lift_at_10", ".2f"),
        Headline("capture@10%", "capture_at_10", ".3f"),
        Headline("F1", "f1", ".3f"),
    )
    dvc_tables = ("calibration", "lift", "profit")

    def __init__(
        self,
        target: str = "label_churn",
        metric: str = "roc_auc",
        calibration: str = "isotonic",
        evaluation: str = "time",
        cv_folds: int = 5,
        baseline: Mapping[str, Any] | None = None,
        grade_margin: float = 0.10,
        contact_cost: float = 5.0,
        saved_value: float = 250.0,
        save_rate: float = 0.3,
        value_model: str | None = None,
        explain: bool = True,
        explain_max_rows: int = 5000,
        top_reasons: int = 3,
        salt: str = "socialcrm",
    ):
        if evaluation not in ("time", "cv"):
            raise ValueError(f"task.evaluation must be time or cv, got {evaluation!r}")
        self.target = target
        self.metric = metric
        self.calibration = calibration
        self.evaluation = evaluation
        self.n_folds = cv_folds
        self.baseline = dict(baseline or {})
        self.grade_margin = grade_margin
        self.contact_cost = contact_cost
        self.saved_value = saved_value
        self.save_rate = save_rate
        self.value_model = value_model
        # the run edge scores this registered model and passes its values as context
        self.context_models = {"customer_value": value_model} if value_model else {}
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
        """Fit, evaluate against the baseline, explain, and build the campaign view.

        ``context["customer_value"]`` (``customer_id, cutoff, value``), if given,
        is the value of saving each customer in the campaign view.
        """
        data = task_data(frame, manifest, groups, self.target)
        values = (context or {}).get("customer_value")
        if self.evaluation == "time":
            return self._by_time(data, model_cfg, seed, values)
        return self._by_cv(data, model_cfg, seed, values)

    def _saved_values(
        self, scored: pd.DataFrame, values: pd.DataFrame | None
    ) -> tuple[np.ndarray | float, str]:
        """Per-customer value of a save (CLV where known) and where it came from."""
        if values is None or values.empty:
            return self.saved_value, "constant"
        keys = [c for c in ("customer_id", "cutoff") if c in scored and c in values]
        v = scored[keys].merge(values[[*keys, "value"]], on=keys, how="left")["value"]
        known = v.notna().to_numpy()
        if not known.any():
            return self.saved_value, "constant"
        return np.where(known, v.to_numpy(dtype=float), self.saved_value), "clv"

    def _baseline(self, X_fit, y_fit) -> RecencyRule:
        return RecencyRule(**self.baseline).fit(X_fit, y_fit)

    def _baseline_metrics(self, rule: RecencyRule, X, y) -> dict[str, float]:
        m = classification_metrics(y, rule.predict_proba(X)[:, 1], rule.rate_fired_)
        score = rule.decision_function(X)
        m["roc_auc"] = float(roc_auc_score(y, score))
        m["pr_auc"] = float(average_precision_score(y, score))
        m["threshold_days"] = float(rule.threshold_days_)
        return m

    def _by_time(self, data: TaskData, model_cfg, seed: int, values) -> TaskResult:
        train, valid, test = data.part("train"), data.part("valid"), data.part("test")
        for name, part in (("train", train), ("valid", valid), ("test", test)):
            if part.empty or part[self.target].nunique() < 2:
                raise ValueError(f"the {name} split has no rows or a single class")
        model = fit_calibrated(data, train, valid, model_cfg, self.calibration, seed)
        y_valid, y_test = data.y(valid).astype(int), data.y(test).astype(int)
        p_valid = model.predict(data.X(valid))
        p_test = model.predict(data.X(test))
        metrics = classification_metrics(y_test, p_test, model.threshold)
        metrics.update(
            {
                f"valid_{k}": v
                for k, v in classification_metrics(y_valid, p_valid, model.threshold).items()
            }
        )
        rule = self._baseline(data.X(valid), y_valid)
        base = self._baseline_metrics(rule, data.X(test), y_test)
        scored = test[["customer_id", "cutoff"]].assign(label=y_test, probability=p_test)
        return self._result(data, model, metrics, base, scored, rule, test, values)

    def _by_cv(self, data: TaskData, model_cfg, seed: int, values) -> TaskResult:
        rows = data.frame
        y = data.y(rows).astype(int)
        per_fold, per_fold_base = [], []
        oof = np.zeros(len(rows))
        for train_idx, test_idx in cv_folds(y, self.n_folds, seed):
            tr, te = rows.iloc[train_idx], rows.iloc[test_idx]
            m = fit_calibrated(data, tr, None, model_cfg, self.calibration, seed)
            p = m.predict(data.X(te))
            oof[test_idx] = p
            per_fold.append(classification_metrics(y[test_idx], p, m.threshold))
            if self.baseline.get("column", "recency_days") in rows.columns:
                rule = self._baseline(data.X(tr), y[train_idx])
                per_fold_base.append(self._baseline_metrics(rule, data.X(te), y[test_idx]))
        folds = pd.DataFrame(per_fold)
        metrics = mean_sd(folds)
        base = mean_sd(pd.DataFrame(per_fold_base)) if per_fold_base else {}
        final = fit_calibrated(data, rows, None, model_cfg, self.calibration, seed)
        keys = [c for c in ("customer_id", "cutoff") if c in rows.columns]
        scored = rows[keys].assign(label=y, probability=oof)
        result = self._result(data, final, metrics, base, scored, None, rows, values)
        result.tables["cv_folds"] = folds.assign(fold=np.arange(1, len(folds) + 1))
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
        """The test metrics of the training run, from the model's ``probability`` and its
        ``decision`` (the threshold it carries); ranking metrics are NaN for one class."""
        y = rows[self.target].astype(int).to_numpy()
        p = outputs["probability"].to_numpy(float)
        decision = outputs["decision"].to_numpy(bool)
        if len(np.unique(y)) < 2:  # a slice with one class: no ranking metric
            m = {"roc_auc": np.nan, "pr_auc": np.nan, "positive_rate": float(np.mean(y))}
            m |= {"n": float(len(y)), "brier": float(np.mean((p - y) ** 2)) if len(y) else np.nan}
        else:
            m = classification_metrics(y, p, 0.5)
            del m["threshold"]
        # the decision the model carries (its own threshold), not 0.5
        m["precision"], m["recall"], m["f1"] = precision_recall_f1(y, decision)
        return m

    def decide(
        self,
        rows: pd.DataFrame,
        outputs: pd.DataFrame,
        context: Mapping[str, pd.DataFrame] | None = None,
    ) -> pd.Series | None:
        """Contact: the probability is at or above the model's threshold."""
        return outputs["decision"].astype(bool).rename("decision")

    # -- reporting ------------------------------------------------------------------
    def summary_rows(self, result: TaskResult) -> list[tuple[str, str, str]]:
        """The retention campaign's best cut and where a saved customer's value came from."""
        m = result.metrics
        if "campaign_best_contacted" not in m:
            return []
        return [
            (
                "campaign: best cut",
                f"{m['campaign_best_contacted']:,.0f} contacted, "
                f"profit {m['campaign_expected_profit']:,.0f}",
                f"saved value: {result.info.get('saved_value_source', 'constant')}",
            )
        ]

    def _result(
        self,
        data: TaskData,
        model,
        metrics: dict[str, float],
        base: dict[str, float],
        scored: pd.DataFrame,
        rule: RecencyRule | None,
        explain_rows: pd.DataFrame,
        values: pd.DataFrame | None = None,
    ) -> TaskResult:
        y, p = scored["label"].to_numpy(), scored["probability"].to_numpy()
        g = grade(metrics[GRADE_METRIC], base[GRADE_METRIC], self.grade_margin) if base else "n/a"
        value, value_source = self._saved_values(scored, values)
        curve = profit_curve(p, value, self.contact_cost, self.save_rate, y)
        cut = best_cut(curve)
        metrics = {
            **metrics,
            "campaign_mean_saved_value": float(np.mean(value)),
            "campaign_best_contacted": cut["contacted"],
            "campaign_expected_profit": cut["expected_profit"],
            "campaign_realised_profit": cut["realised_profit_at_cut"],
        }
        scored = scored.assign(decision=p >= model.threshold)
        tables: dict[str, pd.DataFrame] = {
            "calibration": calibration_table(y, p),
            "lift": lift_curve(y, p),
            "profit": curve,
        }
        scores = {"model": p}
        baseline_score = None
        if rule is not None:
            baseline_score = rule.decision_function(data.X(explain_rows))
            scores["recency rule"] = baseline_score
            tables["lift_baseline"] = lift_curve(y, baseline_score)
        drawings = {
            "roc": lambda ax: eval_plots.roc(y, scores, ax),
            "precision_recall": lambda ax: eval_plots.precision_recall(y, scores, ax),
            "calibration": lambda ax: eval_plots.calibration(tables["calibration"], ax),
            "gain": lambda ax: eval_plots.lift(
                {"model": tables["lift"]}
                | ({"recency rule": tables["lift_baseline"]} if rule is not None else {}),
                ax,
            ),
            "profit": lambda ax: eval_plots.profit(curve, cut, ax),
        }
        return TaskResult(
            metrics=metrics,
            baseline_metrics=base,
            grade=g,
            model=model,
            tables=tables,
            drawings=drawings,
            scored=scored,
            explain_rows=explain_rows,
            info={
                "campaign": cut,
                "saved_value_source": value_source,
                "n_features": len(data.features),
            },
        )

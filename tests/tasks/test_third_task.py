"""A new task is one module and one config: a toy third task, defined here and registered
as ``task=purchases`` in Hydra's config store, trains, tunes, logs and registers
through the same entry points as churn and CLV, with no edit to a shared module."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from hydra.core.config_store import ConfigStore
from scipy.stats import spearmanr
from typer.testing import CliRunner

from socialcrm.cli import app
from socialcrm.config import compose
from socialcrm.data import load
from socialcrm.data.generate import run_generate
from socialcrm.evaluation.value import decile_table
from socialcrm.models.calibration import ScoringModel
from socialcrm.models.factory import build_pipeline
from socialcrm.runner import train
from socialcrm.tasks.base import TaskResult, latest_labelled_rows, task_data
from socialcrm.tasks.protocol import Headline, Task
from socialcrm.tuning import tune

pytestmark = pytest.mark.xdist_group("third_task")


class PurchasesTask:
    """How many purchases each customer makes in the horizon (a label the table has),
    graded against "as many as in the last 90 days"."""

    name = "purchases"
    question = "How many purchases will each customer make in the horizon?"
    target = "label_future_purchases"
    kind = "regression"
    context_tables: tuple[str, ...] = ()
    context_models: Mapping[str, str] = {}
    headline = (Headline("Spearman", "spearman", ".3f"), Headline("MAE", "mae", ".2f"))
    dvc_tables = ("deciles",)

    def __init__(self, metric: str = "spearman", explain: bool = True, salt: str = "toy"):
        self.metric = metric
        self.explain = explain
        self.explain_max_rows = 500
        self.top_reasons = 2
        self.salt = salt

    @staticmethod
    def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
        return {"spearman": float(spearmanr(y, p).statistic), "mae": float(np.abs(y - p).mean())}

    def fit_evaluate(
        self,
        frame: pd.DataFrame,
        manifest: Sequence[Mapping[str, str]],
        groups: Sequence[str],
        model_cfg: Mapping[str, Any],
        seed: int,
        context: Mapping[str, pd.DataFrame] | None = None,
    ) -> TaskResult:
        data = task_data(frame, manifest, groups, self.target)
        train_rows, valid, test = (data.part(s) for s in ("train", "valid", "test"))
        pipe = build_pipeline(model_cfg, self.kind, data.numeric, data.categorical, seed)
        pipe.fit(data.X(train_rows), data.y(train_rows).astype(float))
        model = ScoringModel(pipe, data.numeric, data.categorical, kind=self.kind)
        y, p = data.y(test).astype(float), model.predict(data.X(test))
        metrics = self._metrics(y, p)
        metrics |= {
            f"valid_{k}": v
            for k, v in self._metrics(
                data.y(valid).astype(float), model.predict(data.X(valid))
            ).items()
        }
        base = self._metrics(y, test["frequency_90d"].fillna(0).to_numpy(float))
        grade = "A" if metrics["spearman"] > base["spearman"] else "C"
        return TaskResult(
            metrics,
            base,
            grade,
            model,
            tables={"deciles": decile_table(y, p)},
            drawings={"scatter": lambda ax: ax.scatter(y, p, s=2)},
            explain_rows=test,
        )

    def summary_rows(self, result: TaskResult) -> list[tuple[str, str, str]]:
        return [("customers scored", f"{len(result.tables['deciles'])} deciles", "")]

    def evaluation_rows(self, frame, manifest, groups, model_cfg, seed, context=None):
        return latest_labelled_rows(frame, self.target)

    def deployed_metrics(self, rows, outputs) -> dict[str, float]:
        return self._metrics(rows[self.target].to_numpy(float), outputs["prediction"].to_numpy())

    def decide(self, rows, outputs, context=None):
        return None


ConfigStore.instance().store(
    group="task", name="purchases", node={"_target_": f"{__name__}.PurchasesTask"}
)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("third_task")
    cfg = compose(["experiment=quick", f"paths.root_dir={root}"])
    run_generate(cfg)
    load.ingest(load.DataSource.from_config(cfg.data))
    return root


def overrides(root, *more: str) -> list[str]:
    # the quick preset's data and cutoffs (experiment=quick also sets churn's SHAP options)
    quick = ["data=synthetic_small", "features.cutoffs.every_months=3"]
    return [*quick, "task=purchases", "model=lightgbm", f"paths.root_dir={root}", *more]


def test_the_toy_task_keeps_the_protocol():
    assert isinstance(PurchasesTask(), Task)


def test_it_trains_logs_and_registers_through_the_run_edge(root):
    cfg = compose(overrides(root, "train.register=true"))
    outcome = train(cfg)
    assert outcome.task == "purchases" and outcome.version == "1"
    assert 0.3 < outcome.result.metrics["spearman"] <= 1.0
    assert outcome.objective == outcome.result.metrics["valid_spearman"]
    client = mlflow.MlflowClient(cfg.tracking.tracking_uri)
    run = client.get_run(outcome.run_id)
    assert run.data.tags["task"] == "purchases" and "valid_spearman" in run.data.metrics
    note = run.data.tags["mlflow.note.content"]
    assert note.startswith("**How many purchases") and "| Spearman |" in note
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.note.content"].startswith("How many purchases")
    alias = client.get_model_version_by_alias("socialcrm-purchases", "challenger")
    assert str(alias.version) == "1" and alias.tags["data"] == "synthetic_small"
    scored = mlflow.pyfunc.load_model("models:/socialcrm-purchases@challenger").predict(
        pd.read_parquet(root / "data/processed/synthetic_small/all/features.parquet").head(20)
    )
    assert list(scored.columns[:1]) == ["prediction"] and len(scored) == 20
    deciles = pd.read_csv(root / "reports/train/synthetic_small/purchases/deciles.csv")
    assert len(deciles) == 10
    # the run edge drew its plot and explained it: SHAP and reason codes for a new task too
    artifacts = {a.path for a in client.list_artifacts(outcome.run_id, "plots")}
    assert {"plots/scatter.png", "plots/shap_beeswarm.png"} <= artifacts
    reasons = {a.path for a in client.list_artifacts(outcome.run_id, "explanations")}
    assert reasons == {"explanations/reasons.csv"}


def test_it_tunes_with_two_trials_and_registers(root):
    outcome = tune(compose(overrides(root, "tune.n_trials=2", "tune.register=true")))
    assert len(outcome.trials) == 2 and outcome.metric == "valid_spearman"
    assert outcome.registered == "socialcrm-purchases" and outcome.version is not None


def test_the_cli_trains_it_on_the_dev_preset_into_the_dev_experiment_unregistered(root):
    cfg = compose(overrides(root))
    client = mlflow.MlflowClient(cfg.tracking.tracking_uri)
    before = len(client.search_model_versions("name='socialcrm-purchases'"))
    result = CliRunner().invoke(app, ["train", *overrides(root)])
    assert result.exit_code == 0, result.output
    assert "purchases: lightgbm" in result.output and "customers scored" in result.output
    assert "not registered" in result.output
    # data=synthetic_small is a development preset: no new version, runs in -dev
    assert len(client.search_model_versions("name='socialcrm-purchases'")) == before
    dev = client.get_experiment_by_name("socialcrm-purchases-dev")
    assert dev is not None and len(client.search_runs([dev.experiment_id])) >= 2

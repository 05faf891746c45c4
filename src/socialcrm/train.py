"""Train, evaluate, explain, log and register one model: the Hydra entry point.

Usage::

    python -m socialcrm.train                                   # task=churn model=lightgbm
    python -m socialcrm.train task=churn model=xgboost features=crm_social
    python -m socialcrm.train --multirun model=logreg,lightgbm,xgboost seed=1,2

Each run (each ``--multirun`` job too) is one MLflow run in the task's
experiment. The return value of :func:`run` is the validation metric the task
names (``task.metric``), which sweeps maximise.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import hydra
import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

import socialcrm.config  # noqa: F401  (registers the ${project_root:} resolver)
from socialcrm.data.io import atomic_dir
from socialcrm.errors import exit_on_user_error, run_hydra_app
from socialcrm.tasks.base import TaskResult


def feature_table_path(cfg: DictConfig) -> Path:
    """Where the run reads its features (built with ``socialcrm features`` if missing)."""
    if cfg.train.features_table:
        return Path(cfg.train.features_table)
    return Path(cfg.features.output_dir) / "features.parquet"


def load_features(
    cfg: DictConfig, console: Console | None = None
) -> tuple[pd.DataFrame, list[dict], Path]:
    """The feature table, its manifest and its path; builds the table if it does not exist.

    ``data.source: customer_table`` (a ready customer-level table with a target column,
    e.g. ``data=telco``) is read and mapped directly; there are no event tables to build from.
    """
    if cfg.data.get("source") == "customer_table":
        from socialcrm.data.customer_table import load_customer_table

        return load_customer_table(cfg.data)
    path = feature_table_path(cfg)
    if not path.is_file():
        if cfg.train.features_table:
            raise FileNotFoundError(f"train.features_table {path} does not exist")
        from socialcrm.features.run import run_features

        run_features(cfg, console=console)
    manifest = json.loads((path.parent / "feature_manifest.json").read_text())
    return pd.read_parquet(path), manifest, path


DVC_PLOT_TABLES = ("calibration", "lift", "profit", "deciles", "gain")


def write_dvc_outputs(result: TaskResult, task_name: str, out_dir: Path) -> None:
    """Metrics (JSON) and curves (CSV) where ``dvc metrics show`` / ``dvc plots show`` read them."""
    with atomic_dir(out_dir / task_name) as tmp:
        metrics = {
            "model": {k: v for k, v in result.metrics.items() if not k.startswith("valid_")},
            "baseline": result.baseline_metrics,
            **result.references,
            "grade": result.grade,
        }
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float) + "\n")
        for name in DVC_PLOT_TABLES:
            if name in result.tables:
                table = result.tables[name]
                if name == "profit" and len(table) > 2000:  # keep plot files small
                    table = table.iloc[:: max(len(table) // 1000, 1)]
                table.to_csv(tmp / f"{name}.csv", index=False)


def task_context(
    cfg: DictConfig, task, frame: pd.DataFrame, console: Console | None = None
) -> dict[str, pd.DataFrame]:
    """Extra inputs a task asks for: event tables it names in ``context_tables`` (read
    from the ingested data set when present) and, for ``task.value_model``, each
    customer's value scored by that registered model (``customer_value``)."""
    context: dict[str, pd.DataFrame] = {}
    interim = cfg.data.get("interim_dir")
    for name in getattr(task, "context_tables", ()):
        if interim and (Path(interim) / f"{name}.parquet").is_file():
            context[name] = pd.read_parquet(Path(interim) / f"{name}.parquet")
    value_model = getattr(task, "value_model", None)
    if value_model:
        try:
            context["customer_value"] = registered_values(cfg.tracking, value_model, frame)
        except LookupError as err:
            if console is not None:
                console.print(
                    f"[yellow]{err}: a saved customer is worth "
                    f"task.saved_value={cfg.task.get('saved_value')}[/]"
                )
    return context


def registered_values(tracking, model_uri: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Score the test rows (all rows without a split) with ``models:/<model_uri>``.

    Returns
    -------
    pandas.DataFrame
        ``customer_id, cutoff, value`` with ``attrs["model_version"]``.

    Raises
    ------
    LookupError
        If the model is not registered, or cannot score this feature table.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    from socialcrm.tracking import configure

    configure(tracking)
    name, _, alias = model_uri.partition("@")
    try:
        version = mlflow.MlflowClient().get_model_version_by_alias(name, alias).version
    except MlflowException:
        raise LookupError(f"no registered model {model_uri}") from None
    rows = frame[frame["split"] == "test"] if "split" in frame.columns else frame
    try:
        model = mlflow.pyfunc.load_model(f"models:/{model_uri}")
        # only the model's inputs: MLflow warns about every other column (ids, labels)
        schema = model.metadata.get_input_schema()
        inputs = [c for c in schema.input_names() if c in rows.columns] if schema else list(rows)
        scores = model.predict(rows[inputs], params={"top_reasons": 0})
    except (MlflowException, ValueError, KeyError) as err:
        raise LookupError(
            f"{model_uri} (v{version}) cannot score this feature table: {err}"
        ) from err
    keys = [c for c in ("customer_id", "cutoff") if c in rows.columns]
    out = rows[keys].reset_index(drop=True).assign(value=scores.iloc[:, 0].to_numpy(float))
    out.attrs["model_version"] = f"{name}/{version}"
    return out


@dataclass
class TrainOutcome:
    """What one training run produced: results, the MLflow run and the registered version."""

    task: str
    model: str
    result: TaskResult
    run_id: str
    registered: str | None
    version: str | None
    objective: float


def run(cfg: DictConfig, console: Console | None = None) -> float:
    """Fit and evaluate ``cfg.task`` with ``cfg.model`` on ``cfg.features``; log everything.

    Returns
    -------
    float
        The validation value of ``task.metric`` (what a sweep maximises).
    """
    return train(cfg, console).objective


def train(cfg: DictConfig, console: Console | None = None) -> TrainOutcome:
    """:func:`run`, returning everything the run produced (for the main job's summary)."""
    import mlflow

    from socialcrm.tracking import log as tlog
    from socialcrm.tracking import start_run
    from socialcrm.tracking.pyfunc import log_scoring_model, set_alias

    t0 = time.perf_counter()
    frame, manifest, path = load_features(cfg, console)
    task = instantiate(cfg.task, _convert_="all")
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    groups = list(cfg.features.groups)
    context = task_context(cfg, task, frame, console)
    result = task.fit_evaluate(frame, manifest, groups, model_cfg, int(cfg.seed), context=context)
    fit_seconds = time.perf_counter() - t0

    registered = cfg.train.registered_model or f"socialcrm-{task.name}"
    run_name = f"{task.name}-{cfg.model.name}-{cfg.features.name}-{cfg.data.name}-seed{cfg.seed}"
    with start_run(
        cfg.tracking,
        task.name,
        run_name=run_name,
        tags={
            **tlog.git_info(),
            "task": task.name,
            "model": str(cfg.model.name),
            "features": str(cfg.features.name),
            "data": str(cfg.data.name),
            "grade": result.grade,
        },
    ) as active:
        tlog.log_config(cfg)
        tlog.log_dataset(frame, path, f"{cfg.data.name}/{cfg.features.name}", task.target)
        mlflow.log_text(json.dumps(manifest, indent=2), "feature_manifest.json")
        tlog.log_task_result(result, fit_seconds)
        if "customer_value" in context:
            mlflow.set_tag("saved_value_model", context["customer_value"].attrs["model_version"])
        version = None
        if cfg.train.register:
            # customer tables (evaluation by CV) have no split column
            test_rows = frame[frame["split"] == "test"] if "split" in frame else frame.iloc[:0]
            example = test_rows if len(test_rows) else frame
            info = log_scoring_model(
                result.model,
                example,
                registered,
                top_reasons=int(cfg.task.get("top_reasons", 3)),
            )
            version = info.registered_model_version
            set_alias(registered, cfg.train.alias, version)
            mlflow.set_tag("registered_model", f"{registered}/{version}@{cfg.train.alias}")
        run_id = active.info.run_id
    write_dvc_outputs(result, task.name, Path(cfg.train.outputs_dir))

    if console is not None:
        _summary(cfg, task, result, run_id, registered, version, console)
    valid_key = f"valid_{task.metric}"
    objective = float(result.metrics.get(valid_key, result.metrics.get(task.metric, float("nan"))))
    return TrainOutcome(
        task=task.name,
        model=str(cfg.model.name),
        result=result,
        run_id=run_id,
        registered=registered if version else None,
        version=str(version) if version else None,
        objective=objective,
    )


# (label, metric key, format) shown in summaries, by the task's kind
HEADLINE = {
    "classification": (
        ("ROC-AUC", "roc_auc", ".3f"),
        ("PR-AUC", "pr_auc", ".3f"),
        ("Brier", "brier", ".4f"),
        ("log loss", "log_loss", ".4f"),
        ("lift@10%", "lift_at_10", ".2f"),
        ("capture@10%", "capture_at_10", ".3f"),
        ("F1", "f1", ".3f"),
    ),
    "regression": (
        ("normalized Gini", "normalized_gini", ".3f"),
        ("Spearman", "spearman", ".3f"),
        ("top-10% value share", "top10_share", ".3f"),
        ("top-20% found", "top20_found", ".3f"),
        ("decile MAPE", "decile_mape", ".3f"),
        ("MAE", "mae", ".1f"),
        ("RMSE", "rmse", ".1f"),
        ("total predicted", "total_predicted", ",.0f"),
        ("total actual", "total_actual", ",.0f"),
    ),
}


def headline(result: TaskResult, short: bool = False) -> list[tuple[str, str, str]]:
    """``(label, model value, baseline value)`` of the metrics a summary shows."""
    rows = []
    m, b = result.metrics, result.baseline_metrics
    items = HEADLINE[result.model.kind]
    for label, key, fmt in items[:3] if short else items:
        if key in m:
            rows.append((label, format(m[key], fmt), format(b[key], fmt) if key in b else ""))
    return rows


def _summary(cfg, task, result: TaskResult, run_id, registered, version, console: Console) -> None:
    m = result.metrics
    table = Table(title=f"{task.name}: {cfg.model.name} on {cfg.data.name} / {cfg.features.name}")
    refs = list(result.references)
    for col in ("metric", "model", "baseline", *refs):
        table.add_column(col, justify="right" if col != "metric" else "left")
    formats = {key: fmt for _, key, fmt in HEADLINE[result.model.kind]}
    keys = {label: key for label, key, _ in HEADLINE[result.model.kind]}
    for label, model_value, base_value in headline(result):
        key = keys[label]
        ref_values = [
            format(result.references[r][key], formats[key]) if key in result.references[r] else ""
            for r in refs
        ]
        table.add_row(label, model_value, base_value, *ref_values)
    table.add_row("grade", result.grade, "", *[""] * len(refs))
    if "campaign_best_contacted" in m:
        table.add_row(
            "campaign: best cut",
            f"{m['campaign_best_contacted']:,.0f} contacted, "
            f"profit {m['campaign_expected_profit']:,.0f}",
            f"saved value: {result.info.get('saved_value_source', 'constant')}",
            *[""] * len(refs),
        )
    key = next((k for k in m if k.startswith("referral_top") and k.endswith("missed_by_clv")), None)
    if key:
        table.add_row(
            "referral value",
            f"{m[key]:.0f} of the top by CLV + CRV missed by CLV alone",
            f"CRV {m['crv_share_of_value']:.1%} of value",
            *[""] * len(refs),
        )
    console.print(table)
    where = (
        f"registered {registered} v{version} @{cfg.train.alias}" if version else "not registered"
    )
    console.print(f"MLflow run {run_id} ({where}); open the UI with `make ui`")


@hydra.main(config_path="../../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    from socialcrm.data.customer_table import check_task

    # data errors end here, inside the job, as the report and exit code 1
    with exit_on_user_error():
        check_task(cfg)
        return run(cfg, console=Console())


if __name__ == "__main__":
    run_hydra_app(main)  # config and override errors: one paragraph, exit code 2

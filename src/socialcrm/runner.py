"""The run edge: the one way from a composed config to a published model.

``prepare`` (feature table, task, context) -> ``fit`` (the task's ``fit_evaluate``)
-> ``log_run`` and ``register`` (MLflow run, registry) -> ``write_dvc_outputs``
-> ``print_summary``. ``python -m socialcrm.train``, ``python -m socialcrm.tune``,
the CLI and the experiment runners all go through here. Nothing here names a
task: what differs between tasks comes from the declared task contract
(:class:`socialcrm.tasks.protocol.Task`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

import socialcrm.config  # noqa: F401  (registers the ${project_root:} resolver)
from socialcrm.data.io import atomic_dir
from socialcrm.tasks.base import TaskResult
from socialcrm.tasks.protocol import Task, check_task

# -- inputs -------------------------------------------------------------------------


def feature_table_path(cfg: DictConfig) -> Path:
    """Where the run reads its features."""
    if cfg.train.features_table:
        return Path(cfg.train.features_table)
    return Path(cfg.features.output_dir) / "features.parquet"


def load_features(
    cfg: DictConfig, console: Console | None = None
) -> tuple[pd.DataFrame, list[dict], Path]:
    """The feature table, its manifest and its path; builds the table unless one built
    for the same request exists (:func:`socialcrm.features.run.ensure_features`).

    ``data.source: customer_table`` (a ready customer-level table with a target column,
    e.g. ``data=telco``) is read and mapped directly; there are no event tables to build from.
    """
    if cfg.data.get("source") == "customer_table":
        from socialcrm.data.customer_table import load_customer_table

        return load_customer_table(cfg.data)
    if cfg.train.features_table:  # a table the user names is taken as it is
        path = Path(cfg.train.features_table)
        if not path.is_file():
            raise FileNotFoundError(f"train.features_table {path} does not exist")
    else:
        from socialcrm.features.run import ensure_features

        # reused only if it was built for this very request (horizon, cutoffs, data, ...)
        path = ensure_features(cfg, console=console)
    manifest = json.loads((path.parent / "feature_manifest.json").read_text())
    frame = read_feature_table(path, cfg.train.get("max_train_rows"))
    if console is not None and frame.attrs.get("train_sample"):
        s = frame.attrs["train_sample"]
        console.print(
            f"features: training on {s['kept']:,} of {s['of']:,} training rows "
            f"(train.max_train_rows={s['max_train_rows']:,}); validation and test rows all read"
        )
    return frame, manifest, path


def read_feature_table(path: Path, max_train_rows: int | None = None) -> pd.DataFrame:
    """The feature table at ``path``, with at most ``max_train_rows`` training rows.

    The training rows kept are those of whole customers, chosen by a fixed hash of the
    customer id (the same rows on every run and for every task); validation, gap and
    test rows are all kept. The table is read a batch at a time, so memory holds only
    the rows kept. ``frame.attrs["train_sample"]`` records the sample (absent: all rows).
    """
    if max_train_rows is None:
        return pd.read_parquet(path)
    keys = pq.read_table(path, columns=["customer_id", "split"]).to_pandas()
    is_train = (keys["split"] == "train").to_numpy()
    n_train = int(is_train.sum())
    if n_train <= max_train_rows:
        return pd.read_parquet(path)
    # whole customers in the order of a fixed hash of their id, as many as fit
    per = keys.loc[is_train, "customer_id"].value_counts(sort=False).to_frame("rows")
    per["u"] = pd.util.hash_pandas_object(per.index.to_series(), index=False).to_numpy()
    per = per.sort_values("u", kind="stable")
    chosen = per.index[per["rows"].cumsum().to_numpy() <= max_train_rows]
    keep = ~is_train | keys["customer_id"].isin(chosen).to_numpy()
    del keys, per
    parts, start = [], 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1 << 18):
        mask = keep[start : start + batch.num_rows]
        start += batch.num_rows
        if mask.any():
            parts.append(batch.filter(pa.array(mask)))
    frame = pa.Table.from_batches(parts).to_pandas()
    frame.attrs["train_sample"] = {
        "kept": int((keep & is_train).sum()),
        "of": n_train,
        "max_train_rows": int(max_train_rows),
    }
    return frame


#: Keys of a task config that the run edge reads, not the task's constructor.
RUN_EDGE_KEYS = ("gate",)


def build_task(cfg: DictConfig, **overrides: Any) -> Task:
    """``cfg.task`` instantiated (``overrides``: constructor arguments to change); the
    keys in :data:`RUN_EDGE_KEYS` (the promotion gate's rules) are left out."""
    node = OmegaConf.to_container(cfg.task, resolve=True)
    for key in RUN_EDGE_KEYS:
        node.pop(key, None)
    return check_task(instantiate(node, **overrides, _convert_="all"))


def registered_name(cfg: DictConfig, task: Task) -> str:
    return str(cfg.train.registered_model or f"socialcrm-{task.name}")


def promote_after_training(cfg: DictConfig) -> bool:
    """``promotion.on_train``: run the promotion gate after a registered training."""
    return bool((cfg.get("promotion") or {}).get("on_train", False))


def should_register(cfg: DictConfig) -> bool:
    """``train.register``: true, false, or ``auto`` (register unless the run is on a
    development preset, ``tracking.dev``)."""
    value = cfg.train.register
    if isinstance(value, bool):
        return value
    if str(value).lower() == "auto":
        return not bool(cfg.tracking.get("dev", False))
    raise ValueError(f"train.register must be true, false or auto, not {value!r}")


@dataclass
class Prepared:
    """What every fit of one config shares: the table, the task and its context.

    Attributes
    ----------
    notes
        Tags about the context (which registered model each context came from, or
        why none was used).
    """

    cfg: DictConfig
    task: Task
    frame: pd.DataFrame
    manifest: list[dict]
    path: Path
    groups: list[str]
    context: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def dataset_name(self) -> str:
        return f"{self.cfg.data.name}/{self.cfg.features.name}"

    def evaluation_rows(self) -> pd.DataFrame:
        """The task's :meth:`~socialcrm.tasks.protocol.Task.evaluation_rows` of this
        table, computed once (the model card and the promotion gate share them)."""
        if "evaluation" not in self._cache:
            self._cache["evaluation"] = self.task.evaluation_rows(
                self.frame,
                self.manifest,
                self.groups,
                OmegaConf.to_container(self.cfg.model, resolve=True),
                int(self.cfg.seed),
                context=self.context,
            )
        return self._cache["evaluation"]


def prepare(cfg: DictConfig, console: Console | None = None) -> Prepared:
    """Load the feature table, build the task, gather its context."""
    frame, manifest, path = load_features(cfg, console)
    task = build_task(cfg)
    context, notes = task_context(cfg, task, frame, console)
    return Prepared(cfg, task, frame, manifest, path, list(cfg.features.groups), context, notes)


def task_context(
    cfg: DictConfig, task: Task, frame: pd.DataFrame, console: Console | None = None
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Extra inputs a task asks for: the event tables it names in ``context_tables``
    (read from the ingested data set, else the raw folder, when present) and, for each of its
    ``context_models``, the values that registered model predicts for the rows
    (``customer_id, cutoff, value``), if it was trained on the same data set and
    feature set. Returns the context and a note (tag) per context model."""
    context: dict[str, pd.DataFrame] = {}
    notes: dict[str, str] = {}
    # ingested tables first; a synthetic world's truth (``truth/...``, for oracles and
    # true policy values, never a feature) is only in its raw folder
    folders = [Path(d) for d in (cfg.data.get("interim_dir"), cfg.data.get("raw_dir")) if d]
    for name in task.context_tables:
        found = [d / f"{name}.parquet" for d in folders if (d / f"{name}.parquet").is_file()]
        if found:
            context[name] = pd.read_parquet(found[0])
    for name, uri in task.context_models.items():
        try:
            values = registered_values(
                cfg.tracking, uri, frame, {"data": cfg.data.name, "features": cfg.features.name}
            )
        except LookupError as err:
            notes[f"context.{name}"] = f"none: {err}"
            if console is not None:
                console.print(f"[yellow]{name}: {err}; the task's default is used[/]")
            continue
        context[name] = values
        notes[f"context.{name}"] = values.attrs["model_version"]
    return context, notes


def registered_values(
    tracking, model_uri: str, frame: pd.DataFrame, expect: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Score the test rows (all rows without a split) with a logged model.

    Parameters
    ----------
    tracking
        The ``tracking`` config node.
    model_uri
        ``name@alias`` (a registered model) or the URI a run logged its model at
        (``models:/m-...`` or ``runs:/<run_id>/model``, registered or not).
    frame
        The feature table.
    expect
        Tags the model must carry (``data``, ``features``: what it was trained on; the
        version's tags for a registered model, the run's otherwise), so that a model
        of another data set never values these rows.

    Returns
    -------
    pandas.DataFrame
        ``customer_id, cutoff, value`` with ``attrs["model_version"]``.

    Raises
    ------
    LookupError
        If the model is not there, was trained on other data or features, or
        cannot score this feature table.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    from socialcrm.errors import ConfigError
    from socialcrm.scoring.batch import predict_outputs
    from socialcrm.scoring.run import input_names, resolve_model
    from socialcrm.tracking import configure

    configure(tracking)
    uri = model_uri if model_uri.startswith(("models:/", "runs:/")) else f"models:/{model_uri}"
    try:
        ref = resolve_model(uri, None, expect or {})
    except ConfigError as err:
        raise LookupError(str(err)) from None
    rows = frame[frame["split"] == "test"] if "split" in frame.columns else frame
    try:
        model = mlflow.pyfunc.load_model(ref.uri)
        scores = predict_outputs(model, rows, input_names(model))
    except (MlflowException, OSError, ValueError, KeyError) as err:
        raise LookupError(f"{ref.label} cannot score this feature table: {err}") from err
    registered = ref.uri.startswith("models:/") and not ref.uri.startswith("models:/m-")
    version = f"{ref.name}/{ref.version}" if registered else ref.version
    keys = [c for c in ("customer_id", "cutoff") if c in rows.columns]
    out = rows[keys].reset_index(drop=True).assign(value=scores.iloc[:, 0].to_numpy(float))
    out.attrs["model_version"] = version
    return out


# -- fit ----------------------------------------------------------------------------


def fit(
    prepared: Prepared,
    model_cfg: Mapping[str, Any] | None = None,
    task: Task | None = None,
) -> tuple[TaskResult, float]:
    """``task.fit_evaluate`` on the prepared table; the result and the seconds it took.

    Parameters
    ----------
    model_cfg
        A plain model config (default: the config's ``model``; tuning passes trials).
    task
        Another instance of the task (default: the prepared one; tuning trials pass
        one without explanations).
    """
    cfg = prepared.cfg
    model_cfg = model_cfg or OmegaConf.to_container(cfg.model, resolve=True)
    t0 = time.perf_counter()
    origins = int((cfg.get("split") or {}).get("test_cutoffs", 1) or 1)
    if origins > 1:
        result = backtest(prepared, model_cfg, origins, task)
    else:
        result = _fit_once(prepared, prepared.frame, model_cfg, task or prepared.task)
    return result, time.perf_counter() - t0


def _fit_once(prepared: Prepared, frame: pd.DataFrame, model_cfg, task: Task) -> TaskResult:
    return task.fit_evaluate(
        frame,
        prepared.manifest,
        prepared.groups,
        model_cfg,
        int(prepared.cfg.seed),
        context=prepared.context,
    )


def backtest(
    prepared: Prepared, model_cfg: Mapping[str, Any], origins: int, task: Task | None = None
) -> TaskResult:
    """A rolling-origin backtest over the last ``origins`` cutoffs.

    The task is fitted once per origin (:func:`socialcrm.tasks.splits.rolling_origins`);
    the result is the latest origin's (the deployable model, its tables and
    plots), with ``tables["backtest"]`` (one row per origin: its test cutoff and
    test metrics) and ``backtest_<metric>_mean`` / ``_sd`` over the origins.
    """
    from socialcrm.tasks import splits

    cfg, frame = prepared.cfg, prepared.frame
    if "cutoff" not in frame.columns:
        raise ValueError("split.test_cutoffs > 1 needs a feature table with cutoffs")
    maps = splits.rolling_origins(
        frame["cutoff"].unique(),
        int(cfg.features.horizon_days),
        origins,
        int((cfg.features.get("split") or {}).get("valid_cutoffs", 1)),
    )
    rows = []
    for mapping in maps:
        result = _fit_once(
            prepared, splits.with_split(frame, mapping), model_cfg, task or prepared.task
        )
        test_metrics = {k: v for k, v in result.metrics.items() if not k.startswith("valid_")}
        base = {f"baseline_{k}": v for k, v in result.baseline_metrics.items()}
        rows.append({"test_cutoff": splits.test_cutoff(mapping), **test_metrics, **base})
    table = pd.DataFrame(rows)
    result.tables["backtest"] = table
    result.metrics |= splits.mean_sd(table, prefix="backtest_", mean_suffix="_mean")
    return result


# -- render -------------------------------------------------------------------------


def render(task: Task, result: TaskResult, manifest: Sequence[Mapping] = ()) -> None:
    """Draw the result's plots and, if the task explains, add SHAP tables and plots
    (by feature group too, from the feature ``manifest``).

    The only place figures are drawn and SHAP is computed: a fit makes numbers and
    tables; what a published run shows is rendered here, once.
    """
    from socialcrm.tasks.base import draw_figures, explanation_outputs

    result.figures |= draw_figures(result.drawings, size=result.figure_size)
    rows = result.explain_rows
    if task.explain and rows is not None and len(rows) and result.model.explainable:
        tables, figures = explanation_outputs(
            result.model,
            rows,
            result.model.output_name,
            task.salt,
            task.top_reasons,
            task.explain_max_rows,
            groups={m["name"]: m["group"] for m in manifest if "group" in m},
        )
        result.tables |= tables
        result.figures |= figures


# -- publish ------------------------------------------------------------------------


def run_tags(cfg: DictConfig, task: Task) -> dict[str, str]:
    """What a run is, as tags (the runs table's columns), and the overrides it was
    composed with (``hydra.overrides``)."""
    from socialcrm.config import overrides_of
    from socialcrm.redact import scrub_known

    return {
        "task": task.name,
        "model": str(cfg.model.name),
        "features": str(cfg.features.name),
        "data": str(cfg.data.name),
        "hydra.overrides": scrub_known(" ".join(overrides_of(cfg)))[:5000] or "(none)",
    }


def run_name(cfg: DictConfig, task: Task, prefix: str = "") -> str:
    name = f"{task.name}-{cfg.model.name}-{cfg.features.name}-{cfg.data.name}-seed{cfg.seed}"
    return f"{prefix}{name}"


def feature_identity(path: Path) -> dict[str, str]:
    """``features.identity``: the identity hash the feature table was built for, if recorded."""
    build = path.parent / "build.json"
    if not build.is_file():
        return {}
    digest = json.loads(build.read_text()).get("identity_sha256")
    return {"features.identity": str(digest)} if digest else {}


def description(cfg: DictConfig, task: Task, result: TaskResult) -> str:
    """The run's Markdown description: the question, the model against its baseline
    (and references) on the task's headline metrics, the grade, the business views."""
    refs = list(result.references)
    lines = [
        f"**{task.question}**",
        "",
        f"{task.name}: {cfg.model.name} on {cfg.data.name} / {cfg.features.name}, "
        f"seed {cfg.seed}; grade **{result.grade}** against the baseline.",
        "",
        "| metric | model | baseline |" + "".join(f" {r} |" for r in refs),
        "|---|---|---|" + "---|" * len(refs),
    ]
    for h in task.headline:
        if h.key not in result.metrics:
            continue
        cells = [result.metrics[h.key], result.baseline_metrics.get(h.key)]
        cells += [result.references[r].get(h.key) for r in refs]
        shown = ["" if v is None else format(v, h.fmt) for v in cells]
        lines.append(f"| {h.label} | " + " | ".join(shown) + " |")
    for label, value, note in task.summary_rows(result):
        lines.append(f"\n{label}: {value} ({note})" if note else f"\n{label}: {value}")
    return "\n".join(lines)


def log_run(
    prepared: Prepared, result: TaskResult, fit_seconds: float, cfg: DictConfig | None = None
) -> None:
    """Log config, dataset, manifest, context notes and results to the active MLflow run.

    ``cfg`` replaces the prepared config in the log (tuning logs the best model's).
    """
    import mlflow

    from socialcrm.tracking import log as tlog

    tlog.log_config(cfg or prepared.cfg, prepared.task.kind, feature_identity(prepared.path))
    tlog.log_dataset(prepared.frame, prepared.path, prepared.dataset_name, prepared.task.target)
    mlflow.log_text(json.dumps(prepared.manifest, indent=2), "feature_manifest.json")
    tlog.log_task_result(result, fit_seconds)
    mlflow.set_tags(
        {
            "grade": result.grade,
            **prepared.notes,
            "mlflow.note.content": description(cfg or prepared.cfg, prepared.task, result),
        }
    )


def register(
    prepared: Prepared, result: TaskResult, name: str | None, alias: str
) -> tuple[str | None, str]:
    """Log the deployable model to the active run; register it as ``name`` (None: log
    only) with ``alias`` and tag the version with the data and features it learnt from.

    Returns
    -------
    version : str or None
        The registered version.
    model_uri : str
        Where the logged model loads from (``models:/m-...``), registered or not.
    """
    import mlflow

    from socialcrm.tracking.pyfunc import log_scoring_model, set_alias

    frame, cfg = prepared.frame, prepared.cfg
    # customer tables (evaluation by CV) have no split column: summarise every row
    test_rows = frame[frame["split"] == "test"] if "split" in frame.columns else frame
    info = log_scoring_model(
        result.model,
        test_rows if len(test_rows) else frame,
        name,
        top_reasons=int(cfg.task.get("top_reasons", 3)),
    )
    mlflow.set_tag("model_uri", info.model_uri)
    if name is None:
        return None, info.model_uri
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    for key, value in version_tags(cfg, prepared.task, result).items():
        client.set_model_version_tag(name, version, key, value)
    card = publish_card(prepared, result, name, version, alias, info.model_uri)
    client.update_model_version(name, version, description=card)
    set_alias(name, alias, version)
    mlflow.set_tag("registered_model", f"{name}/{version}@{alias}")
    return version, info.model_uri


def publish_card(
    prepared: Prepared,
    result: TaskResult,
    name: str,
    version: str,
    alias: str,
    model_uri: str,
) -> str:
    """Log the version's model card (Markdown, JSON, HTML) and the monitor's reference
    profile to the active run; return the version's description (the card's summary,
    linking to the card).

    Both are built from the test cutoff's rows: the card's metrics (with bootstrap
    intervals and slices) are the task's ``deployed_metrics`` of the model's outputs
    on :meth:`~socialcrm.tasks.protocol.Task.evaluation_rows`; the profile (bins and
    quantiles, no customer row) is what drift is measured against.
    """
    import mlflow

    from socialcrm.identity import file_sha256
    from socialcrm.monitoring.run import log_reference_profile
    from socialcrm.reports.markdown import to_html
    from socialcrm.reports.model_card import build_model_card, data_summary

    cfg, task, frame = prepared.cfg, prepared.task, prepared.frame
    rows = prepared.evaluation_rows()
    outputs = result.model.scores(rows).reset_index(drop=True)
    run_id = mlflow.active_run().info.run_id
    card = build_model_card(
        task,
        result,
        prepared.manifest,
        rows,
        outputs,
        data=data_summary(
            frame,
            prepared.dataset_name,
            file_sha256(prepared.path),
            cfg.features.get("horizon_days"),
            synthetic=cfg.data.get("source") == "synthetic",
        ),
        model={
            "name": name,
            "version": version,
            "alias": alias,
            "model_type": str(cfg.model.name),
            "run_id": run_id,
            "model_uri": model_uri,
        },
        groups=prepared.groups,
        consent=consent_flags(cfg),
        seed=int(cfg.seed),
        n_boot=int(cfg.train.get("card_bootstrap", 200)),
    )
    mlflow.log_text(card.to_json(), "model_card/model_card.json")
    mlflow.log_text(card.to_markdown(), "model_card/model_card.md")
    mlflow.log_text(to_html(card.to_markdown(), {}, card.title()), "model_card/model_card.html")
    reference = frame[frame["split"] == "test"] if "split" in frame.columns else frame
    log_reference_profile(reference, result.model)
    return card.summary_markdown(f"runs:/{run_id}/model_card/model_card.md")


def consent_flags(cfg: DictConfig) -> pd.Series | None:
    """Each customer's social-linkage consent (``customer_id`` index) from the ingested
    customers table, for the card's consent slice; None without one."""
    path = Path(cfg.data.get("interim_dir") or "") / "customers.parquet"
    if not cfg.data.get("interim_dir") or not path.is_file():
        return None
    table = pd.read_parquet(path)
    column = next((c for c in ("consent_social", "consent") if c in table.columns), None)
    return table.set_index("customer_id")[column] if column else None


def version_tags(cfg: DictConfig, task: Task, result: TaskResult) -> dict[str, str]:
    """What a registered version is, on the registry page: the data set and feature set
    it learnt from, the model, its grade and its headline test metric beside the
    baseline's."""
    tags = {
        "data": str(cfg.data.name),
        "features": str(cfg.features.name),
        "model": str(cfg.model.name),
        "task": task.name,
        "grade": str(result.grade),
    }
    key = task.metric
    if key in result.metrics:
        base = result.baseline_metrics.get(key)
        tags[key] = f"{result.metrics[key]:.4f}"
        tags["headline"] = f"{key} {result.metrics[key]:.4f}" + (
            f" (baseline {base:.4f})" if base is not None else ""
        )
    return tags


def deployed_model(
    name: str, version: str | None, model_uri: str, decision: Any = None, alias: str = "champion"
) -> dict[str, Any]:
    """Which model a pipeline stage after training should use (``model.json``): the
    champion (``alias``) when there is one after the gate, else the run's own logged
    model."""
    champion = None
    if decision is not None and (decision.promoted or decision.champion is not None):
        champion = f"models:/{name}@{alias}"
    return {
        "model_uri": model_uri,
        "registered": f"models:/{name}/{version}" if version else None,
        "gate": decision.verdict if decision is not None else "not run",
        "champion": champion,
    }


def write_dvc_outputs(
    result: TaskResult, task: Task, out_dir: Path, model: Mapping[str, Any] | None = None
) -> None:
    """Metrics (JSON) and the task's ``dvc_tables`` (CSV) where ``dvc metrics show`` /
    ``dvc plots show`` read them; ``model.json`` (:func:`deployed_model`) for the
    stages after training (DVC's ``score``)."""
    with atomic_dir(out_dir / task.name) as tmp:
        if model is not None:
            (tmp / "model.json").write_text(json.dumps(dict(model), indent=2) + "\n")
        metrics = {
            "model": {k: v for k, v in result.metrics.items() if not k.startswith("valid_")},
            "baseline": result.baseline_metrics,
            **result.references,
            "grade": result.grade,
        }
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float) + "\n")
        for name in task.dvc_tables:
            if name in result.tables:
                table = result.tables[name]
                if len(table) > 2000:  # keep plot files small
                    table = table.iloc[:: max(len(table) // 1000, 1)]
                table.to_csv(tmp / f"{name}.csv", index=False)


# -- the whole edge -----------------------------------------------------------------


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
    model_uri: str = ""  # models:/m-...: every run logs its model, registered or not
    headline: list[tuple[str, str, str]] = field(default_factory=list)
    decision: Any = None  # the promotion gate's Decision, when it ran


def objective_value(metrics: Mapping[str, float], metric: str) -> float:
    """``valid_<metric>``; for cross-validated tasks (no ``valid_`` keys) the CV mean ``metric``.

    Raises
    ------
    KeyError
        If the task reported neither.
    """
    key = f"valid_{metric}"
    if key in metrics:
        return float(metrics[key])
    if metric in metrics and not any(k.startswith("valid_") for k in metrics):
        return float(metrics[metric])
    raise KeyError(f"the task reported no {key!r} (metrics: {sorted(metrics)})")


def train(cfg: DictConfig, console: Console | None = None) -> TrainOutcome:
    """Fit and evaluate ``cfg.task`` with ``cfg.model`` on ``cfg.features``; log, register,
    write the DVC files, print the summary."""
    from socialcrm.tracking import log as tlog
    from socialcrm.tracking import start_run

    t0 = time.perf_counter()
    prepared = prepare(cfg, console)
    task = prepared.task
    result, _ = fit(prepared)
    render(task, result, prepared.manifest)
    fit_seconds = time.perf_counter() - t0
    name = registered_name(cfg, task)
    tags = {**tlog.git_info(), **run_tags(cfg, task)}
    with start_run(
        cfg.tracking, task.name, run_name=run_name(cfg, task), tags=tags, description=task.question
    ) as active:
        log_run(prepared, result, fit_seconds)
        # every run logs its model; only registered ones move an alias
        version, model_uri = register(
            prepared, result, name if should_register(cfg) else None, cfg.train.alias
        )
        run_id = active.info.run_id
    decision = None
    if version and promote_after_training(cfg):
        from socialcrm.tracking.promote import promote

        decision = promote(cfg, console, prepared=prepared)
    champion = str((cfg.get("promotion") or {}).get("champion", "champion"))
    deployed = deployed_model(name, version, model_uri, decision, champion)
    write_dvc_outputs(result, task, Path(cfg.train.outputs_dir), deployed)
    outcome = TrainOutcome(
        task=task.name,
        model=str(cfg.model.name),
        result=result,
        run_id=run_id,
        registered=name if version else None,
        version=version,
        objective=objective_value(result.metrics, task.metric),
        headline=headline(task, result),
        model_uri=model_uri,
        decision=decision,
    )
    if console is not None:
        print_summary(cfg, task, outcome, console)
    return outcome


def run(cfg: DictConfig, console: Console | None = None) -> float:
    """:func:`train`, returning the validation value of ``task.metric`` (what sweeps maximise)."""
    return train(cfg, console).objective


# -- summaries ----------------------------------------------------------------------


def headline(task: Task, result: TaskResult, short: bool = False) -> list[tuple[str, str, str]]:
    """``(label, model value, baseline value)`` of the task's headline metrics."""
    rows = []
    m, b = result.metrics, result.baseline_metrics
    for h in task.headline[:3] if short else task.headline:
        if h.key in m:
            rows.append(
                (h.label, format(m[h.key], h.fmt), format(b[h.key], h.fmt) if h.key in b else "")
            )
    return rows


def print_summary(cfg: DictConfig, task: Task, outcome: TrainOutcome, console: Console) -> None:
    """The run's headline metrics beside the baseline and references, the grade, the
    task's business views, and where the run and model went."""
    result = outcome.result
    table = Table(title=f"{task.name}: {cfg.model.name} on {cfg.data.name} / {cfg.features.name}")
    refs = list(result.references)
    for col in ("metric", "model", "baseline", *refs):
        table.add_column(col, justify="right" if col != "metric" else "left")
    for h in task.headline:
        if h.key not in result.metrics:
            continue
        base = result.baseline_metrics.get(h.key)
        ref_values = [
            format(result.references[r][h.key], h.fmt) if h.key in result.references[r] else ""
            for r in refs
        ]
        table.add_row(
            h.label,
            format(result.metrics[h.key], h.fmt),
            "" if base is None else format(base, h.fmt),
            *ref_values,
        )
    table.add_row("grade", result.grade, "", *[""] * len(refs))
    for label, value, note in task.summary_rows(result):
        table.add_row(label, value, note, *[""] * len(refs))
    console.print(table)
    where = (
        f"registered {outcome.registered} v{outcome.version} @{cfg.train.alias}"
        if outcome.version
        else "not registered"
    )
    console.print(f"MLflow run {outcome.run_id} ({where}); open the UI with `make ui`")

"""Monitor the deployed model of a task (the I/O edge): ``socialcrm monitor task=churn``.

Loads the version at ``monitor.alias`` (``champion``) of ``socialcrm-<task>`` and
the reference profile logged with it (``reference_profile.json`` of its training
run, written by :func:`log_reference_profile`), builds the point-in-time
features of every active customer at ``monitor.as_of`` with the training code
and config (:func:`socialcrm.features.run.features_as_of`), scores them, and
compares inputs and scores with the reference
(:mod:`socialcrm.monitoring.drift`). Once the labels after ``as_of`` have
matured (``as_of + features.horizon_days`` within the data), it also computes the
realised metrics (the task's ``deployed_metrics``) beside the training run's
test metrics.

Writes ``<monitor.output_dir>/<task>-<as_of>.md`` atomically and logs a run in
the experiment ``<prefix>-<task>-monitor`` (metrics, the drift table, the
Markdown). Only aggregates leave the process: no customer row, identifier or
handle is written or logged.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from socialcrm.data.io import atomic_file
from socialcrm.errors import ConfigError
from socialcrm.monitoring.drift import (
    PSI_MODERATE,
    PSI_SIGNIFICANT,
    drift_table,
    reference_profile,
    summary,
)

#: The reference profile's artifact in the training run of a registered version.
REFERENCE_FILE = "reference_profile.json"
#: At most this many reference rows are scored for the profile of the outputs.
MAX_OUTPUT_ROWS = 50_000
SAMPLE_SEED = 0


# -- at training time -------------------------------------------------------------------


def log_reference_profile(rows: pd.DataFrame, model: Any, bins: int = 10) -> dict[str, Any]:
    """Log the reference profile of ``model`` to the active MLflow run and return it.

    Call it inside the training run that logs the model: the monitor reads the
    profile from the run of the version it monitors.

    Parameters
    ----------
    rows
        The reference rows: the feature table's test cutoff (what the model was judged on).
    model
        The fitted scoring model (``numeric``, ``categorical``, ``scores(X)``).
    bins
        Quantile bins per numeric column.

    Raises
    ------
    RuntimeError
        If no MLflow run is active.
    """
    import mlflow

    if mlflow.active_run() is None:
        raise RuntimeError("log_reference_profile logs to the active MLflow run: start one first")
    sample = rows
    if len(rows) > MAX_OUTPUT_ROWS:
        sample = rows.sample(n=MAX_OUTPUT_ROWS, random_state=SAMPLE_SEED)
    outputs = model.scores(sample).reset_index(drop=True)
    profile = reference_profile(
        rows, list(model.numeric), list(model.categorical), outputs=outputs, bins=bins
    )
    mlflow.log_dict(profile, REFERENCE_FILE)
    return profile


# -- inputs ----------------------------------------------------------------------------


def deployed_version(name: str, alias: str):
    """The registered version of ``name`` at ``alias``.

    Raises
    ------
    ConfigError
        If no version has that alias.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        raise ConfigError(
            f"no version of {name} has the alias @{alias} in {mlflow.get_tracking_uri()}: "
            "train and promote one (socialcrm train ..., socialcrm promote ...) or choose "
            "another monitor.alias"
        ) from None


def version_profile(version) -> dict[str, Any]:
    """The reference profile logged in the training run of a registered ``version``.

    Raises
    ------
    ConfigError
        If the run holds no profile (a version registered before profiles were logged).
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    label = f"{version.name} v{version.version} (run {version.run_id})"
    if not version.run_id:
        raise ConfigError(f"{label} has no training run to read {REFERENCE_FILE} from")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = mlflow.artifacts.download_artifacts(
                run_id=version.run_id, artifact_path=REFERENCE_FILE, dst_path=tmp
            )
            return json.loads(Path(path).read_text())
        except (MlflowException, OSError, ValueError):
            raise ConfigError(
                f"{label} has no {REFERENCE_FILE}: it was registered before reference "
                "profiles were logged; retrain and register the model to monitor it"
            ) from None


def data_end(interim_dir: str | Path) -> pd.Timestamp:
    """The last transaction time of the ingested data set."""
    from socialcrm.features.build import data_bounds
    from socialcrm.features.engine import connect, register_folder

    con = connect(threads=1, memory_limit="2GB")
    try:
        register_folder(con, interim_dir)
        return data_bounds(con)[1]
    finally:
        con.close()


def monitored_as_of(configured: str | None, end: pd.Timestamp) -> pd.Timestamp:
    """``configured`` (a date), or the month start of the data's last date.

    Raises
    ------
    ConfigError
        If ``configured`` is not a date or lies after the data's last date.
    """
    if configured is None:
        return end.normalize().replace(day=1)
    try:
        as_of = pd.Timestamp(str(configured)).normalize()
    except ValueError:
        raise ConfigError(
            f"monitor.as_of must be a date (YYYY-MM-DD), got {configured!r}"
        ) from None
    if as_of > end:
        raise ConfigError(
            f"monitor.as_of {as_of.date()} is after the data's last date {end.date()}: "
            "there is nothing to monitor yet"
        )
    return as_of


def labels_matured(as_of: pd.Timestamp, horizon_days: int, end: pd.Timestamp) -> bool:
    """Whether the label horizon after ``as_of`` lies within the data."""
    return as_of + pd.Timedelta(days=horizon_days) <= end


def score(model_uri: str, rows: pd.DataFrame) -> pd.DataFrame:
    """The pyfunc's outputs on ``rows`` (scores only, no reasons), row for row."""
    import mlflow

    model = mlflow.pyfunc.load_model(model_uri)
    # only the model's inputs: MLflow warns about every other column (ids, labels)
    schema = model.metadata.get_input_schema()
    inputs = [c for c in schema.input_names() if c in rows.columns] if schema else list(rows)
    out = model.predict(rows[inputs], params={"top_reasons": 0})
    return pd.DataFrame(out).reset_index(drop=True)


# -- realised performance -----------------------------------------------------------------


def realised_performance(
    task: Any, rows: pd.DataFrame, outputs: pd.DataFrame, training: Mapping[str, float]
) -> tuple[pd.DataFrame | None, str]:
    """The task's metrics of the outputs on the labelled rows beside the training run's
    test metrics (``test_<metric>``).

    Returns
    -------
    table : pandas.DataFrame or None
        ``metric, realised, training, change``; None when not available.
    note : str
        Why there is no table, or the number of labelled rows.
    """
    if not hasattr(task, "deployed_metrics"):
        return None, f"the {task.name} task reports no metrics of a deployed model"
    target = getattr(task, "target", None)
    keep = rows[target].notna().to_numpy() if target in rows.columns else None
    if keep is not None:
        rows, outputs = rows[keep], outputs[keep]
    try:
        metrics = task.deployed_metrics(rows.reset_index(drop=True), outputs.reset_index(drop=True))
    except (ValueError, KeyError) as err:
        return None, f"not available for these rows ({err})"
    records = []
    for key, value in metrics.items():
        if key == "n":
            continue
        ref = training.get(f"test_{key}")
        records.append(
            {
                "metric": key,
                "realised": float(value),
                "training": float("nan") if ref is None else float(ref),
                "change": float("nan") if ref is None else float(value) - float(ref),
            }
        )
    return pd.DataFrame(records), f"{len(rows):,} labelled rows"


# -- outputs ---------------------------------------------------------------------------------


def _num(v: Any, fmt: str = ".3f") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return format(v, fmt)


def verdict_line(s: Mapping[str, Any], alarm_share: float, significant: float) -> str:
    """One sentence: the verdict and why."""
    score = (
        f"the scores ({s['score_column']}) PSI {_num(s['score_psi'])}, {s['score_severity']}"
        if s["score_column"]
        else "no score profile"
    )
    return (
        f"**{s['verdict']}**: {s['n_drifted']} of {s['n_features']} features drifted "
        f"({s['share_drifted']:.1%}; the alarm is at {alarm_share:.0%}), "
        f"{s['n_significant']} significantly (PSI >= {significant}); {score}."
    )


def markdown(info: Mapping[str, Any], table: pd.DataFrame, s: Mapping[str, Any]) -> str:
    """The monitoring report (aggregates only)."""
    mcfg = info["thresholds"]
    lines = [
        f"# Monitoring {info['model_version']} (@{info['alias']}) on {info['data']}, "
        f"as of {info['as_of']}",
        "",
        verdict_line(s, mcfg["alarm_share"], mcfg["psi_significant"]),
        "",
        "## Overall",
        "",
        "| | |",
        "|---|---|",
        f"| as of | {info['as_of']} |",
        f"| model | {info['model_version']} (@{info['alias']}), training run {info['run_id']} |",
        f"| trained on | {info['trained_on']} |",
        f"| reference rows | {info['n_reference']:,} (the test cutoff at training) |",
        f"| current rows | {info['n_current']:,} (customers active at as_of) |",
        f"| features drifted (PSI >= {mcfg['psi_moderate']}) | {s['n_drifted']} of "
        f"{s['n_features']} ({s['share_drifted']:.1%}) |",
        f"| significant (PSI >= {mcfg['psi_significant']}) | {s['n_significant']} |",
        f"| largest PSI | {_num(s['max_psi'])} ({s['max_psi_feature']}) |",
        f"| score PSI | {_num(s['score_psi'])} ({s['score_column']}, {s['score_severity']}) |",
        f"| verdict | {s['verdict']} |",
        "",
        "## Most drifted features",
        "",
        "| feature | type | PSI | distance | severity | missing (ref -> now) |",
        "|---|---|---|---|---|---|",
    ]
    feats = table[table["kind"] == "feature"].head(info["top"])
    for r in feats.itertuples():
        lines.append(
            f"| {r.column} | {r.type} | {_num(r.psi)} | {_num(r.distance)} | {r.severity} | "
            f"{r.ref_missing:.1%} -> {r.cur_missing:.1%} |"
        )
    lines += ["", "## Score drift", ""]
    scores = table[table["kind"] == "score"]
    if scores.empty:
        lines.append("The reference profile holds no model outputs.")
    else:
        lines += ["| output | type | PSI | distance | severity |", "|---|---|---|---|---|"]
        for r in scores.itertuples():
            lines.append(
                f"| {r.column} | {r.type} | {_num(r.psi)} | {_num(r.distance)} | {r.severity} |"
            )
    lines += ["", "## Realised performance", ""]
    realised = info.get("realised")
    if realised is None:
        lines.append(info["realised_note"])
    else:
        lines += [
            f"On {info['realised_note']} (labels of the {info['horizon_days']} days after as of).",
            "",
            "| metric | realised | training (test) | change |",
            "|---|---|---|---|",
        ]
        for r in realised.itertuples():
            lines.append(
                f"| {r.metric} | {_num(r.realised, '.4f')} | {_num(r.training, '.4f')} | "
                f"{_num(r.change, '+.4f')} |"
            )
    lines += [
        "",
        "---",
        f"PSI on the reference's quantile bins (numeric, a bin for missing values) or levels "
        f"(categorical), empty bins floored at 1e-4; severity by the credit-scoring rule of "
        f"thumb: < {mcfg['psi_moderate']} stable, {mcfg['psi_moderate']} to "
        f"{mcfg['psi_significant']} moderate, >= {mcfg['psi_significant']} significant. "
        "Distance: Wasserstein-1 between 100-quantile sketches over the reference IQR (its "
        "standard deviation when the IQR is 0) for numeric columns; Jensen-Shannon distance, "
        "base 2, for categorical ones.",
        "",
    ]
    return "\n".join(lines)


def print_result(
    console: Console, info: Mapping[str, Any], table: pd.DataFrame, s: Mapping[str, Any]
) -> None:
    """The verdict, the most drifted features and the scores, as rich tables."""
    colour = {"drift": "red", "watch": "yellow", "stable": "green"}[s["verdict"]]
    t = Table(title=f"monitor: {info['model_version']} (@{info['alias']}) as of {info['as_of']}")
    t.add_column("column")
    t.add_column("kind")
    t.add_column("PSI", justify="right")
    t.add_column("distance", justify="right")
    t.add_column("severity")
    shown = pd.concat(
        [table[table["kind"] == "feature"].head(info["top"]), table[table["kind"] == "score"]]
    )
    for r in shown.itertuples():
        t.add_row(r.column, r.kind, _num(r.psi), _num(r.distance), r.severity)
    console.print(t)
    realised = info.get("realised")
    if realised is not None:
        p = Table(title=f"realised performance ({info['realised_note']})")
        for col in ("metric", "realised", "training (test)", "change"):
            p.add_column(col, justify="left" if col == "metric" else "right")
        for r in realised.itertuples():
            p.add_row(
                r.metric, _num(r.realised, ".4f"), _num(r.training, ".4f"), _num(r.change, "+.4f")
            )
        console.print(p)
    else:
        console.print(f"realised performance: {info['realised_note']}")
    line = verdict_line(s, info["thresholds"]["alarm_share"], info["thresholds"]["psi_significant"])
    console.print(f"[bold {colour}]verdict[/] " + line.replace("**", ""))


def write_report(path: Path, text: str) -> Path:
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def log_monitor_run(
    cfg: DictConfig, task_name: str, info: Mapping[str, Any], table, s, text
) -> str:
    """A run in ``<prefix>-<task>-monitor``: parameters, metrics, the drift table and the report."""
    import mlflow

    from socialcrm.tracking import start_run
    from socialcrm.tracking.log import log_metrics

    metrics = {
        "share_drifted": s["share_drifted"],
        "n_drifted": s["n_drifted"],
        "n_significant": s["n_significant"],
        "max_psi": s["max_psi"],
        "score_psi": s["score_psi"],
        "n_current": info["n_current"],
    }
    realised = info.get("realised")
    if realised is not None:
        for r in realised.itertuples():
            metrics[f"realised_{r.metric}"] = r.realised
            metrics[f"realised_change_{r.metric}"] = r.change
    tags = {
        "task": task_name,
        "data": str(cfg.data.name),
        "model_version": info["model_version"],
        "alias": info["alias"],
        "as_of": info["as_of"],
        "verdict": s["verdict"],
        "mlflow.note.content": verdict_line(
            s, info["thresholds"]["alarm_share"], info["thresholds"]["psi_significant"]
        ),
    }
    with start_run(
        cfg.tracking,
        f"{task_name}-monitor",
        run_name=f"{task_name}-monitor-{info['as_of']}",
        tags=tags,
        description=f"Drift and realised performance of the deployed {task_name} model.",
    ) as run:
        mlflow.log_params(
            {
                "as_of": info["as_of"],
                "alias": info["alias"],
                "model_version": info["model_version"],
                "labels_matured": info["labels_matured"],
                **{f"monitor.{k}": v for k, v in info["thresholds"].items()},
            }
        )
        log_metrics(metrics)
        mlflow.log_table(data=table, artifact_file="drift_table.json")
        if realised is not None:
            mlflow.log_table(data=realised, artifact_file="realised_performance.json")
        mlflow.log_text(text, f"{task_name}-{info['as_of']}.md")
        return run.info.run_id


# -- the edge ---------------------------------------------------------------------------------


def run_monitor(cfg: DictConfig, console: Console | None = None) -> dict[str, Any]:
    """Monitor the deployed model of ``cfg.task`` at ``cfg.monitor.as_of``.

    Parameters
    ----------
    cfg
        The composed root config (``task``, ``monitor``, ``features``, ``data``,
        ``tracking``, ``train.registered_model``).
    console
        Progress and the result tables go here; ``None`` is silent.

    Returns
    -------
    dict
        ``task, model_version, alias, as_of, labels_matured, summary`` (see
        :func:`socialcrm.monitoring.drift.summary`), ``table`` (the drift table),
        ``realised`` (table or None), ``report`` (the Markdown's path) and
        ``run_id`` (None when not logged).

    Raises
    ------
    ConfigError
        If no version has the alias, it has no reference profile, or ``as_of`` is
        not a date within the data.
    FileNotFoundError
        If the data set is not ingested.
    """
    from socialcrm.features.run import features_as_of
    from socialcrm.runner import build_task, registered_name
    from socialcrm.tracking import configure

    mcfg = cfg.monitor
    thresholds = {
        "psi_moderate": float(mcfg.get("psi_moderate", PSI_MODERATE)),
        "psi_significant": float(mcfg.get("psi_significant", PSI_SIGNIFICANT)),
        "alarm_share": float(mcfg.alarm_share),
    }
    task = build_task(cfg)
    name = registered_name(cfg, task)
    alias = str(mcfg.alias)
    configure(cfg.tracking)
    version = deployed_version(name, alias)
    profile = version_profile(version)
    trained_on = f"{version.tags.get('data', '?')} / {version.tags.get('features', '?')}"
    if console is not None and version.tags.get("data") not in (None, str(cfg.data.name)):
        console.print(
            f"[yellow]{name} v{version.version} was trained on data={version.tags['data']}, "
            f"monitored on data={cfg.data.name}[/]"
        )

    end = data_end(cfg.data.interim_dir)
    as_of = monitored_as_of(mcfg.as_of, end)
    horizon = int(cfg.features.horizon_days)
    matured = labels_matured(as_of, horizon, end)
    rows = features_as_of(cfg, as_of, with_labels=matured, console=console).frame
    if rows.empty:
        raise ConfigError(f"no customer is active at monitor.as_of {as_of.date()}")
    rows = rows.reset_index(drop=True)
    outputs = score(f"models:/{name}/{version.version}", rows)
    table = drift_table(
        profile, rows, outputs, thresholds["psi_moderate"], thresholds["psi_significant"]
    )
    s = summary(table, thresholds["alarm_share"], int(mcfg.top), thresholds["psi_significant"])

    import mlflow

    if matured:
        training = mlflow.MlflowClient().get_run(version.run_id).data.metrics
        realised, note = realised_performance(task, rows, outputs, training)
    else:
        realised = None
        mature_on = (as_of + pd.Timedelta(days=horizon)).date()
        note = (
            f"the labels of the {horizon} days after {as_of.date()} are complete on "
            f"{mature_on}, after the data's last date {end.date()}: not observed yet"
        )
    info = {
        "task": task.name,
        "model_version": f"{name} v{version.version}",
        "alias": alias,
        "run_id": version.run_id,
        "data": str(cfg.data.name),
        "trained_on": trained_on,
        "as_of": f"{as_of.date()}",
        "labels_matured": matured,
        "horizon_days": horizon,
        "n_reference": int(profile.get("n", 0)),
        "n_current": len(rows),
        "thresholds": thresholds,
        "top": int(mcfg.top),
        "realised": realised,
        "realised_note": note,
    }
    text = markdown(info, table, s)
    path = write_report(Path(mcfg.output_dir) / f"{task.name}-{as_of.date()}.md", text)
    run_id = log_monitor_run(cfg, task.name, info, table, s, text) if mcfg.log_to_mlflow else None
    if console is not None:
        print_result(console, info, table, s)
        where = f"; MLflow run {run_id}" if run_id else ""
        console.print(f"written to {path}{where}")
    return {
        "task": task.name,
        "model_version": info["model_version"],
        "alias": alias,
        "as_of": as_of,
        "labels_matured": matured,
        "summary": s,
        "table": table,
        "realised": realised,
        "report": path,
        "run_id": run_id,
    }

"""Log a run's provenance and results to the active MLflow run.

Provenance: the composed config (YAML artifact and flattened params), the git
commit, the data set and feature-set identity (content hash and an
``mlflow.data`` dataset). Results: metrics, tables (CSV), figures (PNG), the
feature manifest. Raw identifiers, handles, e-mails and post texts never reach
these: feature tables hold none, and reason codes carry hashed identifiers.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import mlflow
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from socialcrm.identity import file_sha256
from socialcrm.paths import project_root
from socialcrm.redact import redacted_container

MAX_PARAM = 500  # characters; longer values are cut (the full config is an artifact)


_NAME_OK = re.compile(r"[^0-9A-Za-z_\-. :/]")


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}`` (lists as JSON; characters MLflow
    does not allow in names, such as ``+``, become ``_``)."""
    out: dict[str, str] = {}
    for k, v in d.items():
        key = _NAME_OK.sub("_", f"{prefix}{k}")
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            text = json.dumps(v) if isinstance(v, list | tuple) else str(v)
            out[key] = text[:MAX_PARAM]
    return out


def git_info() -> dict[str, str]:
    """Current commit and whether the working tree has uncommitted changes."""
    root = project_root()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"mlflow.source.git.commit": "unknown"}
    return {"mlflow.source.git.commit": commit, "git_dirty": str(bool(dirty)).lower()}


# The features settings that tell runs apart (the rest is in config.yaml and in the
# table's identity hash, logged as features.identity).
FEATURE_PARAMS = ("name", "groups", "cutoffs", "windows_days", "horizon_days", "population")
FEATURE_PARAMS += ("churn", "split")


def run_params(container: Mapping[str, Any], kind: str) -> dict[str, str]:
    """The few dozen params that distinguish runs, from a (redacted) plain config.

    The task's settings, the model's name, preprocessing and estimator for the
    task's ``kind``, the feature set's content settings, the data set's name,
    source and as_of, the seed and the split; never paths, the generator, tuning
    spaces or engine settings (all of it stays in the ``config.yaml`` artifact).
    """
    model = container.get("model") or {}
    features = container.get("features") or {}
    data = container.get("data") or {}
    chosen = {
        "task": {k: v for k, v in (container.get("task") or {}).items() if k != "salt"},
        "model": {k: model.get(k) for k in ("name", "preprocessing", kind) if k in model},
        "features": {k: features[k] for k in FEATURE_PARAMS if k in features},
        "data": {k: data.get(k) for k in ("name", "source", "as_of")},
        "seed": container.get("seed"),
        "split": container.get("split"),
    }
    return flatten({k: v for k, v in chosen.items() if v is not None})


def log_config(cfg: DictConfig, kind: str, extra: Mapping[str, str] | None = None) -> None:
    """The run's distinguishing params (:func:`run_params`, plus ``extra``) and the whole
    composed config as ``config.yaml``, secrets redacted in both."""
    container = redacted_container(cfg)
    mlflow.log_params({**run_params(container, kind), **(extra or {})})
    mlflow.log_text(OmegaConf.to_yaml(OmegaConf.create(container)), "config.yaml")


def log_dataset(frame: pd.DataFrame, source: str | Path, name: str, target: str) -> str:
    """Log the training data's identity: a content hash tag and an ``mlflow.data`` input
    (``target`` named as its target column when the table holds it: a task whose rows
    come from elsewhere, such as next-best-offer's contacts, has none here)."""
    digest = file_sha256(source)
    mlflow.set_tags({"data.features_sha256": digest, "data.features_path": str(source)})
    dataset = mlflow.data.from_pandas(
        frame.drop(columns=[c for c in ("customer_id",) if c in frame.columns]),
        source=_local_source(source),
        name=name,
        targets=target if target in frame.columns else None,
        digest=digest[:16],
    )
    mlflow.log_input(dataset, context="training")
    return digest


def _local_source(path: str | Path) -> Any:
    """A local-file dataset source for ``path``.

    MLflow registers its local-file source twice (for the schemes ``""`` and
    ``file``), so resolving a path given as text warns that it "can be interpreted
    in multiple ways" at every run; both are the same kind of source, so one is
    taken here.
    """
    from mlflow.data.dataset_source_registry import get_registered_sources

    for cls in reversed(get_registered_sources()):
        if cls._get_source_type() == "local" and cls._can_resolve(str(path)):
            return cls.from_dict({"uri": str(path)})
    return str(path)


def log_metrics(metrics: Mapping[str, float], prefix: str = "") -> None:
    """Finite numeric metrics only (NaN and strings are skipped)."""
    clean = {
        f"{prefix}{k}": float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and math.isfinite(float(v))
    }
    mlflow.log_metrics(clean)


def log_tables(tables: Mapping[str, pd.DataFrame], folder: str = "tables") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, table in tables.items():
            path = Path(tmp) / f"{name}.csv"
            table.to_csv(path, index=False)
            mlflow.log_artifact(str(path), folder)


def log_figures(figures: Mapping[str, plt.Figure], folder: str = "plots") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, fig in figures.items():
            path = Path(tmp) / f"{name}.png"
            fig.savefig(path, dpi=100)
            mlflow.log_artifact(str(path), folder)
            plt.close(fig)


def result_metrics(result: Any) -> dict[str, float]:
    """A result's metrics under the names the runs table shows, grouped by prefix.

    ``valid_*`` (validation) and ``backtest_*`` keep their names; everything
    measured on the test rows starts with ``test_`` (``test_roc_auc``, the
    baseline's ``test_baseline_roc_auc``, a reference's ``test_btyd_...``); a
    cross-validated result (no ``valid_`` metric) uses ``cv_`` instead, for fold
    means and their ``_sd``.
    """
    cv = not any(k.startswith("valid_") for k in result.metrics)
    where = "cv_" if cv else "test_"
    out = {}
    for key, value in result.metrics.items():
        kept = key.startswith(("valid_", "backtest_"))
        out[key if kept else f"{where}{key}"] = value
    out |= {f"{where}baseline_{k}": v for k, v in result.baseline_metrics.items()}
    for name, metrics in getattr(result, "references", {}).items():
        out |= {f"{where}{name}_{k}": v for k, v in metrics.items()}
    return out


def log_task_result(result: Any, fit_seconds: float | None = None) -> None:
    """A :class:`~socialcrm.tasks.base.TaskResult`'s metrics (named by
    :func:`result_metrics`), tables (reason codes under ``explanations/``) and figures,
    as the training run logs them.
    """
    log_metrics(result_metrics(result))
    if fit_seconds is not None:
        mlflow.log_metric("fit_seconds", fit_seconds)
    log_tables({k: v for k, v in result.tables.items() if k != "reasons"})
    if "reasons" in result.tables:
        log_tables({"reasons": result.tables["reasons"]}, folder="explanations")
    log_figures(result.figures)

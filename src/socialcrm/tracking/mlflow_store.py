"""Where MLflow runs go, set explicitly from ``conf/tracking/``.

MLflow's implicit defaults (``./mlruns``, ``sqlite:///mlflow.db`` in whatever the
current directory is) are never used: :func:`configure` sets the tracking URI
and each experiment's artifact location from config before anything is logged.
Telemetry is switched off.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
# MLflow's tqdm bars for every artifact download would fill logs (the gate loads models)
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import mlflow

NOTE = "mlflow.note.content"  # the tag the UI shows as a run's or experiment's description


def configure(tracking: Mapping[str, Any]) -> str:
    """Point MLflow at the configured store; create the local folders it needs.

    Returns
    -------
    str
        The tracking URI.
    """
    uri = str(tracking["tracking_uri"])
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if tracking.get("artifact_root"):
        Path(str(tracking["artifact_root"])).mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    return uri


def experiment_name(tracking: Mapping[str, Any], name: str) -> str:
    """``<prefix>-<name>``: one MLflow experiment per task (churn, clv, insights, ...);
    ``<prefix>-<name>-dev`` when ``tracking.dev`` (a development preset's runs)."""
    prefix = tracking.get("experiment_prefix")
    full = f"{prefix}-{name}" if prefix else name
    return f"{full}-dev" if tracking.get("dev") else full


def _experiment_id(tracking: Mapping[str, Any], name: str, description: str | None = None) -> str:
    full = experiment_name(tracking, name)
    exp = mlflow.get_experiment_by_name(full)
    if exp is None:
        location = None
        if tracking.get("artifact_root"):
            location = (Path(str(tracking["artifact_root"])) / full).resolve().as_uri()
        exp_id = mlflow.create_experiment(full, artifact_location=location)
        tags: Mapping[str, str] = {}
    else:
        exp_id, tags = exp.experiment_id, exp.tags
    if description and tags.get(NOTE) != description:
        # the experiment's description in the UI
        mlflow.MlflowClient().set_experiment_tag(exp_id, NOTE, description)
    return exp_id


@contextlib.contextmanager
def start_run(
    tracking: Mapping[str, Any],
    experiment: str,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    nested: bool = False,
    description: str | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """Start an MLflow run in the configured store and experiment.

    Parameters
    ----------
    tracking
        The ``tracking`` config node.
    experiment
        Short experiment name (the prefix is added).
    run_name, tags, nested
        Passed to :func:`mlflow.start_run`.
    description
        The experiment's description (Markdown), set if it differs.
    """
    configure(tracking)
    exp_id = _experiment_id(tracking, experiment, description)
    with mlflow.start_run(
        experiment_id=exp_id, run_name=run_name, tags=dict(tags or {}), nested=nested
    ) as run:
        yield run

"""What every task provides: the contract the run edge, tuning, the CLI and the DVC
outputs depend on (and nothing else of a task).

A task is a class built from its config by :func:`socialcrm.runner.build_task`
(``hydra.utils.instantiate`` of ``cfg.task`` without the keys the run edge reads,
such as the promotion gate's ``gate``) with plain-value parameters. The shared
layer reads only what :class:`Task` declares, so a new task is one module and one
``conf/task/<name>.yaml``:

- identity: ``name`` (the MLflow experiment and ``socialcrm-<name>`` model),
  ``question`` (what the task answers: the experiment's and runs' description),
  ``target`` (label column), ``kind`` (which estimator node of a model config it
  fits: ``classification`` or ``regression``), ``metric`` (what sweeps maximise,
  read as ``valid_<metric>`` or, cross-validated, ``<metric>``);
- inputs beyond the feature table: ``context_tables`` (ingested event tables by
  name) and ``context_models`` (context name -> registered model URI whose
  predictions the run edge scores for it; a model trained on another data set or
  feature set is not used);
- ``fit_evaluate``: fit, evaluate against the task's baseline, grade, business
  views, explanations; returns a :class:`~socialcrm.tasks.base.TaskResult`;
- judging a deployed model (the promotion gate, model cards, monitoring):
  ``evaluation_rows`` (the labelled rows of the latest cutoff, with whatever the
  metrics need) and ``deployed_metrics`` (the task's metrics of a logged model's
  outputs on those rows); ``decide`` (the decision per row from the outputs of a
  whole batch: a campaign's budget binds across rows);
- reporting: ``headline`` (summary metrics), ``summary_rows`` (business views as
  text), ``dvc_tables`` (result tables DVC plots);
- explanations, which the run edge computes with SHAP on the result's
  ``explain_rows`` when it publishes a run: ``explain`` (on or off),
  ``explain_max_rows`` (rows in the global plots), ``top_reasons`` (reason codes
  each way per customer), ``salt`` (hashes the customer ids of the reason table).

``fit_evaluate`` returns numbers, tables and plot functions (``drawings``), never
drawn figures: fitting many times (tuning trials, experiment grids, backtest
origins) draws nothing, and the run edge draws what it publishes.

The deployed model's output columns come from the fitted
:class:`~socialcrm.models.calibration.ScoringModel` (``output_columns``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

import pandas as pd

from socialcrm.tasks.base import TaskResult


class Headline(NamedTuple):
    """One summary line: ``label`` shows metric ``key`` formatted with ``fmt``."""

    label: str
    key: str
    fmt: str


@runtime_checkable
class Task(Protocol):
    """The declared task contract (see the module docstring)."""

    name: str
    question: str
    target: str
    kind: str
    metric: str
    explain: bool
    explain_max_rows: int
    top_reasons: int
    salt: str
    context_tables: tuple[str, ...]
    context_models: Mapping[str, str]
    headline: tuple[Headline, ...]
    dvc_tables: tuple[str, ...]

    def fit_evaluate(
        self,
        frame: pd.DataFrame,
        manifest: Sequence[Mapping[str, str]],
        groups: Sequence[str],
        model_cfg: Mapping[str, Any],
        seed: int,
        context: Mapping[str, pd.DataFrame] | None = None,
    ) -> TaskResult:
        """Fit on the task's training rows, evaluate, grade, explain."""
        ...

    def summary_rows(self, result: TaskResult) -> list[tuple[str, str, str]]:
        """Business views for the run summary: ``(label, value, note)`` rows."""
        ...

    def evaluation_rows(
        self,
        frame: pd.DataFrame,
        manifest: Sequence[Mapping[str, str]],
        groups: Sequence[str],
        model_cfg: Mapping[str, Any],
        seed: int,
        context: Mapping[str, pd.DataFrame] | None = None,
    ) -> pd.DataFrame:
        """The rows every candidate model is judged on: the latest labelled cutoff's
        (keys, feature columns, target, and what :meth:`deployed_metrics` needs)."""
        ...

    def deployed_metrics(self, rows: pd.DataFrame, outputs: pd.DataFrame) -> dict[str, float]:
        """The task's metrics of a deployed model's ``outputs`` (what its pyfunc returns,
        row for row) on ``rows`` (from :meth:`evaluation_rows`, or a slice of them)."""
        ...

    def decide(
        self,
        rows: pd.DataFrame,
        outputs: pd.DataFrame,
        context: Mapping[str, pd.DataFrame] | None = None,
    ) -> pd.Series | None:
        """The decision per row from a batch's outputs (None: the task makes none);
        ``context`` as for :meth:`fit_evaluate`."""
        ...


METHODS = ("fit_evaluate", "summary_rows", "evaluation_rows", "deployed_metrics", "decide")


def check_task(task: object) -> Task:
    """``task`` if it provides everything :class:`Task` declares.

    Raises
    ------
    TypeError
        Naming the attributes or methods it lacks.
    """
    missing = [name for name in (*Task.__annotations__, *METHODS) if not hasattr(task, name)]
    if missing:
        raise TypeError(
            f"{type(task).__name__} is not a task: it lacks {', '.join(missing)} "
            "(see socialcrm.tasks.protocol.Task)"
        )
    return task  # type: ignore[return-value]

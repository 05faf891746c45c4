"""Hyperparameter search for one task and model, on the run edge.

An optuna TPE study (sampler seeded with ``tune.seed``) maximises the validation
value of ``task.metric`` (``valid_roc_auc`` for churn: the model is fitted on the
training cutoffs and scored on the validation cutoff; the test cutoff never
chooses anything; cross-validated tasks: the CV mean). It stops after
``tune.n_trials`` trials or ``tune.timeout`` seconds, whichever comes first.
Search spaces live in ``conf/tune/default.yaml`` under ``tune.spaces.<model name>``.

MLflow (the task's experiment): one parent run ``tune-<task>-<model>-...`` with a
nested run per trial (params: the sampled hyperparameters; metrics: validation
and test metrics, ``objective``, ``fit_seconds``). The parent holds the best
trial's params (``best.<key>``), ``best_value``, ``best_trial``, the table of all
trials (``tune/trials.csv``), the optimisation history (``tune/optimization_history.png``)
and the best model refitted and logged as training logs it (config with the best
hyperparameters, metrics, plots, SHAP if ``task.explain``, the pyfunc model).
With ``tune.register=true`` the model is registered as ``socialcrm-<task>`` and
the ``challenger`` alias points at it. Trials draw no plots and skip SHAP.
The entry point is ``python -m socialcrm.tune``.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import matplotlib.pyplot as plt
import optuna
import pandas as pd
from matplotlib.ticker import MaxNLocator
from omegaconf import DictConfig, OmegaConf, open_dict
from rich.console import Console
from rich.table import Table

from socialcrm import runner
from socialcrm.tasks.base import TaskResult

SPEC_KEYS = {
    "int": {"type", "low", "high", "log", "step"},
    "float": {"type", "low", "high", "log", "step"},
    "categorical": {"type", "choices"},
}

# -- search spaces (pure) -----------------------------------------------------------


def space_for(spaces: Mapping[str, Any], model: str) -> Mapping[str, Any]:
    """The search space of ``model`` from ``tune.spaces``.

    Raises
    ------
    ValueError
        If there is no (or an empty) space for ``model``.
    """
    space = spaces.get(model)
    if not space:
        known = sorted(k for k, v in spaces.items() if v)
        raise ValueError(
            f"no search space for model {model!r} in tune.spaces (spaces exist for "
            f"{', '.join(known) or 'no model'}); add tune.spaces.{model} to "
            "conf/tune/default.yaml or choose one of those models"
        )
    return space


def check_spec(name: str, spec: Mapping[str, Any]) -> None:
    """Raise a ``ValueError`` naming ``name`` if ``spec`` is not a valid parameter spec.

    A spec is ``{type: int|float, low, high[, log][, step]}`` or
    ``{type: categorical, choices: [...]}``; ``log`` needs ``low > 0`` and no ``step``.
    """
    kind = spec.get("type")
    if kind not in SPEC_KEYS:
        raise ValueError(f"{name}: type must be one of {sorted(SPEC_KEYS)}, got {kind!r}")
    unknown = set(spec) - SPEC_KEYS[kind]
    if unknown:
        raise ValueError(
            f"{name}: unknown keys {sorted(unknown)} for type {kind} "
            f"(allowed: {sorted(SPEC_KEYS[kind])})"
        )
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list | tuple) or not choices:
            raise ValueError(f"{name}: categorical needs a non-empty list of choices")
        bad = [c for c in choices if c is not None and not isinstance(c, bool | int | float | str)]
        if bad:
            raise ValueError(f"{name}: choices must be None, bool, int, float or str, got {bad}")
        return
    number = Integral if kind == "int" else Real
    for key in ("low", "high"):
        value = spec.get(key)
        if value is None or isinstance(value, bool) or not isinstance(value, number):
            raise ValueError(f"{name}: {key} must be a{'n int' if kind == 'int' else ' number'}")
    low, high = spec["low"], spec["high"]
    if not low < high:
        raise ValueError(f"{name}: low ({low}) must be below high ({high})")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ValueError(f"{name}: log must be true or false, got {log!r}")
    step = spec.get("step")
    if log and low <= 0:
        raise ValueError(f"{name}: a log scale needs low > 0, got {low}")
    if step is not None:
        if log:
            raise ValueError(f"{name}: log and step cannot be combined")
        if isinstance(step, bool) or not isinstance(step, number) or step <= 0:
            raise ValueError(f"{name}: step must be a positive {kind}, got {step!r}")


def flatten_space(space: Mapping[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """``{dotted model-config path: spec}``, checked.

    A spec is a mapping with a ``type`` key; other mappings are nodes whose keys
    extend the path, so ``{"classification": {"C": spec}}`` and
    ``{"classification.C": spec}`` are the same space.

    Raises
    ------
    ValueError
        If the space is empty, a leaf is not a spec or a spec is invalid.
    """
    out: dict[str, dict[str, Any]] = {}
    for key, value in space.items():
        name = f"{prefix}{key}"
        if not isinstance(value, Mapping):
            raise ValueError(
                f"{name}: expected a spec such as {{type: float, low: 0.01, high: 0.2}} "
                f"or a node of specs, got {value!r}"
            )
        if "type" in value:
            check_spec(name, value)
            out[name] = dict(value)
        else:
            out.update(flatten_space(value, name + "."))
    if not out and not prefix:
        raise ValueError("the search space has no parameters")
    return out


def suggest(space: Mapping[str, Any], trial: optuna.trial.BaseTrial) -> dict[str, Any]:
    """Sample every parameter of ``space`` with ``trial``: ``{dotted path: value}``."""
    params: dict[str, Any] = {}
    for name, spec in flatten_space(space).items():
        kind = spec["type"]
        if kind == "categorical":
            params[name] = trial.suggest_categorical(name, list(spec["choices"]))
        elif kind == "int":
            step = int(spec.get("step") or 1)
            params[name] = trial.suggest_int(
                name, int(spec["low"]), int(spec["high"]), step=step, log=spec.get("log", False)
            )
        else:
            params[name] = trial.suggest_float(
                name,
                float(spec["low"]),
                float(spec["high"]),
                step=None if spec.get("step") is None else float(spec["step"]),
                log=spec.get("log", False),
            )
    return params


def _parent(model_cfg: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    """The dict holding ``path``'s last key, and that key; the key must exist."""
    parts = path.split(".")
    node: Any = model_cfg
    for i, part in enumerate(parts[:-1]):
        node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            raise ValueError(
                f"model {model_cfg.get('name')!r} has no config node {'.'.join(parts[: i + 1])!r} "
                f"(tuning {path!r})"
            )
    if parts[-1] not in node:
        raise ValueError(
            f"model {model_cfg.get('name')!r} has no key {path!r}: tune only keys that exist in "
            f"conf/model/{model_cfg.get('name')}.yaml (give it a default there first)"
        )
    return node, parts[-1]


def check_paths(model_cfg: Mapping[str, Any], paths: list[str]) -> None:
    """Raise a ``ValueError`` if a dotted path does not exist in ``model_cfg``."""
    for path in paths:
        _parent(dict(model_cfg), path)


def apply_overrides(model_cfg: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the plain model config with ``{dotted path: value}`` set.

    Raises
    ------
    ValueError
        If a path does not exist in ``model_cfg`` (typos are errors, not new keys).
    """
    out = copy.deepcopy(dict(model_cfg))
    for path, value in overrides.items():
        node, key = _parent(out, path)
        node[key] = value
    return out


# -- the study (plain values) -------------------------------------------------------


def run_study(
    objective: Callable[[optuna.Trial], float],
    n_trials: int | None,
    timeout: float | None,
    seed: int,
    study_name: str | None = None,
) -> optuna.Study:
    """Maximise ``objective`` with a seeded TPE sampler until ``n_trials`` or ``timeout``.

    Raises
    ------
    ValueError
        If neither limit is set or ``n_trials < 1``.
    RuntimeError
        If no trial completed.
    """
    if n_trials is None and timeout is None:
        raise ValueError("set tune.n_trials or tune.timeout (or both): the search needs a limit")
    if n_trials is not None and n_trials < 1:
        raise ValueError(f"tune.n_trials must be at least 1, got {n_trials}")
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        study_name=study_name,
    )
    study.optimize(objective, n_trials=n_trials, timeout=timeout)
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        raise RuntimeError("no trial completed (every objective value was NaN or failed)")
    return study


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, value, seconds, MLflow run id, params, best flag."""
    best = study.best_trial.number
    rows = [
        {
            "trial": t.number,
            "state": t.state.name,
            "value": t.value if t.value is not None else math.nan,
            "seconds": t.duration.total_seconds() if t.duration else math.nan,
            "run_id": t.user_attrs.get("run_id"),
            "best": t.number == best,
            **t.params,
        }
        for t in study.trials
    ]
    return pd.DataFrame(rows)


def history_figure(values: list[float], metric: str) -> plt.Figure:
    """Each trial's objective value and the best so far (maximised)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    trials = list(range(len(values)))
    best, running = -math.inf, []
    for v in values:
        best = max(best, v) if not math.isnan(v) else best
        running.append(best if best > -math.inf else math.nan)
    ax.plot(trials, values, "o", alpha=0.6, label="trial")
    ax.step(trials, running, where="post", color="C3", label="best so far")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title("optimisation history")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


# -- the entry point ----------------------------------------------------------------


@dataclass
class TuneOutcome:
    """What one search produced: the best trial, its refitted model and the MLflow runs."""

    task: str
    model: str
    metric: str
    best_value: float
    best_params: dict[str, Any]
    best_trial: int
    run_id: str
    trial_run_ids: list[str]
    result: TaskResult
    trials: pd.DataFrame
    registered: str | None = None
    version: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


def tune(cfg: DictConfig, console: Console | None = None) -> TuneOutcome:
    """Search ``cfg.model``'s hyperparameters for ``cfg.task``; log trials and the best.

    Every trial and the refit of the best go through the run edge
    (:mod:`socialcrm.runner`): the same table, task context, fit, logging and
    registration as a training run.
    """
    import mlflow

    from socialcrm.tracking import log as tlog
    from socialcrm.tracking import start_run

    t_start = time.perf_counter()
    model_name = str(cfg.model.name)
    space = space_for(OmegaConf.to_container(cfg.tune.spaces, resolve=True), model_name)
    base_model = OmegaConf.to_container(cfg.model, resolve=True)
    check_paths(base_model, list(flatten_space(space)))  # fail before any data is loaded

    prepared = runner.prepare(cfg, console)
    task = prepared.task
    metric_key = f"valid_{task.metric}"
    registered = cfg.tune.registered_model or runner.registered_name(cfg, task)
    run_name = runner.run_name(cfg, task, prefix="tune-")
    tags = runner.run_tags(cfg, task)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    parent_tags = {**tlog.git_info(), **tags, "tune": "study"}
    with start_run(
        cfg.tracking, task.name, run_name=run_name, tags=parent_tags, description=task.question
    ) as parent:

        def objective(trial: optuna.Trial) -> float:
            params = suggest(space, trial)
            with start_run(
                cfg.tracking,
                task.name,
                run_name=f"{run_name}-trial{trial.number:03d}",
                tags={**tags, "tune": "trial", "trial": str(trial.number)},
                nested=True,
            ) as child:
                trial.set_user_attr("run_id", child.info.run_id)
                mlflow.log_params(params)
                # a fit draws nothing and explains nothing: only the best is rendered
                result, seconds = runner.fit(prepared, apply_overrides(base_model, params))
                tlog.log_metrics(tlog.result_metrics(result))
                value = runner.objective_value(result.metrics, task.metric)
                mlflow.log_metrics({"objective": value, "fit_seconds": seconds})
            if console is not None:
                console.print(f"trial {trial.number}: {metric_key} {value:.4f}")
            return value

        timeout = cfg.tune.timeout
        study = run_study(
            objective,
            None if cfg.tune.n_trials is None else int(cfg.tune.n_trials),
            None if timeout is None else float(timeout),
            int(cfg.tune.seed),
            study_name=run_name,
        )
        best = study.best_trial
        best_model = apply_overrides(base_model, best.params)
        result, fit_seconds = runner.fit(prepared, best_model)
        runner.render(task, result, prepared.manifest)
        best_cfg = copy.deepcopy(cfg)
        with open_dict(best_cfg):
            best_cfg.model = best_model
        runner.log_run(prepared, result, fit_seconds, cfg=best_cfg)
        mlflow.log_params({f"best.{k}": v for k, v in best.params.items()})
        table = trials_table(study)
        mlflow.log_metrics(
            {
                "best_value": float(study.best_value),
                "best_trial": best.number,
                "n_trials": int((table["state"] == "COMPLETE").sum()),
            }
        )
        tlog.log_tables({"trials": table}, folder="tune")
        values = [t.value if t.value is not None else math.nan for t in study.trials]
        tlog.log_figures({"optimization_history": history_figure(values, metric_key)}, "tune")
        mlflow.set_tag("best_trial_run_id", best.user_attrs["run_id"])
        version, _ = runner.register(
            prepared, result, registered if cfg.tune.register else None, str(cfg.tune.alias)
        )
        mlflow.log_metric("tune_seconds", time.perf_counter() - t_start)
        run_id = parent.info.run_id

    outcome = TuneOutcome(
        task=task.name,
        model=model_name,
        metric=metric_key,
        best_value=float(study.best_value),
        best_params=dict(best.params),
        best_trial=best.number,
        run_id=run_id,
        trial_run_ids=[t.user_attrs["run_id"] for t in study.trials if "run_id" in t.user_attrs],
        result=result,
        trials=table,
        registered=registered if version is not None else None,
        version=version,
        info={"refit_value": runner.objective_value(result.metrics, task.metric)},
    )
    if console is not None:
        _summary(outcome, console, alias=str(cfg.tune.alias))
    return outcome


def _summary(outcome: TuneOutcome, console: Console, alias: str) -> None:
    n = len(outcome.trials)
    table = Table(title=f"{outcome.task}: {outcome.model}, best of {n} trial{'s' * (n != 1)}")
    table.add_column("parameter")
    table.add_column("best", justify="right")
    for name, value in outcome.best_params.items():
        table.add_row(name, f"{value:.4g}" if isinstance(value, float) else str(value))
    table.add_row(f"{outcome.metric} (trial {outcome.best_trial})", f"{outcome.best_value:.4f}")
    test = outcome.result.metrics.get(outcome.metric.removeprefix("valid_"))
    if test is not None:
        table.add_row(f"{outcome.metric.removeprefix('valid_')} (test, refit)", f"{test:.4f}")
    console.print(table)
    refit = outcome.info["refit_value"]
    if not math.isclose(refit, outcome.best_value, rel_tol=1e-6, abs_tol=1e-9):
        console.print(
            f"[yellow]note: the refit scored {refit:.4f} on validation, not "
            f"{outcome.best_value:.4f} (a non-deterministic estimator?)[/yellow]"
        )
    where = (
        f"registered {outcome.registered} v{outcome.version} @{alias}"
        if outcome.version
        else "not registered (tune.register=false)"
    )
    console.print(f"MLflow parent run {outcome.run_id} ({where}); open the UI with `make ui`")

"""The promotion gate: ``champion`` moves only to a model that earns it.

``socialcrm promote task=<task>`` (or ``promotion.on_train=true`` at the end of a
registered training) judges the ``challenger`` version and the current
``champion`` on the same evaluation set, the latest labelled cutoff
(:meth:`~socialcrm.tasks.protocol.Task.evaluation_rows`), recorded by content
hash. Each model's outputs are scored by its logged pyfunc and turned into the
task's own metrics (:meth:`~socialcrm.tasks.protocol.Task.deployed_metrics`),
which MLflow's ``mlflow.models.evaluate`` logs (one nested run per model, with
the evaluation set as its dataset input) and ``mlflow.validate_evaluation_results``
checks against the task's ``gate`` (``conf/task/<task>.yaml``):

- the gate metric beats the champion's by at least ``margin`` (a tie never
  replaces the champion) and passes its floor;
- every other ``floors`` / ``ceilings`` metric is within bounds;

and the gate itself adds what a metric threshold cannot say: the challenger was
trained on the data set and feature set being judged, it beats the task's
baseline (its grade is not C) and it takes the champion's input columns (a new
schema needs ``promotion.accept_schema_change=true``). The first model becomes
champion only if it passes the floors and the checks.

Every decision is a run (experiment ``<prefix>-<task>-promotion``: both scores,
the reasons, the evaluation set's hash) and tags on the challenger version
(``gate.*``).
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from socialcrm.errors import ConfigError


@dataclass
class Judged:
    """One registered version judged on the evaluation set."""

    alias: str
    version: str
    tags: dict[str, str]
    inputs: list[str]
    metrics: dict[str, float] = field(default_factory=dict)
    run_id: str | None = None
    result: Any = None  # its mlflow.models.EvaluationResult


@dataclass
class Decision:
    """What the gate decided, and why."""

    task: str
    name: str
    promoted: bool
    reasons: list[str]
    metric: str
    challenger: Judged | None
    champion: Judged | None
    eval_sha256: str = ""
    eval_rows: int = 0
    run_id: str | None = None

    @property
    def verdict(self) -> str:
        return "promoted" if self.promoted else "refused"

    def summary(self) -> str:
        """One line: the verdict, both scores and the reasons."""
        c = self.challenger.metrics.get(self.metric) if self.challenger else None
        b = self.champion.metrics.get(self.metric) if self.champion else None
        scores = f"{self.metric} {_fmt(c)}" + (
            f" vs champion v{self.champion.version} {_fmt(b)}" if self.champion else ""
        )
        who = f"v{self.challenger.version}" if self.challenger else "no challenger"
        why = "; ".join(self.reasons) if self.reasons else "passed every check"
        return f"{self.name} {who}: {self.verdict} ({scores}): {why}"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.4f}"


# -- pure parts --------------------------------------------------------------------


def gate_rules(gate: Mapping[str, Any], task_metric: str) -> dict[str, Any]:
    """The task's ``gate`` config with defaults, checked.

    Raises
    ------
    ConfigError
        If the margin is not positive (a tie would replace the champion: MLflow
        skips a comparison whose minimum change is 0).
    """
    rules = {
        "metric": task_metric,
        "greater_is_better": True,
        "margin": 0.001,
        "floors": {},
        "ceilings": {},
    } | dict(gate or {})
    if not float(rules["margin"]) > 0:
        raise ConfigError(
            f"task.gate.margin must be > 0 (got {rules['margin']}): the challenger must beat "
            "the champion, a tie keeps the champion"
        )
    rules["floors"] = dict(rules["floors"] or {})
    rules["ceilings"] = dict(rules["ceilings"] or {})
    return rules


def thresholds(rules: Mapping[str, Any], against_champion: bool) -> dict:
    """``MetricThreshold`` per metric: the gate metric's margin over the champion (when
    there is one) and floor, and the other floors and ceilings."""
    from mlflow.models import MetricThreshold

    metric = rules["metric"]
    floor = rules["floors"].get(metric) if rules["greater_is_better"] else None
    out = {}
    if floor is not None or against_champion:  # MLflow refuses a threshold with neither
        out[metric] = MetricThreshold(
            threshold=floor,
            min_absolute_change=float(rules["margin"]) if against_champion else None,
            greater_is_better=bool(rules["greater_is_better"]),
        )
    for key, floor in rules["floors"].items():
        if key != metric:
            out[key] = MetricThreshold(threshold=float(floor), greater_is_better=True)
    for key, ceiling in rules["ceilings"].items():
        out[key] = MetricThreshold(threshold=float(ceiling), greater_is_better=False)
    return out


def content_sha256(rows: pd.DataFrame) -> str:
    """SHA-256 of a frame's content (values, column names and order)."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, rows.columns)).encode())
    h.update(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
    return h.hexdigest()


def provenance_problems(tags: Mapping[str, str], expect: Mapping[str, str]) -> list[str]:
    """Why a version's training data differ from what it is judged on (empty: none)."""
    return [
        f"trained on {key}={tags.get(key, '?')}, not {key}={value}: the gate judges a model "
        "on the data set and feature set it was trained for"
        for key, value in expect.items()
        if tags.get(key) != str(value)
    ]


def schema_problems(challenger: list[str], champion: list[str] | None) -> list[str]:
    """How the challenger's input columns differ from the champion's (empty: same)."""
    if champion is None or set(challenger) == set(champion):
        return []
    added = sorted(set(challenger) - set(champion))
    removed = sorted(set(champion) - set(challenger))

    def some(cols: list[str]) -> str:
        return f"{len(cols)} ({', '.join(cols[:5])}{', ...' if len(cols) > 5 else ''})"

    parts = [f"adds {some(added)}"] if added else []
    parts += [f"drops {some(removed)}"] if removed else []
    return [
        "input schema differs from the champion's: it "
        + " and ".join(parts)
        + " (a deliberate change: promotion.accept_schema_change=true)"
    ]


# -- the edge ----------------------------------------------------------------------


def _version(client, name: str, alias: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def evaluate_version(
    task,
    name: str,
    judged: Judged,
    rows: pd.DataFrame,
    rules: Mapping[str, Any],
    eval_name: str,
) -> None:
    """Score ``rows`` with the version's pyfunc and evaluate its outputs with
    ``mlflow.models.evaluate`` in a nested run (fills ``judged.metrics`` and ``run_id``).

    The metrics are the task's own (``deployed_metrics``), given to MLflow as
    ``extra_metrics``; the data MLflow logs as the run's dataset are the model's
    outputs and the target, never a customer id.
    """
    import mlflow
    from mlflow.models import make_metric

    from socialcrm.scoring.batch import predict_outputs
    from socialcrm.scoring.run import input_names

    model = mlflow.pyfunc.load_model(f"models:/{name}/{judged.version}")
    missing = [c for c in input_names(model) or [] if c not in rows.columns]
    if missing:
        raise ValueError(
            f"{name} v{judged.version} needs columns the evaluation set lacks: {missing[:5]}"
        )
    outputs = predict_outputs(model, rows, input_names(model))
    full = task.deployed_metrics(rows, outputs)
    judged.metrics = {k: float(v) for k, v in full.items()}

    def metric(key: str, greater: bool):
        def eval_fn(predictions, targets, metrics):
            # MLflow first tries each metric on one row; the task's metric is defined
            # on the evaluation set, whose rows are the predictions' rows
            idx = predictions.index
            if len(idx) == len(rows):
                return full[key]
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                try:
                    return task.deployed_metrics(rows.loc[idx], outputs.loc[idx])[key]
                except (ValueError, KeyError, ZeroDivisionError):
                    return float("nan")

        return make_metric(eval_fn=eval_fn, greater_is_better=greater, name=key)

    keys = list(dict.fromkeys([rules["metric"], *rules["floors"], *rules["ceilings"]]))
    target = task.target
    prediction = next(c for c in outputs.columns if not c.startswith("reason"))
    data = outputs.loc[:, ~outputs.columns.str.startswith("reason")].assign(
        **{target: rows[target].to_numpy()}
    )
    greater = {k: k not in rules["ceilings"] for k in keys}
    # MLflow announces its one-row trial of each metric at INFO
    logging.getLogger("mlflow.models.evaluation").setLevel(logging.WARNING)
    greater[rules["metric"]] = bool(rules["greater_is_better"])
    with (
        mlflow.start_run(
            run_name=f"evaluate {judged.alias} v{judged.version}",
            nested=True,
            # the parent's experiment (a nested run otherwise lands in the default one)
            experiment_id=mlflow.active_run().info.experiment_id,
        ) as run,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        mlflow.set_tags({"alias": judged.alias, "version": judged.version, "model": name})
        result = mlflow.models.evaluate(
            data=mlflow.data.from_pandas(
                data, name=eval_name, targets=target, predictions=prediction
            ),
            model_type=None,
            extra_metrics=[metric(k, greater[k]) for k in keys],
            evaluators=["default"],
        )
        judged.run_id = run.info.run_id
    judged.result = result


def promote(cfg: DictConfig, console: Console | None = None, prepared=None) -> Decision:
    """Run the gate for ``cfg.task``'s registered model (see the module docstring).

    Parameters
    ----------
    prepared
        The training run's :class:`~socialcrm.runner.Prepared` (feature table, task,
        context), to judge without loading them again.

    Returns
    -------
    Decision

    Raises
    ------
    ConfigError
        If there is no challenger version to judge.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    from socialcrm.runner import build_task, prepare, registered_name
    from socialcrm.tracking import configure, start_run

    configure(cfg.tracking)
    client = mlflow.MlflowClient()
    pcfg = cfg.promotion
    task = prepared.task if prepared is not None else build_task(cfg)
    name = registered_name(cfg, task)
    rules = gate_rules(
        OmegaConf.to_container(cfg.task.get("gate") or {}, resolve=True), task.metric
    )
    metric = rules["metric"]
    mv = _version(client, name, str(pcfg.challenger))
    if mv is None:
        raise ConfigError(
            f"{name} has no version at @{pcfg.challenger}: train one first "
            f"(`socialcrm train task={task.name}`), then promote"
        )
    champ = _version(client, name, str(pcfg.champion))
    challenger = Judged(str(pcfg.challenger), str(mv.version), dict(mv.tags), [])
    champion = (
        Judged(str(pcfg.champion), str(champ.version), dict(champ.tags), []) if champ else None
    )
    if champion is not None and champion.version == challenger.version:
        decision = Decision(
            task.name, name, False, ["already the champion"], metric, challenger, champion
        )
        _say(console, decision)
        return decision

    reasons = provenance_problems(
        challenger.tags, {"data": cfg.data.name, "features": cfg.features.name}
    )
    for judged in filter(None, (challenger, champion)):
        info = mlflow.models.get_model_info(f"models:/{name}/{judged.version}")
        judged.inputs = (
            list(info.signature.inputs.input_names()) if info.signature is not None else []
        )
    if champion is not None and not bool(pcfg.accept_schema_change):
        reasons += schema_problems(challenger.inputs, champion.inputs)
    grade = challenger.tags.get("grade")
    if grade == "C":
        reasons.append("grade C: it does not beat the task's baseline")

    if reasons and any(r.startswith("trained on") for r in reasons):
        # another data set or feature set: scores on this evaluation set mean nothing
        rows = pd.DataFrame()
    else:
        prepared = prepared if prepared is not None else prepare(cfg, console)
        rows = prepared.evaluation_rows()
    digest = content_sha256(rows) if len(rows) else ""
    eval_name = f"{task.name}-evaluation-{digest[:12]}"
    with start_run(
        cfg.tracking,
        f"{task.name}-promotion",
        run_name=f"promote {name} v{challenger.version}",
        tags={"task": task.name, "data": cfg.data.name, "features": cfg.features.name},
        description=f"Promotion gate of {name}: challenger against champion",
    ) as run:
        results = {}
        for judged in filter(None, (challenger, champion)) if len(rows) else ():
            try:
                evaluate_version(task, name, judged, rows, rules, eval_name)
                results[judged.alias] = judged.result
            except (MlflowException, ValueError, KeyError) as err:
                reasons.append(f"{judged.alias} v{judged.version} cannot be scored here: {err}")
        rules_now = thresholds(rules, against_champion=str(pcfg.champion) in results)
        if str(pcfg.challenger) in results and rules_now:
            try:
                mlflow.validate_evaluation_results(
                    rules_now,
                    results[str(pcfg.challenger)],
                    results.get(str(pcfg.champion)),
                )
            except MlflowException as err:  # ModelValidationFailedException
                reasons += [line.strip() for line in str(err.message).splitlines() if line.strip()]
        decision = Decision(
            task.name,
            name,
            not reasons,
            reasons,
            metric,
            challenger,
            champion,
            eval_sha256=digest,
            eval_rows=len(rows),
            run_id=run.info.run_id,
        )
        _log(decision, rules)
    if decision.promoted:
        client.set_registered_model_alias(name, str(pcfg.champion), challenger.version)
    _tag_version(client, decision)
    _say(console, decision)
    return decision


def _log(decision: Decision, rules: Mapping[str, Any]) -> None:
    """The decision on the active (promotion) run: tags, both scores, the reasons."""
    import mlflow

    c, b = decision.challenger, decision.champion
    mlflow.set_tags(
        {
            "decision": decision.verdict,
            "challenger_version": c.version if c else "",
            "champion_version": b.version if b else "(none)",
            "gate.metric": decision.metric,
            "gate.margin": str(rules["margin"]),
            "eval.sha256": decision.eval_sha256,
            "eval.rows": str(decision.eval_rows),
            "mlflow.note.content": decision.summary(),
        }
    )
    for judged, prefix in ((c, "challenger"), (b, "champion")):
        if judged is not None:
            mlflow.log_metrics(
                {
                    f"{prefix}_{k}": v
                    for k, v in judged.metrics.items()
                    if v is not None and np.isfinite(v)
                }
            )
    mlflow.log_text("\n".join(decision.reasons) or "passed every check", "decision_reasons.txt")


def _tag_version(client, decision: Decision) -> None:
    """The decision on the challenger version, so the registry page says it too."""
    c, b = decision.challenger, decision.champion
    if c is None:
        return
    tags = {
        "gate.decision": decision.verdict,
        "gate.reasons": ("; ".join(decision.reasons) or "passed every check")[:5000],
        "gate.eval_sha256": decision.eval_sha256,
        "gate.run_id": decision.run_id or "",
        "gate.champion": f"v{b.version}" if b else "(none)",
    }
    if decision.metric in c.metrics:
        tags[f"gate.{decision.metric}"] = _fmt(c.metrics[decision.metric])
    if b is not None and decision.metric in b.metrics:
        tags[f"gate.champion_{decision.metric}"] = _fmt(b.metrics[decision.metric])
    for key, value in tags.items():
        client.set_model_version_tag(decision.name, c.version, key, value)


def _say(console: Console | None, decision: Decision) -> None:
    if console is None:
        return
    colour = "green" if decision.promoted else "yellow"
    console.print(f"[{colour}]gate[/]: {decision.summary()}")


def print_decisions(decisions: list[Decision], console: Console) -> None:
    """One row per gate decision: version, verdict, both scores, reasons."""
    table = Table(title="promotion gate (champion)")
    for col in ("model", "challenger", "champion", "metric", "decision", "why"):
        table.add_column(col)
    for d in decisions:
        c, b = d.challenger, d.champion
        table.add_row(
            d.name,
            f"v{c.version} {_fmt(c.metrics.get(d.metric))}" if c else "",
            f"v{b.version} {_fmt(b.metrics.get(d.metric))}" if b else "(none)",
            d.metric,
            d.verdict,
            "; ".join(d.reasons) or "passed every check",
        )
    console.print(table)

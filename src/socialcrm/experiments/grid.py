"""The experiment grid: worlds x seeds x models x variants x feature sets in one loop,
and one way to publish what it measured.

A **world** (a generated synthetic world, a real table), a **model** and a
**variant** (task settings, e.g. the calibration) are named Hydra overrides; a
**feature set** is a list of feature groups. A world is prepared once; each cell is
fitted through the run edge (:func:`socialcrm.runner.fit` with the cell's config,
task and groups) and measured as a row, to which an experiment adds its references
(the oracle, a worst fold). :func:`summarise`, :func:`markdown_table` and
:func:`publish` turn the rows into the README table and one MLflow run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.progress import Progress

from socialcrm import runner
from socialcrm.config import compose
from socialcrm.data.io import atomic_file
from socialcrm.reports.markdown import plus_minus, render_into_readme, to_markdown
from socialcrm.tasks.base import TaskResult

#: The grid's dimensions: the key columns of every results row.
DIMENSIONS = ("world", "seed", "model", "variant", "features")
#: What a paired comparison holds fixed besides the feature set.
PAIRED_ON = ("world", "seed", "model", "variant")
NONE: Mapping[str, Sequence[str]] = {"": ()}


@dataclass(frozen=True)
class Grid:
    """The cells of an experiment.

    Attributes
    ----------
    feature_sets
        Name -> feature groups (for an experiment with its own fit: its columns).
    seeds
        The run seeds (``seed=<s>``: the model's and, for synthetic data, the world's).
    worlds, models, variants
        Name -> Hydra overrides. An empty model name takes the composed model's name.
    overrides
        Hydra overrides of every cell (the user's, from the command line).
    """

    feature_sets: Mapping[str, Sequence[str]]
    seeds: Sequence[int] = (42,)
    worlds: Mapping[str, Sequence[str]] = field(default_factory=lambda: dict(NONE))
    models: Mapping[str, Sequence[str]] = field(default_factory=lambda: dict(NONE))
    variants: Mapping[str, Sequence[str]] = field(default_factory=lambda: dict(NONE))
    overrides: Sequence[str] = ()

    def config(self, world: str, seed: int, model: str, variant: str) -> DictConfig:
        """The composed config of a cell (explanations off: only numbers are kept)."""
        return compose(
            [
                *self.worlds[world],
                *self.models[model],
                *self.variants[variant],
                "task.explain=false",
                *self.overrides,
                f"seed={seed}",
            ]
        )

    def __len__(self) -> int:
        dims = (self.worlds, self.seeds, self.models, self.variants, self.feature_sets)
        return int(np.prod([len(d) for d in dims]))


@dataclass
class World:
    """What every cell of one world shares: a :class:`socialcrm.runner.Prepared` (or an
    experiment's own inputs, for its own ``measure``) and the truth for the oracle."""

    prepared: Any
    truth: Any = None


@dataclass(frozen=True)
class Cell:
    """One point of the grid and its composed config."""

    world: str
    seed: int
    model: str
    variant: str
    features: str
    groups: tuple[str, ...]
    cfg: DictConfig


Prepare = Callable[[str, DictConfig], World]
Measure = Callable[[World, Cell], list[dict[str, Any]]]
References = Callable[[World, TaskResult], dict[str, float]]


def conf_models(names: Sequence[str]) -> dict[str, list[str]]:
    """``conf/model`` names as the grid's models."""
    return {name: [f"model={name}"] for name in names}


def task_world(world: str, cfg: DictConfig) -> World:
    """The default world: :func:`socialcrm.runner.prepare` of the cell's config."""
    return World(runner.prepare(cfg))


def result_row(result: TaskResult) -> dict[str, float]:
    """A fit's test metrics, ``baseline_<metric>``, ``<reference>_<metric>``, ``n_test``
    and ``n_features`` (validation metrics are left out: the test cutoff is reported)."""
    row = {k: v for k, v in result.metrics.items() if not k.startswith("valid_")}
    row |= {f"baseline_{k}": v for k, v in result.baseline_metrics.items()}
    row |= {f"{r}_{k}": v for r, m in result.references.items() for k, v in m.items()}
    n_test = len(result.scored) if result.scored is not None else np.nan
    return row | {"n_test": n_test, "n_features": result.info.get("n_features", np.nan)}


def fit_cell(world: World, cell: Cell, references: References | None = None) -> list[dict]:
    """Fit one cell through the run edge on its world's prepared table.

    The prepared table is shared; the cell brings its config (seed, model), its task
    (built from that config) and its feature groups.
    """
    prepared = replace(
        world.prepared, cfg=cell.cfg, task=runner.build_task(cell.cfg), groups=list(cell.groups)
    )
    result, seconds = runner.fit(prepared)
    row = result_row(result) | {"seconds": seconds}
    return [row | (references(world, result) if references else {})]


def world_key(world: str, cfg: DictConfig) -> str:
    """What makes a world: its name and the data and feature configs (a world is
    prepared once for every seed, model and variant that leaves these alone)."""
    parts = {k: OmegaConf.to_container(cfg[k], resolve=True) for k in ("data", "features")}
    text = json.dumps({"world": world, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()  # the data config may hold a salt


def run_grid(
    grid: Grid,
    prepare: Prepare = task_world,
    measure: Measure = fit_cell,
    console: Console | None = None,
) -> pd.DataFrame:
    """Every cell of ``grid``, one world at a time.

    Parameters
    ----------
    grid
        The cells.
    prepare
        ``(world name, cell config) -> World``; called once per distinct world.
    measure
        ``(world, cell) -> rows``; the default fits through the run edge.
    console
        Progress goes here; ``None`` is silent.

    Returns
    -------
    pandas.DataFrame
        One row per cell (an experiment's own ``measure`` may give several):
        :data:`DIMENSIONS`, then what ``measure`` returned.
    """
    rows: list[dict[str, Any]] = []
    key, world = None, None
    with Progress(console=console, disable=console is None) as progress:
        job = progress.add_task("cells", total=len(grid))
        for w, seed, m, v in product(grid.worlds, grid.seeds, grid.models, grid.variants):
            cfg = grid.config(w, seed, m, v)
            if world_key(w, cfg) != key:
                world = None  # one world in memory at a time
                progress.update(job, description=f"preparing {w or 'data'}, seed {seed}")
                world, key = prepare(w, cfg), world_key(w, cfg)
            for fs, groups in grid.feature_sets.items():
                cell = Cell(w, seed, m or str(cfg.model.name), v, fs, tuple(groups), cfg)
                where = (w, f"seed {seed}", cell.model, v, fs)
                progress.update(job, description=", ".join(p for p in where if p))
                dims = {d: getattr(cell, d) for d in DIMENSIONS}
                rows += [dims | row for row in measure(world, cell)]
                progress.advance(job)
    return pd.DataFrame(rows)


def one_thread() -> None:
    """Boosted models on one thread: many small fits in a row, and the same numbers on
    any machine and load (the model configs read ``SOCIALCRM_N_JOBS``)."""
    os.environ.setdefault("SOCIALCRM_N_JOBS", "1")


# -- oracles and paired comparisons --------------------------------------------------


def aligned_truth(truth: pd.Series, scored: pd.DataFrame) -> np.ndarray:
    """``truth`` (by ``customer_id``) in the order of the scored rows.

    Raises
    ------
    ValueError
        If some scored customer has no truth.
    """
    values = truth.reindex(scored["customer_id"]).to_numpy(dtype=float)
    if np.isnan(values).any():
        raise ValueError(f"the truth ({truth.name}) lacks some scored customers")
    return values


def with_comparisons(
    results: pd.DataFrame, metric: str, versus: Sequence[str | None] = ()
) -> pd.DataFrame:
    """``oracle_gap`` (``oracle_<metric>`` minus ``metric``, if there is an oracle) and
    paired gains: ``gain_vs_<set>``, ``metric`` minus the same world, seed, model and
    variant on feature set ``<set>`` (``None``: ``gain_vs_previous``, the set before it).
    """
    out = results.copy()
    if f"oracle_{metric}" in out:
        out["oracle_gap"] = out[f"oracle_{metric}"] - out[metric]
    order = list(dict.fromkeys(out["features"]))
    previous = dict(zip(order[1:], order[:-1], strict=True))
    lookup = out.set_index([*PAIRED_ON, "features"])[metric]
    for ref in versus:
        refs = out["features"].map(lambda f, ref=ref: ref if ref is not None else previous.get(f))
        index = pd.MultiIndex.from_arrays([*(out[k] for k in PAIRED_ON), refs])
        out[f"gain_vs_{ref or 'previous'}"] = (
            out[metric].to_numpy() - lookup.reindex(index).to_numpy()
        )
    return out


# -- summaries and tables ------------------------------------------------------------


def summarise(
    results: pd.DataFrame,
    metrics: Sequence[str],
    worst: Mapping[str, str] | None = None,
    by: Sequence[str] = ("world", "model", "variant", "features"),
) -> pd.DataFrame:
    """Mean and sample sd over seeds of each metric, in the order the cells ran.

    A group with one seed keeps the cell's own spread (``<metric>_sd`` of a
    cross-validated fit: the sd over folds).

    Parameters
    ----------
    results
        Output of :func:`run_grid` (plus derived columns).
    metrics
        Columns to summarise (those absent are skipped).
    worst
        Metric -> ``"min"`` or ``"max"``: the worst seed's value as ``worst_<metric>``.
    by
        Group columns.

    Returns
    -------
    pandas.DataFrame
        ``by``, ``seeds``, and ``<metric>``, ``<metric>_sd`` per metric.
    """
    present = [m for m in metrics if m in results.columns]
    g = results.groupby(list(by), sort=False, dropna=False)
    agg: dict[str, tuple[str, str]] = {"seeds": ("seed", "nunique")}
    for m in present:
        agg |= {m: (m, "mean"), f"{m}_sd": (m, "std")}
    for m, how in (worst or {}).items():
        agg[f"worst_{m}"] = (m, how)
    out = g.agg(**agg)
    for m in present:
        if f"{m}_sd" in results.columns:
            out[f"{m}_sd"] = out[f"{m}_sd"].where(out["seeds"] > 1, g[f"{m}_sd"].mean())
    return out.reset_index()


def as_row(summary_row: Mapping[str, Any], prefix: str, **labels: str) -> dict[str, Any]:
    """A reference (``<prefix>_<metric>`` columns, e.g. ``baseline``) as a row of its
    own, labelled with ``labels`` (e.g. ``model="tenure rule"``)."""
    start = f"{prefix}_"
    own = {k[len(start) :]: v for k, v in summary_row.items() if k.startswith(start)}
    return own | labels


def markdown_table(
    summary: pd.DataFrame,
    columns: Mapping[str, str],
    spread: Collection[str] = (),
    digits: Mapping[str, int] | None = None,
) -> str:
    """The README table.

    Parameters
    ----------
    summary
        Output of :func:`summarise` (or any frame).
    columns
        Header -> column.
    spread
        Columns shown as mean ± sd (with their ``<column>_sd``).
    digits
        Column -> decimals (default 3).
    """
    digits = digits or {}

    def cell(row: Mapping[str, Any], col: str) -> str:
        value, d = row.get(col, np.nan), digits.get(col, 3)
        if isinstance(value, str):
            return value
        if col in spread:
            return plus_minus(float(value), float(row.get(f"{col}_sd", np.nan)), d)
        return "" if pd.isna(value) else f"{value:.{d}f}"

    records = summary.to_dict("records")
    table = {h: [cell(r, c) for r in records] for h, c in columns.items()}
    return to_markdown(pd.DataFrame(table))


def footer(results: pd.DataFrame, rows: str = "customers at the test cutoff") -> str:
    """``Model `x`, seeds 1, 2; N <rows> on average.``"""
    models = ", ".join(f"`{m}`" for m in dict.fromkeys(results["model"]))
    seeds = ", ".join(map(str, sorted(results["seed"].unique())))
    return f"Model {models}, seeds {seeds}; {int(results['n_test'].mean()):,} {rows} on average."


def command(module: str, *args: str) -> str:
    """The reproduce command, as run from the repository root."""
    return " ".join([".venv/bin/python", "-m", module, *args])


# -- publishing ----------------------------------------------------------------------


def summary_metrics(summary: pd.DataFrame, metrics: Sequence[str]) -> dict[str, float]:
    """``<world>.<model>.<variant>.<features>.<metric>`` (dimensions that vary only)."""
    dims = [d for d in ("world", "model", "variant", "features") if summary[d].nunique() > 1]
    out = {}
    for row in summary.to_dict("records"):
        prefix = ".".join(_metric_name(str(row[d])) for d in dims)
        for m in metrics:
            if m in row and pd.notna(row[m]):
                out[f"{prefix}.{m}" if prefix else m] = float(row[m])
    return out


def _metric_name(text: str) -> str:
    return re.sub(r"[^\w.\-/]", "_", text)


def grid_params(results: pd.DataFrame) -> dict[str, str]:
    """What ran, as MLflow params."""
    return {d: ", ".join(map(str, dict.fromkeys(results[d]))) for d in DIMENSIONS if d in results}


def publish(
    out_dir: Path,
    text: str,
    reproduce: str,
    files: Mapping[str, pd.DataFrame | str],
    tracking: Any,
    experiment: str,
    metrics: Mapping[str, float] | None = None,
    params: Mapping[str, Any] | None = None,
    readme: bool = True,
    console: Console | None = None,
) -> str:
    """Write ``files`` into ``out_dir``, the table and its command into its README, and
    log all of it as one MLflow run.

    Parameters
    ----------
    out_dir
        The experiment's folder (its ``README.md`` holds the results markers).
    text
        The Markdown block (tables and notes); ``Reproduce: `<reproduce>``` is added.
    reproduce
        The one command that reproduces the block.
    files
        File name -> a frame (written as CSV) or text.
    tracking
        The ``tracking`` config node.
    experiment
        Short MLflow experiment name (the prefix is added).
    metrics, params
        Logged to the run.
    readme
        Whether to render into the README.
    console
        Where the README and the run went are said here.

    Returns
    -------
    str
        The MLflow run id.
    """
    import mlflow

    from socialcrm.tracking import log as tlog
    from socialcrm.tracking import start_run

    block = f"{text}\n\nReproduce: `{reproduce}`"
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        with atomic_file(out_dir / name) as tmp:
            if isinstance(content, pd.DataFrame):
                content.to_csv(tmp, index=False, float_format="%.6f")
            else:
                tmp.write_text(content, encoding="utf-8")
    say = console.print if console is not None else (lambda *a, **k: None)
    if readme:
        written = render_into_readme(out_dir / "README.md", block)
        say(f"{'table written to' if written else 'no results markers in'} {out_dir / 'README.md'}")
    with start_run(tracking, experiment, run_name=experiment, tags=tlog.git_info()) as run:
        mlflow.log_params({"command": reproduce, **(params or {})})
        mlflow.log_metrics(dict(metrics or {}))
        mlflow.log_text(block, "README-results.md")
        for name in files:
            mlflow.log_artifact(str(out_dir / name))
    say(f"MLflow run {run.info.run_id} (experiment {experiment})")
    return run.info.run_id

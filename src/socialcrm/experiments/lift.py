"""Social lift on synthetic worlds: does a feature group make a task better, and how
far is it from the oracle? The grid of ``churn_lift`` and ``clv_lift``.

Each world (one per seed, and per generator setting such as contagion on or off) is
generated into a temporary folder and its full point-in-time feature table built in
memory; the task is then fitted through the run edge on each nested feature set and
scored on the test cutoff. The generator's ground truth at that cutoff gives the
**oracle** on the same test rows; gains between feature sets are paired (same
world, seed and model).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from omegaconf import DictConfig
from rich.console import Console

from socialcrm import runner
from socialcrm.config import compose
from socialcrm.experiments import grid
from socialcrm.paths import project_root
from socialcrm.tasks.base import TaskResult

#: Nested feature sets: CRM; plus social activity and listening; plus graph and referrals.
FEATURE_SETS: dict[str, list[str]] = {
    "crm": ["crm"],
    "crm+social": ["crm", "social_activity", "social_listening"],
    "all": ["crm", "social_activity", "social_listening", "social_graph", "referral"],
}
Truth = Callable[[pd.DataFrame, pd.Timestamp, float], pd.Series]


@dataclass(frozen=True)
class Lift:
    """One lift experiment.

    Attributes
    ----------
    name
        Its folder under ``experiments/`` and its MLflow experiment.
    module
        The module whose ``python -m`` runs it.
    truth
        ``(truth/customer_month, test cutoff, horizon days) -> truth by customer_id``.
    label
        The scored rows' outcome column.
    oracle
        Metric name -> ``(outcome, score) -> value``: the truth scored as
        ``oracle_<name>``.
    metric
        The headline metric (oracle gap and paired gains).
    versus
        Feature sets the paired gains are taken against (``None``: the previous set).
    metrics, columns, spread, digits
        What is summarised, and the README table (see
        :func:`~socialcrm.experiments.grid.markdown_table`).
    logged
        Summary columns logged to MLflow.
    feature_sets, worlds, overrides
        The grid (``overrides`` come before the user's).
    """

    name: str
    module: str
    truth: Truth
    label: str
    oracle: Mapping[str, Callable[..., float]]
    metric: str
    versus: Sequence[str | None]
    metrics: Sequence[str]
    columns: Mapping[str, str]
    spread: Collection[str]
    logged: Sequence[str]
    feature_sets: Mapping[str, Sequence[str]] = field(default_factory=lambda: FEATURE_SETS)
    worlds: Mapping[str, Sequence[str]] = field(default_factory=lambda: {"": ()})
    overrides: Sequence[str] = ()
    digits: Mapping[str, int] = field(default_factory=dict)


def synthetic_world(world: str, cfg: DictConfig, truth: Truth) -> grid.World:
    """Generate ``cfg.data`` into a temporary folder, build every feature group in
    memory, and keep the truth at the test cutoff; nothing stays on disk."""
    from socialcrm.data.generate import write_synthetic
    from socialcrm.data.schemas import TABLES
    from socialcrm.features.run import build_from_config

    with tempfile.TemporaryDirectory(prefix="socialcrm-world-") as tmp:
        raw = Path(tmp) / "raw"
        write_synthetic(cfg.data.generator, raw, cfg.data.salt)
        tables = {name: pd.read_parquet(raw / f"{name}.parquet") for name in TABLES}
        customer_month = pd.read_parquet(raw / "truth" / "customer_month.parquet")
    ft = build_from_config(cfg, lambda db: db.register_frames(tables))
    frame, manifest = ft.frame, [s.to_dict() for s in ft.manifest]
    test_cutoff = frame.loc[frame["split"] == "test", "cutoff"].iloc[0]
    prepared = runner.Prepared(
        cfg, runner.build_task(cfg), frame, manifest, raw, list(cfg.features.groups)
    )
    return grid.World(prepared, truth(customer_month, test_cutoff, cfg.features.horizon_days))


def oracle_row(spec: Lift, world: grid.World, result: TaskResult) -> dict[str, float]:
    """The truth scored like the model, on the rows the cell scored."""
    outcome = result.scored[spec.label]
    truth = grid.aligned_truth(world.truth, result.scored)
    return {f"oracle_{name}": float(score(outcome, truth)) for name, score in spec.oracle.items()}


def run(
    spec: Lift, seeds: Sequence[int], overrides: Sequence[str] = (), console: Console | None = None
) -> pd.DataFrame:
    """Every world x seed x feature set; the per-cell results with the oracle gap and
    the paired gains."""
    cells = grid.Grid(
        spec.feature_sets, seeds, spec.worlds, overrides=[*spec.overrides, *overrides]
    )
    prepare = partial(synthetic_world, truth=spec.truth)
    measure = partial(grid.fit_cell, references=partial(oracle_row, spec))
    results = grid.run_grid(cells, prepare, measure, console)
    return grid.with_comparisons(results, spec.metric, spec.versus)


def report(spec: Lift, results: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The summary (mean ± sd over seeds) and the README block."""
    summary = grid.summarise(results, spec.metrics)
    table = grid.markdown_table(summary, spec.columns, spec.spread, spec.digits)
    return summary, f"{table}\n\n{grid.footer(results)}"


def cli(spec: Lift) -> Callable[..., None]:
    """The experiment's command: run, print, write ``results.csv`` and the README
    table, log one MLflow run."""
    folder = project_root() / "experiments" / spec.name

    def main(
        overrides: Annotated[list[str] | None, typer.Argument(help="Hydra overrides")] = None,
        seeds: Annotated[int, typer.Option(help="seeds 1..N (world and model)")] = 5,
        out_dir: Annotated[
            Path, typer.Option(help="where results.csv and README.md live")
        ] = folder,
    ) -> None:
        grid.one_thread()
        console = Console()
        overrides = list(overrides or [])
        results = run(spec, range(1, seeds + 1), overrides, console)
        summary, text = report(spec, results)
        console.print(text, markup=False, highlight=False)
        args = [f"--seeds {seeds}"] if seeds != 5 else []
        grid.publish(
            out_dir,
            text,
            grid.command(spec.module, *args, *overrides),
            {"results.csv": results},
            compose(overrides).tracking,
            spec.name,
            grid.summary_metrics(summary, spec.logged),
            grid.grid_params(results),
            console=console,
        )

    return main

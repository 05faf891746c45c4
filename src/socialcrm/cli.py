"""Command line: ``socialcrm <verb> [hydra overrides]``.

Every verb composes ``conf/`` with the given Hydra overrides (for example
``data=synthetic_small`` or ``data=own data.raw_dir=/path/to/exports``), so the
CLI and the ``python -m`` entry points read the same configuration. With
``--params FILE`` a verb reads an already composed config instead (the
``params.yaml`` that ``dvc exp run`` writes; see dvc.yaml) and the overrides are
plain ``key=value`` of that file.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from socialcrm.config import compose, load_params

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Social CRM ML lab. Every verb takes Hydra overrides, e.g. "
    "`socialcrm run data=synthetic_small seed=7`.",
)
# Logs and pipes get wide lines: run ids and metric names stay whole.
console = Console(width=None if sys.stdout.isatty() else 140)

OVERRIDES = typer.Argument(None, help="Hydra overrides, e.g. data=synthetic_small seed=7")
PATH_OPTION = typer.Option(
    None, "--path", help="Validate a folder of canonical tables instead of data.raw_dir"
)
PARAMS_OPTION = typer.Option(
    None,
    "--params",
    help="Read this composed config (e.g. DVC's params.yaml) instead of composing conf/",
)


def _config(overrides: list[str] | None, params: Path | None):
    """The composed config: from ``params`` if given, else from ``conf/`` with overrides."""
    if params is None:
        return compose(overrides or [])
    try:
        return load_params(params, overrides or [])
    except (FileNotFoundError, ValueError) as err:
        console.print(f"[bold red]error:[/] {err}")
        raise typer.Exit(code=2) from None


@app.command()
def generate(overrides: list[str] = OVERRIDES, params: Path | None = PARAMS_OPTION) -> None:
    """Generate the synthetic Social CRM world (tables + truth/) into data.raw_dir."""
    from socialcrm.data.generate import run_generate

    cfg = _config(overrides, params)
    run_generate(cfg, console=console)


@app.command()
def validate(
    overrides: list[str] = OVERRIDES,
    path: Path | None = PATH_OPTION,
    params: Path | None = PARAMS_OPTION,
) -> None:
    """Check a data folder against the contracts and report every violation; writes nothing."""
    from socialcrm.data import load

    cfg = _config(overrides, params)
    source = load.DataSource.from_config(cfg.data)
    if path is not None:
        source = source.with_raw_dir(path)
    report = load.validate_source(source)
    report.render(console)
    raise typer.Exit(code=0 if report.ok else 1)


@app.command()
def ingest(overrides: list[str] = OVERRIDES, params: Path | None = PARAMS_OPTION) -> None:
    """Validate data.raw_dir and, only if it passes, write canonical tables to data.interim_dir."""

    _ingest(_config(overrides, params).data)


@app.command()
def features(overrides: list[str] = OVERRIDES, params: Path | None = PARAMS_OPTION) -> None:
    """Build point-in-time features and labels of the ingested data into features.output_dir."""
    from socialcrm.features.run import run_features

    run_features(_config(overrides, params), console=console)


@app.command()
def report(overrides: list[str] = OVERRIDES, params: Path | None = PARAMS_OPTION) -> None:
    """Write the Social CRM insight report to report.output_dir and log it to MLflow."""
    from socialcrm.reports.run import run_report

    run_report(_config(overrides, params), console=console)


TASK_OPTION = typer.Option(
    None,
    "--task",
    help="Train conf/task/NAME.yaml instead of the config's task (e.g. a DVC stage "
    "training clv from the params.yaml composed for churn)",
)


@app.command()
def train(
    overrides: list[str] = OVERRIDES,
    params: Path | None = PARAMS_OPTION,
    task: str | None = TASK_OPTION,
) -> None:
    """Train, evaluate, log and register task with model on features (socialcrm.train);
    writes metrics and curves to train.outputs_dir for DVC."""
    from socialcrm.config import with_task
    from socialcrm.train import train as run_train

    cfg = _config(overrides, params)
    if task:
        try:
            cfg = with_task(cfg, task)
        except ValueError as err:
            console.print(f"[bold red]error:[/] {err}")
            raise typer.Exit(code=2) from None
    run_train(cfg, console=console)


@app.command()
def run(overrides: list[str] = OVERRIDES) -> None:
    """The main job: generate (synthetic only), validate, ingest, features, insight report,
    CLV then churn training (a saved customer is worth their CLV); ends with a summary table."""
    from socialcrm.data.generate import run_generate
    from socialcrm.features.run import run_features
    from socialcrm.reports.run import run_report
    from socialcrm.train import train

    cfg = compose(overrides or [])
    t0 = time.perf_counter()
    if cfg.data.source == "synthetic":
        run_generate(cfg, console=console)
    _ingest(cfg.data)
    run_features(cfg, console=console)
    run_report(cfg, console=console)
    # CLV first: the churn campaign values a saved customer at their registered CLV
    outcomes = [
        train(compose([*(overrides or []), f"task={task}"]), console=console)
        for task in ("clv", "churn")
    ]
    _print_training_summary(outcomes)
    console.print(f"[bold green]done[/] in {time.perf_counter() - t0:.1f} s")
    console.print("Open the MLflow UI with [bold]make ui[/] (http://127.0.0.1:5000)")


def _print_training_summary(outcomes) -> None:
    """One row per trained task: headline test metrics, the baseline's, the grade, the run."""
    from socialcrm.train import headline

    table = Table(title="trained models (test cutoff)")
    for col in ("task", "model", "metrics", "baseline", "grade", "MLflow run", "registered"):
        table.add_column(col)
    for o in outcomes:
        rows = headline(o.result, short=True)
        table.add_row(
            o.task,
            o.model,
            "\n".join(f"{label} {v}" for label, v, _ in rows),
            "\n".join(f"{label} {b}" for label, _, b in rows if b),
            o.result.grade,
            o.run_id,
            f"{o.registered} v{o.version}" if o.version else "",
        )
    console.print(table)


def _ingest(data_cfg) -> None:
    """Validate and ingest one data config; on violations print them and exit 1."""
    from socialcrm.data import load

    source = load.DataSource.from_config(data_cfg)
    try:
        rows = load.ingest(source)
    except load.DataContractError as err:
        err.report.render(console)
        raise typer.Exit(code=1) from None
    _print_rows("validated and ingested", rows)
    console.print(f"written to {source.interim_dir}")


def _print_rows(title: str, rows: dict[str, int]) -> None:
    table = Table(title=title)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in rows.items():
        table.add_row(name, f"{n:,}")
    console.print(table)


if __name__ == "__main__":
    app()

"""Command line: ``socialcrm <verb> [hydra overrides]``.

Every verb composes ``conf/`` with the given Hydra overrides (for example
``data=synthetic_small`` or ``data=own data.raw_dir=/path/to/exports``), so the
CLI and the ``python -m`` entry points read the same configuration. With
``--params FILE`` a verb reads an already composed config instead (the
``params.yaml`` that ``dvc exp run`` writes; see dvc.yaml) and the overrides are
plain ``key=value`` of that file.

Errors the user fixes end as a message and an exit code, never as a traceback
(see :mod:`socialcrm.errors`): 1 when the input data break their contract (the
report: file, column, rule, count, example rows), 2 for a wrong command line or
config (a misspelt override such as ``data.salz=x``). ``SOCIALCRM_DEBUG=1`` shows
the traceback as well.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib

# a headless entry point: figures are saved, never shown (library modules choose no
# backend, so notebooks keep their inline figures)
matplotlib.use("Agg")

import typer
from rich.console import Console
from rich.table import Table

from socialcrm.config import compose, load_params
from socialcrm.errors import ConfigError, exit_on_user_error

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Social CRM ML lab. Every verb takes Hydra overrides, e.g. "
    "`socialcrm run data=synthetic_small seed=7`.",
)
# Logs and pipes get wide lines: run ids and metric names stay whole.
console = Console(width=None if sys.stdout.isatty() else 140)
# Errors go to stderr (validate's report is its output and goes to stdout).
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)

OVERRIDES = typer.Argument(None, help="Hydra overrides, e.g. data=synthetic_small seed=7")
PATH_OPTION = typer.Option(
    None,
    "--path",
    help="Validate a folder of canonical tables instead of data.raw_dir "
    "(for a customer-table source such as data=telco: the table file instead of data.path)",
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
        raise ConfigError(str(err)) from err


def _is_customer_table(data_cfg) -> bool:
    return data_cfg.get("source") == "customer_table"


def _event_source(data_cfg, action: str):
    """The event-table :class:`~socialcrm.data.load.DataSource` of ``data_cfg``.

    Raises
    ------
    ConfigError
        For a customer-table source (there are no event tables to ``action``) or a
        data config that does not describe a source.
    """
    from socialcrm.data import load

    if _is_customer_table(data_cfg):
        raise ConfigError(
            f"data={data_cfg.get('name')} is a customer table (data.source: customer_table): "
            f"there is nothing to {action}. Training reads data.path directly "
            f"(`socialcrm train data={data_cfg.get('name')}` with task.evaluation=cv, "
            "e.g. experiment=telco); `socialcrm validate` checks the table."
        )
    try:
        return load.DataSource.from_config(data_cfg)
    except KeyError as err:
        raise ConfigError(
            f"data={data_cfg.get('name')}: data.{err.args[0]} is required for "
            f"data.source: {data_cfg.get('source', 'synthetic')}"
        ) from err
    except ValueError as err:
        raise ConfigError(f"data={data_cfg.get('name')}: {err}") from err


@app.command()
def generate(overrides: list[str] = OVERRIDES, params: Path | None = PARAMS_OPTION) -> None:
    """Generate the synthetic Social CRM world (tables + truth/) into data.raw_dir."""
    from socialcrm.data.generate import run_generate

    with exit_on_user_error(err_console):
        cfg = _config(overrides, params)
        _require_synthetic(cfg.data)
        run_generate(cfg, console=console)


def _require_synthetic(data_cfg) -> None:
    if data_cfg.get("source") != "synthetic":
        raise ConfigError(
            f"data={data_cfg.get('name')} is not a synthetic data set "
            f"(source={data_cfg.get('source')}); choose data=synthetic, data=synthetic_small "
            "or data=synthetic_large"
        )


@app.command()
def validate(
    overrides: list[str] = OVERRIDES,
    path: Path | None = PATH_OPTION,
    params: Path | None = PARAMS_OPTION,
) -> None:
    """Check a data folder (or a customer table) against the contracts and report every
    violation; writes nothing."""
    with exit_on_user_error(console):
        report = _validate(_config(overrides, params).data, path)
        report.raise_if_failed()
        report.render(console)


def _validate(data_cfg, path: Path | None):
    """The validation report of ``data_cfg`` (``path``: another folder, or table file)."""
    from socialcrm.data import load

    if _is_customer_table(data_cfg):
        from omegaconf import OmegaConf

        from socialcrm.data.customer_table import validate_customer_table

        node = OmegaConf.to_container(data_cfg, resolve=True)
        if path is not None:
            node["path"] = str(path)
        return validate_customer_table(node)
    source = _event_source(data_cfg, "validate")
    if path is not None:
        source = source.with_raw_dir(path)
    return load.validate_source(source)


@app.command()
def ingest(overrides: list[str] = OVERRIDES, params: Path | None = PARAMS_OPTION) -> None:
    """Validate data.raw_dir and, only if it passes, write canonical tables to data.interim_dir."""
    with exit_on_user_error(err_console):
        _ingest(_config(overrides, params).data)


@app.command()
def features(overrides: list[str] = OVERRIDES, params: Path | None = PARAMS_OPTION) -> None:
    """Build point-in-time features and labels of the ingested data into features.output_dir."""
    from socialcrm.features.run import run_features

    with exit_on_user_error(err_console):
        cfg = _config(overrides, params)
        _require_event_tables(cfg.data, "build features from")
        run_features(cfg, console=console)


def _require_event_tables(data_cfg, action: str) -> None:
    if _is_customer_table(data_cfg):
        _event_source(data_cfg, action)


@app.command()
def report(overrides: list[str] = OVERRIDES, params: Path | None = PARAMS_OPTION) -> None:
    """Write the Social CRM insight report to report.output_dir and log it to MLflow."""
    from socialcrm.reports.run import run_report

    with exit_on_user_error(err_console):
        cfg = _config(overrides, params)
        _require_event_tables(cfg.data, "report on (the insight report reads event tables)")
        run_report(cfg, console=console)


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
    """Train, evaluate, log and register task with model on features (the run edge);
    writes metrics and curves to train.outputs_dir for DVC."""
    from socialcrm.config import with_task
    from socialcrm.data.customer_table import check_task
    from socialcrm.runner import train as run_train

    with exit_on_user_error(err_console):
        cfg = _config(overrides, params)
        if task:
            try:
                cfg = with_task(cfg, task)
            except ValueError as err:
                raise ConfigError(str(err)) from err
        check_task(cfg)
        run_train(cfg, console=console)


@app.command()
def promote(overrides: list[str] = OVERRIDES, params: Path | None = PARAMS_OPTION) -> None:
    """The promotion gate: judge the task's challenger against its champion on the latest
    labelled cutoff and move `champion` only if the challenger earns it (task.gate)."""
    from socialcrm.tracking.promote import print_decisions
    from socialcrm.tracking.promote import promote as run_gate

    with exit_on_user_error(err_console):
        decision = run_gate(_config(overrides, params), console=console)
    print_decisions([decision], console)


@app.command()
def retrain(overrides: list[str] = OVERRIDES, params: Path | None = PARAMS_OPTION) -> None:
    """Train a challenger on the latest data (features rebuilt if the data changed) and
    run the promotion gate on it."""
    from socialcrm.data.customer_table import check_task
    from socialcrm.runner import train as run_train
    from socialcrm.tracking.promote import print_decisions

    with exit_on_user_error(err_console):
        extra = ["train.register=true", "promotion.on_train=true"]
        cfg = _config([*(overrides or []), *extra], params)
        check_task(cfg)
        if not _is_customer_table(cfg.data):
            _ingest(cfg.data)  # the latest exports; the feature table follows their hash
        outcome = run_train(cfg, console=console)
    if outcome.decision is not None:
        print_decisions([outcome.decision], console)


@app.command()
def run(overrides: list[str] = OVERRIDES) -> None:
    """The main job: generate (synthetic only), validate, ingest, features, insight report,
    then each task of pipeline.tasks in order; ends with a summary table."""
    from socialcrm.data.generate import run_generate
    from socialcrm.features.run import ensure_features
    from socialcrm.reports.run import run_report
    from socialcrm.runner import train

    with exit_on_user_error(err_console):
        cfg = compose(overrides or [])
        t0 = time.perf_counter()
        _require_event_tables(cfg.data, "run the main job on")
        if cfg.data.source == "synthetic":
            with _stage("generate"):
                run_generate(cfg, console=console)
        with _stage("ingest"):
            _ingest(cfg.data)
        with _stage("features"):
            ensure_features(cfg, console=console)  # skipped when the table matches
        with _stage("report"):
            run_report(cfg, console=console)
        # in config order: a task may use a model an earlier one promoted; each model
        # goes through the promotion gate right after training (pipeline.promote)
        gate = [f"promotion.on_train={str(bool(cfg.pipeline.get('promote', True))).lower()}"]
        outcomes = []
        for task in cfg.pipeline.tasks:
            with _stage(f"train:{task}"):
                task_cfg = compose([*gate, *(overrides or []), f"task={task}"])
                outcomes.append(train(task_cfg, console=console))
    _print_training_summary(outcomes)
    decisions = [o.decision for o in outcomes if o.decision is not None]
    if decisions:
        from socialcrm.tracking.promote import print_decisions

        print_decisions(decisions, console)
    console.print(f"[bold green]done[/] in {time.perf_counter() - t0:.1f} s")
    console.print("Open the MLflow UI with [bold]make ui[/] (http://127.0.0.1:5000)")


#: Names a file that ``socialcrm run`` appends its stage markers to (benchmarks/scale.py).
STAGE_LOG_ENV = "SOCIALCRM_STAGE_LOG"


def write_stage_marker(stage: str, event: str) -> None:
    """Append ``{"stage", "event", "t"}`` (``t``: ``time.time()``) as one JSON line to the
    file named by ``$SOCIALCRM_STAGE_LOG``, flushed at once; nothing when it is unset."""
    path = os.environ.get(STAGE_LOG_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"stage": stage, "event": event, "t": time.time()}) + "\n")
        f.flush()


@contextmanager
def _stage(name: str) -> Iterator[None]:
    """Markers around one stage of the main job: ``end`` only when it finishes (a stage
    that raises is left open, which names the stage the job died in)."""
    write_stage_marker(name, "start")
    yield
    write_stage_marker(name, "end")


def _print_training_summary(outcomes) -> None:
    """One row per trained task: headline test metrics, the baseline's, the grade, the run."""
    table = Table(title="trained models (test cutoff)")
    for col in ("task", "model", "metrics", "baseline", "grade", "MLflow run", "registered"):
        table.add_column(col)
    for o in outcomes:
        rows = o.headline[:3]
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
    """Validate and ingest one data config (violations raise ``DataContractError``)."""
    from socialcrm.data import load

    source = _event_source(data_cfg, "ingest")
    rows = load.ingest(source, console=console)
    _print_rows("validated and ingested", rows)
    console.print(f"written to {source.interim_dir}")


def _print_rows(title: str, rows: dict[str, int]) -> None:
    table = Table(title=title)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in rows.items():
        table.add_row(name, f"{n:,}")
    console.print(table)


@app.command()
def score(overrides: list[str] = OVERRIDES, params: Path | None = PARAMS_OPTION) -> None:
    """Score every customer active at score.as_of with score.model (default: the task's
    @champion) into score.output_dir/<task>-<as_of>.parquet, with a distribution report."""
    from socialcrm.scoring.run import run_score

    with exit_on_user_error(err_console):
        run_score(_config(overrides, params), console=console)


@app.command()
def monitor(overrides: list[str] = OVERRIDES, params: Path | None = PARAMS_OPTION) -> None:
    """Drift of the task's deployed model (monitor.alias, default champion) at
    monitor.as_of against its reference profile (the test cutoff at training), and its
    realised performance once the labels have matured; writes
    monitor.output_dir/<task>-<as_of>.md and logs an MLflow run."""
    from socialcrm.monitoring.run import run_monitor

    with exit_on_user_error(err_console):
        cfg = _config(overrides, params)
        _require_event_tables(cfg.data, "monitor (the features are built from event tables)")
        run_monitor(cfg, console=console)


if __name__ == "__main__":
    app()

"""The batch-scoring edge: ``socialcrm score task=<task>``.

``run_score``: resolve the model (``score.model``, default
``models:/socialcrm-<task>@champion``) and refuse one trained on another data set or
feature set -> build the point-in-time features of every customer active at
``score.as_of`` (:func:`socialcrm.features.run.features_as_of`, the training code and
config) -> score in chunks of ``score.chunk_rows`` -> the task's decision over the
whole batch -> ``<score.output_dir>/<task>-<as_of>.parquet``, written atomically, and
the distribution report ``<task>-<as_of>.md`` / ``.png`` beside it -> aggregates in
``<score.summary_dir>/<task>/`` (for DVC) and in an MLflow run of
``<prefix>-<task>-scoring`` -> a summary table.

Memory: only one chunk of reason codes is ever held. Reasons are spilled to a
temporary Parquet file beside the output while the chunks are scored (the decision
needs the whole batch's scores first), then joined back chunk by chunk into the
output. A failure anywhere leaves no partial output (and the previous file of the
same name as it was).

Privacy: the output holds salted customer hashes unless ``score.key: id``; the salt
is used, never written or logged; MLflow receives aggregates only.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from omegaconf import DictConfig
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from socialcrm.data.io import atomic_dir, atomic_file, temp_prefix
from socialcrm.errors import ConfigError, UserError
from socialcrm.scoring import batch
from socialcrm.scoring.batch import Distribution, ModelRef
from socialcrm.tasks.protocol import Task

#: The Parquet schema-metadata key holding the batch's provenance.
METADATA_KEY = b"socialcrm.scoring"
_PARQUET = {"compression": "zstd", "write_statistics": True}


@dataclass
class Scored:
    """What :func:`write_scores` wrote.

    Attributes
    ----------
    seconds
        Scoring, decision and writing (features excluded).
    """

    path: Path
    rows: int
    distribution: Distribution
    features_sha256: str
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("nan")


# -- the model ----------------------------------------------------------------------


def default_model_uri(task: str) -> str:
    return f"models:/socialcrm-{task}@champion"


def model_uri(setting: str | None, task: str, console: Console | None = None) -> str:
    """``score.model`` as a model URI: null is the task's ``@champion``; a training
    stage's ``model.json`` (``reports/train/<data>/<task>/model.json``) names its
    champion after the gate, or, with none (a development preset registers nothing),
    the run's own logged model."""
    if not setting:
        return default_model_uri(task)
    setting = str(setting)
    if setting.endswith(".json"):
        path = Path(setting)
        if not path.is_file():
            raise ConfigError(f"score.model={setting}: no such file (train the task first)")
        info = json.loads(path.read_text())
        if info.get("champion"):
            return str(info["champion"])
        if console is not None:
            console.print(
                f"[yellow]score[/]: no champion (gate: {info.get('gate')}); scoring the "
                f"training run's own model {info['model_uri']}"
            )
        return str(info["model_uri"])
    return setting


def resolve_model(uri: str, task: str | None, expect: Mapping[str, str]) -> ModelRef:
    """The model ``uri`` names, checked against what it must have been trained on.

    Parameters
    ----------
    uri
        ``models:/<name>@<alias>``, ``models:/<name>/<version>``, ``models:/m-<id>``
        (a logged model) or ``runs:/<run_id>/<path>``.
    task
        The task it must have been trained for (its run's ``task`` tag, when set;
        None: any).
    expect
        Tags it must carry (``data``, ``features``): the registered version's tags
        (training sets them), else its run's.

    Raises
    ------
    ConfigError
        If there is no such model (an alias not set: train, then promote), or it
        was trained for another task, data set or feature set.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        if uri.startswith(("models:/m-", "runs:/")):
            if uri.startswith("runs:/"):
                run_id = uri.removeprefix("runs:/").split("/", 1)[0]
            else:
                run_id = mlflow.get_logged_model(uri.removeprefix("models:/")).source_run_id
            ref = ModelRef(uri, uri, uri, f"run {run_id}")
            version_tags: Mapping[str, str] = {}
        elif uri.startswith("models:/"):
            body = uri.removeprefix("models:/")
            if "@" in body:
                name, alias = body.split("@", 1)
                mv = client.get_model_version_by_alias(name, alias)
            elif "/" in body:
                name, number = body.rsplit("/", 1)
                mv = client.get_model_version(name, number)
            else:
                raise ConfigError(
                    f"score.model={uri} names no version: write models:/{body}@<alias> "
                    f"or models:/{body}/<version>"
                )
            run_id = mv.run_id
            ref = ModelRef(f"models:/{name}/{mv.version}", uri, name, str(mv.version))
            version_tags = mv.tags or {}
        else:
            raise ConfigError(
                f"score.model={uri} is not an MLflow model URI: write "
                "models:/<name>@<alias>, models:/<name>/<version> or runs:/<run_id>/model"
            )
        run_tags = client.get_run(run_id).data.tags if run_id else {}
    except MlflowException as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0].rstrip(".")
        if task is None:
            raise ConfigError(f"there is no model {uri} in the tracking store ({reason})") from None
        raise ConfigError(
            f"there is no model {uri} in the tracking store ({reason}). Train one with "
            f"`socialcrm train task={task}` and promote it with `socialcrm promote "
            f"task={task}` (the promotion gate sets @champion), or score another "
            f"version, e.g. score.model=models:/socialcrm-{task}@challenger"
        ) from None
    trained_for = run_tags.get("task")
    if trained_for and task and trained_for != task:
        raise ConfigError(f"{ref.label} was trained for task={trained_for}, not task={task}")
    tags = {k: version_tags.get(k, run_tags.get(k)) for k in expect}
    differs = {k: v for k, v in tags.items() if v != str(expect[k])}
    if differs:
        found = ", ".join(f"{k}={v}" for k, v in differs.items())
        wanted = ", ".join(f"{k}={expect[k]}" for k in differs)
        raise ConfigError(
            f"{ref.label} was trained on {found}, not {wanted}: its inputs would not mean "
            "what this feature table means. Score with a model trained on these data and "
            f"features (or choose {wanted.replace(', ', ' ')} to match)"
        )
    return ref


def load_model(ref: ModelRef) -> Any:
    """The pyfunc of ``ref`` (loaded by version, not by alias)."""
    import mlflow

    return mlflow.pyfunc.load_model(ref.uri)


class DirectPredictor:
    """A pyfunc's own ``predict`` without MLflow's input enforcement around it.

    A socialcrm model's signature lists every feature as optional and of type
    ``Any`` (:mod:`socialcrm.tracking.pyfunc`): MLflow's enforcement then only drops
    unknown columns (:func:`~socialcrm.scoring.batch.model_inputs` does that), yet
    it checks every value in Python, which costs more than the model itself
    (0.3 ms a row: 5 minutes for 1M customers). The model checks its input itself
    (:class:`~socialcrm.models.calibration.ModelInputError`) and returns the same
    outputs either way.
    """

    def __init__(self, python_model: Any):
        self.python_model = python_model

    def predict(self, frame: pd.DataFrame, params: Mapping[str, Any] | None = None):
        return self.python_model.predict(None, frame, params=dict(params or {}))


def predictor(model: Any) -> Any:
    """What scores the chunks: :class:`DirectPredictor` of a Python-model pyfunc whose
    ``predict`` takes ``(context, model_input, params)``, else the pyfunc itself."""
    import inspect

    from mlflow.exceptions import MlflowException

    try:
        python_model = model.unwrap_python_model()
    except (MlflowException, AttributeError):  # not a Python model: MLflow's path
        return model
    parameters = inspect.signature(python_model.predict).parameters
    if list(parameters)[:2] != ["context", "model_input"] or "params" not in parameters:
        return model
    return DirectPredictor(python_model)


def input_names(model: Any) -> list[str] | None:
    """The input columns a pyfunc's signature names (None: it names none)."""
    schema = model.metadata.get_input_schema()
    return schema.input_names() if schema is not None else None


# -- the date -----------------------------------------------------------------------


def last_transaction(interim_dir: str | Path) -> pd.Timestamp:
    """The time of the ingested data set's last transaction.

    Raises
    ------
    FileNotFoundError
        If the data set is not ingested.
    """
    import duckdb

    path = Path(interim_dir) / "transactions.parquet"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: ingest the data first (socialcrm ingest, or make run)"
        )
    with duckdb.connect() as con:
        (last,) = con.execute(
            "SELECT max(timestamp) FROM read_parquet(?)", [path.as_posix()]
        ).fetchone()
    if last is None:
        raise FileNotFoundError(f"{path} holds no transactions: nothing to date the scores by")
    return pd.Timestamp(last)


def scoring_date(cfg: DictConfig) -> pd.Timestamp:
    """``score.as_of``, or the first month start after the data's last transaction day
    (:func:`~socialcrm.scoring.batch.month_start_after`)."""
    if cfg.score.get("as_of"):
        try:
            return batch.parse_as_of(cfg.score.as_of)
        except ValueError as err:
            raise ConfigError(str(err)) from None
    return batch.month_start_after(last_transaction(cfg.data.interim_dir))


# -- scoring and writing ------------------------------------------------------------


@contextlib.contextmanager
def _spill_file(target: Path) -> Iterator[Path]:
    """A temporary file beside ``target``, removed afterwards; named as a temporary of
    ``target`` so that the next write sweeps it if this process is killed."""
    fd, name = tempfile.mkstemp(prefix=temp_prefix(target), suffix=".reasons", dir=target.parent)
    os.close(fd)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def _score_and_spill(
    model: Any,
    inputs: pd.DataFrame,
    chunk_rows: int,
    top_reasons: int,
    spill: Path,
    on_chunk: Callable[[int], None],
) -> pd.DataFrame:
    """Score every chunk; keep the outputs without reasons, append the reasons to
    ``spill`` (one row group per chunk)."""
    parts = []
    writer: pq.ParquetWriter | None = None
    try:
        for _, outputs in batch.score_chunks(model, inputs, chunk_rows, top_reasons):
            scores, reasons = batch.split_reasons(outputs)
            parts.append(scores)
            if len(reasons.columns):
                table = pa.Table.from_pandas(reasons, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(spill, table.schema, compression="lz4")
                writer.write_table(table.cast(writer.schema), row_group_size=chunk_rows)
            on_chunk(len(outputs))
    finally:
        if writer is not None:
            writer.close()
    return pd.concat(parts)


def _reason_chunks(spill: Path, has_reasons: bool, n_chunks: int, chunk_rows: int):
    """The spilled reasons chunk by chunk (empty frames when there are none)."""
    if not has_reasons:
        yield from (pd.DataFrame() for _ in range(n_chunks))
        return
    with pq.ParquetFile(spill) as reader:
        n = 0
        for rb in reader.iter_batches(batch_size=chunk_rows):
            n += 1
            yield rb.to_pandas()
        # zero rows scored: no batch, but the reason columns still belong in the file
        yield from (reader.schema_arrow.empty_table().to_pandas() for _ in range(n_chunks - n))


def write_scores(
    frame: pd.DataFrame,
    model: Any,
    task: Task,
    context: Mapping[str, pd.DataFrame] | None,
    path: Path,
    ref: ModelRef,
    as_of: pd.Timestamp,
    chunk_rows: int,
    top_reasons: int,
    key: str,
    salt: str | None,
    on_chunk: Callable[[int], None] | None = None,
) -> Scored:
    """Score ``frame`` with ``model`` and write the score table to ``path`` atomically.

    Parameters
    ----------
    frame
        Feature rows with ``customer_id`` (a feature table's frame).
    model
        A loaded pyfunc of ``task``.
    task
        Decides over the whole batch (:meth:`~socialcrm.tasks.protocol.Task.decide`).
    context
        The task's context tables (next-best-offer: ``offers``).
    path
        The Parquet file; it appears complete or not at all.
    ref, as_of
        Provenance written into every row.
    chunk_rows, top_reasons, key, salt
        As ``score.*`` (``salt`` for ``key="hash"``).
    on_chunk
        Called with the rows of each scored chunk (a progress bar).

    Raises
    ------
    UserError
        If the model rejects the features (a column missing, a value not a number):
        the message names columns and rules, never values.
    """
    from socialcrm.models.calibration import ModelInputError

    t0 = time.perf_counter()
    on_chunk = on_chunk or (lambda n: None)
    inputs = batch.model_inputs(frame, input_names(model))
    keys = [c for c in ("customer_id", "cutoff") if c in frame.columns]
    digest = batch.frame_digest(frame[[*keys, *(c for c in inputs.columns if c not in keys)]])
    customer = batch.customer_keys(frame["customer_id"], key, salt)
    meta = batch.meta_columns(ref, as_of, digest)
    path = Path(path)
    with atomic_file(path) as tmp, _spill_file(path) as spill:
        try:
            outputs = _score_and_spill(
                predictor(model), inputs, chunk_rows, top_reasons, spill, on_chunk
            )
        except ModelInputError as err:
            raise UserError(
                f"{ref.label} cannot score the features as of {as_of:%Y-%m-%d}: {err}"
            ) from None
        has_reasons = top_reasons > 0 and spill.stat().st_size > 0
        decision = task.decide(frame, outputs, context)
        head = batch.head_table(customer, outputs, decision)
        dist = batch.distribution(head)
        slices = batch.chunk_slices(len(head), chunk_rows) or [slice(0, 0)]
        writer: pq.ParquetWriter | None = None
        try:
            reasons = _reason_chunks(spill, has_reasons, len(slices), chunk_rows)
            for part, chunk_reasons in zip(slices, reasons, strict=True):
                table = pa.Table.from_pandas(
                    batch.assemble(head.iloc[part], chunk_reasons, meta), preserve_index=False
                )
                if writer is None:
                    provenance = json.dumps({**meta, "as_of": f"{as_of:%Y-%m-%d}"}).encode()
                    schema = table.schema.with_metadata(
                        {**(table.schema.metadata or {}), METADATA_KEY: provenance}
                    )
                    writer = pq.ParquetWriter(tmp, schema, **_PARQUET)
                writer.write_table(table.cast(writer.schema), row_group_size=chunk_rows)
        finally:
            if writer is not None:
                writer.close()
    return Scored(path, len(head), dist, digest, time.perf_counter() - t0)


# -- reports ------------------------------------------------------------------------


def write_report(parquet: Path, record: Mapping[str, Any], dist: Distribution) -> Path:
    """``<task>-<as_of>.md`` (and ``.png``) beside the scores, each written atomically."""
    import matplotlib.pyplot as plt

    md = parquet.with_suffix(".md")
    png = parquet.with_suffix(".png")
    ax = batch.draw_distribution(dist)
    if ax is not None:
        with atomic_file(png) as tmp:
            ax.figure.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
        plt.close(ax.figure)
    with atomic_file(md) as tmp:
        text = batch.report_markdown(record, dist, png.name if ax is not None else None)
        tmp.write_text(text, encoding="utf-8")
    return md


def write_summary(out_dir: Path, record: Mapping[str, Any], dist: Distribution) -> None:
    """``summary.json`` (the aggregates) and ``distribution.csv`` (histogram, or the
    decision mix without a numeric score) where DVC reads metrics and plots."""
    with atomic_dir(out_dir) as tmp:
        (tmp / "summary.json").write_text(json.dumps(record, indent=2) + "\n")
        table = dist.histogram if len(dist.histogram) else dist.decisions
        table.to_csv(tmp / "distribution.csv", index=False)


def log_scoring_run(
    cfg: DictConfig, task: Task, record: Mapping[str, Any], scored: Scored, report: Path
) -> str:
    """An MLflow run of aggregates in ``<prefix>-<task>-scoring``: row count, quantiles,
    decision shares, throughput, the report; never a customer row or the config."""
    import mlflow

    from socialcrm.tracking import start_run

    metrics = {
        "rows": float(scored.rows),
        "seconds": scored.seconds,
        "rows_per_second": scored.rows_per_second,
        **{f"score_{k}": v for k, v in record["quantiles"].items()},
        **{f"decision_share_{k}": v["share"] for k, v in record["decisions"].items()},
    }
    with start_run(
        cfg.tracking,
        f"{task.name}-scoring",
        run_name=f"{task.name}-{record['as_of']}",
        tags={"task": task.name, "data": str(cfg.data.name), "features": str(cfg.features.name)},
        description=f"Batch scoring of {task.name}: aggregates of each scored batch "
        "(no customer rows).",
    ) as run:
        mlflow.log_params(
            {
                k: record[k]
                for k in ("as_of", "model", "model_version", "model_uri", "key", "top_reasons")
            }
            | {"chunk_rows": int(cfg.score.chunk_rows)}
        )
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        mlflow.set_tags(
            {"output_path": str(scored.path), "features_sha256": record["features_sha256"]}
        )
        for f in (report, report.with_suffix(".png")):
            if f.is_file():
                mlflow.log_artifact(str(f))
        return run.info.run_id


def print_summary(
    console: Console, record: Mapping[str, Any], scored: Scored, feature_seconds: float
) -> None:
    """Rows, the score's quantiles, the decisions, the time and throughput."""
    t = Table(
        title=f"{record['task']} scores as of {record['as_of']}: "
        f"{record['model']} v{record['model_version']}"
    )
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_row("customers scored", f"{scored.rows:,}")
    for stat, value in record["quantiles"].items():
        t.add_row(f"{scored.distribution.column} {stat}", f"{value:.4g}")
    for decision, v in record["decisions"].items():
        t.add_row(f"decision {decision}", f"{v['rows']:,} ({v['share']:.1%})")
    t.add_row("features (s)", f"{feature_seconds:.1f}")
    t.add_row("scoring + writing (s)", f"{scored.seconds:.1f}")
    t.add_row("rows / s", f"{scored.rows_per_second:,.0f}")
    console.print(t)
    console.print(f"written to {scored.path} (report {scored.path.with_suffix('.md').name})")


# -- the whole edge -----------------------------------------------------------------


def _settings(cfg: DictConfig) -> tuple[int, int, str]:
    s = cfg.score
    key = str(s.key)
    if key not in batch.KEY_COLUMNS:
        raise ConfigError(f"score.key must be one of {sorted(batch.KEY_COLUMNS)}, not {key!r}")
    try:
        chunk_rows, top = int(s.chunk_rows), int(s.top_reasons)
    except (TypeError, ValueError):
        raise ConfigError("score.chunk_rows and score.top_reasons must be integers") from None
    if chunk_rows < 1 or top < 0:
        raise ConfigError(
            f"score.chunk_rows must be at least 1 and score.top_reasons at least 0 "
            f"(got {chunk_rows} and {top})"
        )
    return chunk_rows, top, key


def _progress(console: Console | None) -> Progress:
    return Progress(
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=console is None,
        transient=True,
    )


def run_score(cfg: DictConfig, console: Console | None = None) -> Path:
    """Score every customer active at ``score.as_of`` with ``score.model``; write the
    scores, the distribution report and the aggregates; return the Parquet path.

    Raises
    ------
    ConfigError
        A bad ``score.*`` value, no such model (e.g. no ``@champion`` yet), or a
        model trained for another task, data set or feature set.
    FileNotFoundError
        The data set is not ingested.
    """
    from socialcrm.data.privacy import resolve_salt
    from socialcrm.features.run import features_as_of
    from socialcrm.runner import build_task, task_context
    from socialcrm.tracking import configure

    if cfg.data.get("source") == "customer_table":
        raise ConfigError(
            f"data={cfg.data.name} is a customer table: batch scoring builds point-in-time "
            "features from event tables"
        )
    chunk_rows, top, key = _settings(cfg)
    task = build_task(cfg)
    configure(cfg.tracking)
    ref = resolve_model(
        model_uri(cfg.score.model, task.name, console),
        task.name,
        {"data": str(cfg.data.name), "features": str(cfg.features.name)},
    )
    as_of = scoring_date(cfg)
    t0 = time.perf_counter()
    ft = features_as_of(cfg, as_of, console=console)
    feature_seconds = time.perf_counter() - t0
    context, _ = task_context(cfg, task, ft.frame)
    model = load_model(ref)
    try:
        salt = resolve_salt(cfg.data.get("salt")) if key == "hash" else None
    except ValueError as err:
        raise ConfigError(f"score.key=hash: {err} (or score.key=id)") from None
    path = Path(cfg.score.output_dir) / f"{task.name}-{as_of:%Y-%m-%d}.parquet"
    with _progress(console) as progress:
        bar = progress.add_task("scoring", total=len(ft.frame))
        scored = write_scores(
            ft.frame,
            model,
            task,
            context,
            path,
            ref,
            as_of,
            chunk_rows,
            top,
            key,
            salt,
            on_chunk=lambda n: progress.advance(bar, n),
        )
    record = batch.summary_record(
        scored.distribution, ref, task.name, as_of, key, top, scored.features_sha256
    )
    report = write_report(path, record, scored.distribution)
    write_summary(Path(cfg.score.summary_dir) / task.name, record, scored.distribution)
    if cfg.score.get("log_to_mlflow", True):
        log_scoring_run(cfg, task, record, scored, report)
    if console is not None:
        print_summary(console, record, scored, feature_seconds)
    return path

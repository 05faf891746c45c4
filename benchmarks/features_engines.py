"""Benchmark: the same feature table on DuckDB and on Spark (local mode), side by side,
and Spark scoring throughput.

One data set (a folder of canonical parquet tables: ``--world``, e.g. a world written by
``socialcrm.data.generate.write_synthetic`` or an ingested ``data/interim/<name>``; or
``--customers N``: a synthetic world of N customers generated once into
``.cache/engines/<N>`` with ``data=synthetic_large data.generator.n_customers=N`` and
reused while its generator config is the same). Then:

1. **Build** the feature table at every cutoff (``build_features`` with a ``sink``), once
   per engine, each in its own child process started in its own session: peak memory is
   that engine's alone, and the process tree is sampled every 0.5 s (``_child.run_sampled``),
   so the Spark JVM, a child of the Python process, counts. Each cutoff's chunk goes to
   ``<work>/<engine>/features.parquet`` as one row group (the table is never held
   whole). Recorded per engine: wall seconds of the child process (start-up and JVM
   included), of opening the backend, registering the tables and the build, each
   stage's seconds (``FeatureTable.timings``), the peak summed RSS (and PSS) of the
   process tree, the kernel's peak RSS of its largest process, the peak scratch disk
   (DuckDB's ``temp_dir``, Spark's ``local_dir``), rows and file size. Spark runs with
   ``features.spark.*`` of the composed config (``master: local[2]``, ``driver_memory``;
   ``--spark-driver-memory`` sets it); DuckDB with ``features.duckdb.*``.
2. **Compare** the two tables a cutoff (row group) and a batch of columns at a time,
   by the rule of ``tests/features/golden.py`` (``assert_same_table``): same columns,
   same rows in the same order, numbers to 1e-9 relative (counts are floats holding
   whole numbers: exact), others exactly, nulls in the same places. Recorded: equal or
   not, the differing columns (rows) and the first differences.
3. **Score** the test-cutoff rows of the Spark table with a churn model fitted the
   task's way (``fit_calibrated``: the configured ``model``, ``task.calibration``; on
   ``--train-rows`` sampled training rows and ``--valid-rows`` validation rows of the
   DuckDB table), logged as the project's pyfunc and registered (``@champion``) in a
   temporary MLflow store under the work folder (the repo's store is not touched), in a
   child process of its own: ``score_spark`` over the cached test rows (repartitioned
   to ``--score-partitions``), forced by writing every row's outputs to parquet, then
   ``predict_outputs`` (pandas, chunks of 50,000) on the same rows. Rows/s both ways
   (Spark: the first run, cold: Python workers start and load the model, with the
   UDF's setup; then ``--score-repeats`` - 1 reruns of the same action, warm);
   the outputs compared on every row (probability to 1e-9 relative, decision exactly).

Writes ``benchmarks/results/features_engines_<label>.json`` (``--label``; default the
customer count as ``2k`` / ``100k`` / ``1m``, or the world folder's name) with the exact
command line. The work folder (``.cache/engines/run-<label>-*``: both tables, scratch
folders, the MLflow store, the children's logs) is removed afterwards unless ``--keep``.

    .venv/bin/python benchmarks/features_engines.py --customers 100000
    .venv/bin/python benchmarks/features_engines.py --customers 1000000 --spark-driver-memory 8g
    .venv/bin/python benchmarks/features_engines.py --world data/interim/synthetic -- data=synthetic
    .venv/bin/python benchmarks/features_engines.py --customers 2000 -- features.groups=[crm]

Overrides after ``--`` are Hydra overrides of the composed config (``features.*``,
``model=...``; with ``--world`` also ``data=<preset>`` for its platform list).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _child import ROOT, Measured, run_sampled, save_result
from rich.console import Console
from rich.table import Table

ENGINES = ("duckdb", "spark")
CACHE = ROOT / ".cache" / "engines"
FEATURES_FILE = "features.parquet"
MODEL_NAME = "engines-churn"
RTOL = 1e-9
GB = 1e9
COLUMN_BATCH = 32  # columns compared at a time (memory: one cutoff x this many columns)
MAX_EXAMPLES = 10  # first differences recorded


def size_label(n: int) -> str:
    """100000 -> 100k, 1000000 -> 1m, 2500 -> 2500."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


# --- children ---------------------------------------------------------------------------


def _compose(spec: dict[str, Any]):
    from socialcrm.config import compose

    return compose(spec["overrides"])


def child_generate(spec: dict[str, Any]) -> dict[str, Any]:
    """Write the synthetic world of ``spec["overrides"]`` to ``spec["world"]`` atomically,
    with its generator config next to it (``engines_world.json``)."""
    from socialcrm.data.generate import write_synthetic
    from socialcrm.data.io import atomic_dir

    cfg = _compose(spec)
    t0 = time.perf_counter()
    with atomic_dir(Path(spec["world"])) as tmp:
        rows = write_synthetic(cfg.data.generator, tmp, cfg.data.salt)
        (tmp / "engines_world.json").write_text(json.dumps(spec["generator"], indent=2) + "\n")
    return {"seconds": round(time.perf_counter() - t0, 1), "rows": rows}


def child_build(spec: dict[str, Any]) -> dict[str, Any]:
    """Build the feature table on ``spec["engine"]``, a cutoff at a time to parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from socialcrm.features.build import build_features
    from socialcrm.features.config import feature_config
    from socialcrm.features.run import open_feature_backend
    from socialcrm.listening import build_scorer_fn

    t_start = time.perf_counter()
    cfg = _compose(spec)
    fcfg = feature_config(cfg.features)
    out = Path(spec["output"])
    out.parent.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"writer": None, "chunks": []}

    def sink(chunk) -> None:
        table = pa.Table.from_pandas(chunk, preserve_index=False)
        if state["writer"] is None:
            state["writer"] = pq.ParquetWriter(out, table.schema, compression="zstd")
        # one row group per cutoff: the comparison reads both tables a cutoff at a time
        state["writer"].write_table(table, row_group_size=max(1, table.num_rows))
        cutoff = str(chunk["cutoff"].iloc[0]) if len(chunk) else None
        state["chunks"].append({"cutoff": cutoff, "rows": len(chunk)})

    t0 = time.perf_counter()
    backend = open_feature_backend(cfg)
    open_s = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        backend.register_folder(spec["world"])
        register_s = time.perf_counter() - t0
        scorer = build_scorer_fn(cfg.listening) if "social_listening" in fcfg.groups else None
        t0 = time.perf_counter()
        ft = build_features(backend, fcfg, list(cfg.data.platforms), scorer, sink=sink)
        build_s = time.perf_counter() - t0
    finally:
        if state["writer"] is not None:
            state["writer"].close()
        t0 = time.perf_counter()
        backend.close()
        close_s = time.perf_counter() - t0
    Path(spec["manifest"]).write_text(json.dumps([s.to_dict() for s in ft.manifest], indent=2))
    spark_conf = None
    if backend.name == "spark":
        keys = ("master", "driver_memory", "shuffle_partitions", "conf")
        spark_conf = {k: getattr(fcfg.spark, k, None) for k in keys}
    return {
        "engine": backend.name,
        "groups": list(fcfg.groups),
        "open_backend_seconds": round(open_s, 2),
        "register_seconds": round(register_s, 2),
        "build_seconds": round(build_s, 2),
        "close_seconds": round(close_s, 2),
        "in_process_seconds": round(time.perf_counter() - t_start, 2),
        "timings": ft.timings,
        "rows": ft.n_rows,
        "customers": ft.n_customers,
        "cutoffs": [c.isoformat() for c in ft.cutoffs],
        "rows_per_split": {str(k): int(v) for k, v in ft.splits["rows"].items()},
        "features": len(ft.feature_names),
        "columns": len(ft.manifest) + 3,
        "chunks": state["chunks"],
        "file_mb": round(out.stat().st_size / 1e6, 1) if out.exists() else 0.0,
        "python_peak_rss_gb": max((t["peak_rss_gb"] for t in ft.timings.values()), default=0),
        "spark": spark_conf,
        "duckdb": {
            "threads": fcfg.duckdb.threads,
            "memory_limit": fcfg.duckdb.memory_limit,
            "shard_rows": fcfg.duckdb.shard_rows,
        },
    }


def _split_groups(path: Path) -> dict[str, list[int]]:
    """Split name -> the row groups (cutoffs) of the table holding it."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    groups: dict[str, list[int]] = {}
    for i in range(pf.num_row_groups):
        splits = pf.read_row_group(i, columns=["split"]).column(0).unique().to_pylist()
        for s in splits:
            groups.setdefault(str(s), []).append(i)
    return groups


def _sample_split(path: Path, split: str, n: int, seed: int):
    """About ``n`` rows of ``split`` (every row if fewer), each row group sampled in
    proportion to its rows, with a fixed seed."""
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    groups = _split_groups(path).get(split, [])
    total = sum(pf.metadata.row_group(i).num_rows for i in groups)
    rng = np.random.default_rng(seed)
    parts = []
    for i in groups:
        rows = pf.read_row_group(i).to_pandas()
        rows = rows[rows["split"] == split]
        if total > n:
            k = min(len(rows), round(n * len(rows) / total))
            rows = rows.iloc[np.sort(rng.choice(len(rows), k, replace=False))]
        parts.append(rows)
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True)


def child_score(spec: dict[str, Any]) -> dict[str, Any]:
    """Fit and register a churn model on a sample of the DuckDB table, then score the
    Spark table's test rows with ``score_spark`` and with pandas; compare them."""
    import mlflow
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq
    from omegaconf import OmegaConf

    from socialcrm.features.config import feature_config
    from socialcrm.features.run import open_feature_backend
    from socialcrm.scoring.batch import predict_outputs
    from socialcrm.scoring.spark import score_spark
    from socialcrm.tasks.base import fit_calibrated, task_data
    from socialcrm.tracking import start_run
    from socialcrm.tracking.pyfunc import log_scoring_model, set_alias

    cfg = _compose(spec)
    fcfg = feature_config(cfg.features)
    work = Path(spec["work"])
    manifest = json.loads(Path(spec["manifest"]).read_text())
    seed = int(cfg.seed)
    target = "label_churn"

    # -- the model: the churn task's fit on a sample of the DuckDB table -------------
    t0 = time.perf_counter()
    duck = Path(spec["duckdb_table"])
    parts = {
        "train": _sample_split(duck, "train", spec["train_rows"], seed),
        "valid": _sample_split(duck, "valid", spec["valid_rows"], seed),
    }
    for name, part in parts.items():
        if part.empty or target not in part or part[target].nunique() < 2:
            raise RuntimeError(f"the DuckDB table's {name} split has no rows or one class")
    data = task_data(pd.concat(parts.values(), ignore_index=True), manifest, fcfg.groups, target)
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    calibration = str(cfg.task.get("calibration", "isotonic"))
    model = fit_calibrated(
        data, data.part("train"), data.part("valid"), model_cfg, calibration, seed
    )
    fit_s = time.perf_counter() - t0
    tracking = {
        "tracking_uri": f"sqlite:///{work / 'mlflow' / 'mlflow.db'}",
        "artifact_root": str(work / "mlflow" / "artifacts"),
    }
    with start_run(tracking, "features-engines"):
        info = log_scoring_model(model, data.part("valid"), MODEL_NAME)
    set_alias(MODEL_NAME, "champion", info.registered_model_version)
    uri = f"models:/{MODEL_NAME}@champion"
    model_info = {
        "model": str(cfg.model.name),
        "calibration": calibration,
        "train_rows": len(data.part("train")),
        "valid_rows": len(data.part("valid")),
        "inputs": len(data.features),
        "fit_seconds": round(fit_s, 1),
    }
    del parts, data

    # -- Spark: score_spark over the cached test rows, forced by a parquet write ------
    table = str(spec["spark_table"])
    backend = open_feature_backend(cfg)
    try:
        spark = backend.spark
        n_parts = int(spec["score_partitions"] or 2 * spark.sparkContext.defaultParallelism)
        rows_sdf = spark.read.parquet(table).where("split = 'test'").repartition(n_parts)
        rows_sdf = rows_sdf.cache()
        n_rows = rows_sdf.count()  # cached before the clock starts: the read is not timed
        t0 = time.perf_counter()
        scored = score_spark(spark, uri, rows_sdf)
        setup_s = time.perf_counter() - t0
        outputs = [c for c in scored.columns if c not in rows_sdf.columns]
        plan = scored._jdf.queryExecution().executedPlan().toString()
        python_nodes = plan.count("ArrowEvalPython") + plan.count("BatchEvalPython")
        scored_path = work / "scored_spark"
        runs = []  # the first cold (Python workers start, load the model), then warm
        for _ in range(max(1, int(spec["score_repeats"]))):
            t1 = time.perf_counter()
            scored.select("customer_id", "cutoff", *outputs).write.mode("overwrite").parquet(
                str(scored_path)
            )
            runs.append(time.perf_counter() - t1)
        arrow_batch = spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")
        rows_sdf.unpersist()
    finally:
        backend.close()
    got = pd.read_parquet(scored_path)

    # -- pandas: predict_outputs on the same rows ---------------------------------------
    pf = pq.ParquetFile(table)
    test_groups = _split_groups(Path(table)).get("test", [])
    rows = pd.concat([pf.read_row_group(i).to_pandas() for i in test_groups], ignore_index=True)
    rows = rows[rows["split"] == "test"].reset_index(drop=True)
    loaded = mlflow.pyfunc.load_model(uri)
    inputs = loaded.metadata.get_input_schema().input_names()
    t0 = time.perf_counter()
    expected = predict_outputs(loaded, rows, inputs)
    pandas_s = time.perf_counter() - t0

    # -- the same outputs, row for row (every row) ----------------------------------------
    keys = rows[["customer_id", "cutoff"]].copy()
    left = pd.concat([keys, expected[outputs]], axis=1)
    for frame in (left, got):
        frame["cutoff"] = frame["cutoff"].astype("datetime64[us]")
        frame["customer_id"] = frame["customer_id"].astype(str)
    both = left.merge(got, on=["customer_id", "cutoff"], how="outer", suffixes=("_pd", "_sp"))
    bad: dict[str, int] = {}
    for col in outputs:
        a, b = both[f"{col}_pd"], both[f"{col}_sp"]
        if a.dtype.kind in "fiu" and b.dtype.kind in "fiu":
            a, b = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
            same = np.isclose(a, b, rtol=RTOL, atol=0.0) | (np.isnan(a) & np.isnan(b))
        else:
            same = ((a.astype(object) == b.astype(object)) | (a.isna() & b.isna())).to_numpy()
        if not same.all():
            bad[col] = int((~same).sum())
    probs = got["probability"] if "probability" in got else got[outputs[0]]
    return {
        "model_uri": uri,
        "model_fit": model_info,
        "rows": int(n_rows),
        "outputs": outputs,
        "spark": {
            "seconds": round(setup_s + runs[0], 2),
            "setup_seconds": round(setup_s, 2),
            "run_seconds": [round(r, 2) for r in runs],
            "rows_per_second": round(n_rows / (setup_s + runs[0])) if n_rows else None,
            "warm_seconds": round(min(runs[1:]), 2) if len(runs) > 1 else None,
            "warm_rows_per_second": round(n_rows / min(runs[1:])) if len(runs) > 1 else None,
            "partitions": n_parts,
            "arrow_max_records_per_batch": arrow_batch,
            "python_eval_nodes_in_plan": python_nodes,
            "rows_written": len(got),
            "null_outputs": int(probs.isna().sum()),
        },
        "pandas": {
            "seconds": round(pandas_s, 2),
            "rows_per_second": round(len(rows) / pandas_s) if len(rows) and pandas_s else None,
            "chunk_rows": 50_000,
            "rows": len(rows),
        },
        "compared_rows": len(both),
        "equal": not bad and len(both) == len(rows) == len(got),
        "differing_outputs": bad,
    }


CHILDREN = {"generate": child_generate, "build": child_build, "score": child_score}


def child_main(kind: str, spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    result = CHILDREN[kind](spec)
    Path(spec["result"]).write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0


# --- comparing the two tables ------------------------------------------------------------


def _row_groups_by_cutoff(pf) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for i in range(pf.num_row_groups):
        for c in pf.read_row_group(i, columns=["cutoff"]).column(0).unique().to_pylist():
            out.setdefault(str(c), []).append(i)
    return out


def _read(pf, groups: list[int], columns: list[str]):
    import pyarrow as pa

    return pa.concat_tables([pf.read_row_group(i, columns=columns) for i in groups]).to_pandas()


def compare_tables(a_path: Path, b_path: Path, rtol: float = RTOL) -> dict[str, Any]:
    """The rule of ``tests/features/golden.py`` (``assert_same_table``), a cutoff and
    ``COLUMN_BATCH`` columns at a time: same columns in the same order, same rows (keys in
    the same order), numeric columns (of ``a``) to ``rtol`` relative, others exactly,
    nulls in the same places. ``a`` is DuckDB's table, ``b`` Spark's."""
    import numpy as np
    import pyarrow.parquet as pq

    pa_, pb_ = pq.ParquetFile(a_path), pq.ParquetFile(b_path)
    cols_a, cols_b = pa_.schema_arrow.names, pb_.schema_arrow.names
    result: dict[str, Any] = {
        "rows": {"duckdb": pa_.metadata.num_rows, "spark": pb_.metadata.num_rows},
        "same_columns": cols_a == cols_b,
        "columns_only_duckdb": [c for c in cols_a if c not in cols_b],
        "columns_only_spark": [c for c in cols_b if c not in cols_a],
        "type_differences": {
            c: [str(pa_.schema_arrow.field(c).type), str(pb_.schema_arrow.field(c).type)]
            for c in cols_a
            if c in cols_b and pa_.schema_arrow.field(c).type != pb_.schema_arrow.field(c).type
        },
    }
    by_a, by_b = _row_groups_by_cutoff(pa_), _row_groups_by_cutoff(pb_)
    result["cutoffs_only_duckdb"] = sorted(set(by_a) - set(by_b))
    result["cutoffs_only_spark"] = sorted(set(by_b) - set(by_a))
    common = [c for c in cols_a if c in cols_b]
    value_cols = [c for c in common if c not in ("customer_id", "cutoff")]
    bad: dict[str, int] = {}
    examples: list[dict[str, Any]] = []
    key_problems: list[str] = []
    for cutoff in sorted(set(by_a) & set(by_b)):
        ka = _read(pa_, by_a[cutoff], ["customer_id", "cutoff"])
        kb = _read(pb_, by_b[cutoff], ["customer_id", "cutoff"])
        if len(ka) != len(kb):
            key_problems.append(f"{cutoff}: {len(ka)} rows on duckdb, {len(kb)} on spark")
            continue
        if not (ka["customer_id"].to_numpy() == kb["customer_id"].to_numpy()).all():
            key_problems.append(f"{cutoff}: the customers (or their order) differ")
            continue
        ids = ka["customer_id"].to_numpy()
        for start in range(0, len(value_cols), COLUMN_BATCH):
            batch = value_cols[start : start + COLUMN_BATCH]
            fa, fb = _read(pa_, by_a[cutoff], batch), _read(pb_, by_b[cutoff], batch)
            for col in batch:
                a, b = fa[col], fb[col]
                try:
                    if a.dtype.kind in "fiu":
                        x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
                        same = np.isclose(x, y, rtol=rtol, atol=0.0) | (np.isnan(x) & np.isnan(y))
                    else:
                        same = ((a == b) | (a.isna() & b.isna())).to_numpy(dtype=bool)
                except (TypeError, ValueError):  # incomparable types: every row differs
                    same = np.zeros(len(a), dtype=bool)
                if same.all():
                    continue
                bad[col] = bad.get(col, 0) + int((~same).sum())
                for i in np.flatnonzero(~same)[: max(0, MAX_EXAMPLES - len(examples))]:
                    examples.append(
                        {
                            "cutoff": cutoff,
                            "customer_id": str(ids[i]),
                            "column": col,
                            "duckdb": _plain(a.iloc[i]),
                            "spark": _plain(b.iloc[i]),
                        }
                    )
    result.update(
        {
            "key_problems": key_problems,
            "differing_columns": bad,
            "first_differences": examples,
        }
    )
    result["equal"] = bool(
        result["same_columns"]
        and result["rows"]["duckdb"] == result["rows"]["spark"]
        and not result["cutoffs_only_duckdb"]
        and not result["cutoffs_only_spark"]
        and not key_problems
        and not bad
    )
    return result


def _plain(v: Any) -> Any:
    """A JSON-ready scalar."""
    if v is None:
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v if isinstance(v, int | float | str | bool) else str(v)


# --- the run -----------------------------------------------------------------------------


def peak(m: Measured) -> dict[str, Any]:
    """The peaks of a sampled child run."""
    s = m.samples
    return {
        "peak_tree_rss_gb": round(max((x.rss for x in s), default=0) / GB, 3),
        "peak_tree_pss_gb": round(max((x.pss for x in s), default=0) / GB, 3),
        "peak_largest_process_gb": round(max((x.max_process_rss for x in s), default=0) / GB, 3),
        # the kernel's figure (wait4): the child and the descendants it reaped, so not
        # the Spark JVM (pyspark does not reap it)
        "kernel_peak_rss_child_gb": round(m.max_process_peak_rss / GB, 3),
        "max_processes": max((x.processes for x in s), default=0),
        "peak_scratch_gb": round(
            max((sum(v for k, v in x.dirs.items() if k != "output") for x in s), default=0) / GB,
            3,
        ),
    }


class ChildFailed(RuntimeError):
    """A child process that did not finish: why, its run and the tail of its log."""

    def __init__(self, name: str, why: str, measured: Measured, tail: str):
        super().__init__(f"{name} failed ({why}) after {measured.seconds:.0f} s:\n{tail}")
        self.why, self.measured, self.tail = why, measured, tail

    def record(self) -> dict[str, Any]:
        return {
            "failed": self.why,
            "log_tail": self.tail,
            "wall_seconds": round(self.measured.seconds, 2),
            **peak(self.measured),
        }


def run_child(
    console: Console, kind: str, spec: dict[str, Any], work: Path, name: str, timeout: float | None
) -> tuple[dict[str, Any], Measured]:
    """Run one child (``kind``) in its own session with sampling; its result and run."""
    spec_path = work / f"{name}.spec.json"
    spec["result"] = str(work / f"{name}.result.json")
    spec_path.write_text(json.dumps(spec, indent=2))
    log = work / f"{name}.log"
    dirs = {k: v for k, v in spec.get("watch", {}).items() if v}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, str(spec_path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    console.print(f"[bold]{name}[/]: running (log {log.relative_to(ROOT)})")
    m = run_sampled(cmd, log, dirs, env=env, timeout=timeout)
    if m.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        why = "timed out" if m.timed_out else f"exit code {m.returncode}"
        console.print(f"[red]{name} failed[/] ({why}) after {m.seconds:.0f} s:\n{tail}")
        raise ChildFailed(name, why, m, tail)
    result = json.loads(Path(spec["result"]).read_text())
    console.print(f"[bold]{name}[/]: done in {m.seconds:.1f} s")
    return result, m


def world_for(
    console: Console, n: int, overrides: list[str], work: Path, timeout: float | None
) -> tuple[Path, dict[str, Any]]:
    """``.cache/engines/<n>``: reused when its generator config is the requested one."""
    from omegaconf import OmegaConf

    from socialcrm.config import compose

    base = ["data=synthetic_large", f"data.generator.n_customers={n}"]
    cfg = compose([*base, *overrides])
    generator = {
        "generator": OmegaConf.to_container(cfg.data.generator, resolve=True),
        "salt_set": cfg.data.salt is not None,
    }
    folder = CACHE / str(n)
    marker = folder / "engines_world.json"
    if (folder / "customers.parquet").is_file() and marker.is_file():
        if json.loads(marker.read_text()) == generator:
            console.print(f"world: reusing {folder.relative_to(ROOT)}")
            return folder, {"generated": False}
        console.print(f"world: {folder.relative_to(ROOT)} has another generator config: rebuilding")
    spec = {"overrides": [*base, *overrides], "world": str(folder), "generator": generator}
    result, m = run_child(console, "generate", spec, work, "generate", timeout)
    return folder, {"generated": True, "seconds": round(m.seconds, 1), "rows": result["rows"]}


def _ratio_value(a: Any, b: Any) -> float | None:
    """``b / a`` to two decimals; None when either is missing or ``a`` is not positive."""
    try:
        return round(float(b) / float(a), 2) if float(a) > 0 else None
    except (TypeError, ValueError):
        return None


def _ratio(a: Any, b: Any) -> str:
    r = _ratio_value(a, b)
    return "" if r is None else f"{r:.2f}"


def report(console: Console, label: str, builds: dict, compare: dict | None, scoring: dict | None):
    """The side-by-side table, the equality verdict and the scoring throughput."""
    engines = list(builds)
    table = Table(title=f"feature build, {label}: {' vs '.join(engines)}")
    table.add_column("measure")
    for e in engines:
        table.add_column(e, justify="right")
    both = len(engines) == 2
    if both:
        table.add_column(f"{engines[1]}/{engines[0]}", justify="right")

    def row(name: str, values: list[Any], fmt: str = "{:.1f}") -> None:
        cells = ["" if v is None else fmt.format(v) for v in values]
        table.add_row(name, *cells, *([_ratio(values[0], values[1])] if both else []))

    b = [builds[e] for e in engines]
    if any("failed" in x for x in b):
        table.add_row("status", *[x.get("failed", "ok") for x in b], *([""] if both else []))
    row("wall s (child process)", [x["wall_seconds"] for x in b])
    row("  open backend s", [x.get("open_backend_seconds") for x in b], "{:.2f}")
    row("  register tables s", [x.get("register_seconds") for x in b], "{:.2f}")
    row("  build_features s", [x.get("build_seconds") for x in b])
    stages = list(dict.fromkeys(s for x in b for s in x.get("timings", {})))
    for s in stages:
        row(f"    {s} s", [x.get("timings", {}).get(s, {}).get("seconds") for x in b], "{:.2f}")
    row("peak GB (tree RSS)", [x["peak_tree_rss_gb"] for x in b], "{:.2f}")
    row("peak GB (tree PSS)", [x["peak_tree_pss_gb"] for x in b], "{:.2f}")
    row("peak GB (largest process)", [x["peak_largest_process_gb"] for x in b], "{:.2f}")
    row("peak scratch disk GB", [x["peak_scratch_gb"] for x in b], "{:.2f}")
    row("rows", [x.get("rows") for x in b], "{:,}")
    rate = [x["rows"] / x["build_seconds"] if x.get("build_seconds") else None for x in b]
    row("rows / s (build)", rate, "{:,.0f}")
    row("table MB (parquet)", [x.get("file_mb") for x in b])
    console.print(table)
    if compare is not None:
        if compare["equal"]:
            console.print(
                f"[green]tables equal[/] ({compare['rows']['duckdb']:,} rows; counts exact, "
                f"floats {RTOL:g} relative)"
            )
        else:
            console.print(f"[red]tables differ[/]: {json.dumps(_verdict(compare))}")
    if scoring is not None and "failed" in scoring:
        console.print(f"[red]scoring failed[/] ({scoring['failed']})")
    elif scoring is not None:
        st = Table(
            title=f"scoring the test cutoff's {scoring['rows']:,} rows ({scoring['model_uri']})"
        )
        for col in ("way", "seconds", "rows/s", "note"):
            st.add_column(col, justify="left" if col in ("way", "note") else "right")
        sp, pd_ = scoring["spark"], scoring["pandas"]
        st.add_row(
            "score_spark (spark_udf), cold",
            f"{sp['seconds']:.2f}",
            f"{sp['rows_per_second'] or 0:,}",
            f"setup {sp['setup_seconds']:.2f} s + first run {sp['run_seconds'][0]:.2f} s "
            f"(workers start, model loads), {sp['partitions']} partitions",
        )
        if sp["warm_seconds"] is not None:
            st.add_row(
                "score_spark (spark_udf), warm",
                f"{sp['warm_seconds']:.2f}",
                f"{sp['warm_rows_per_second'] or 0:,}",
                f"best of {len(sp['run_seconds']) - 1} rerun(s) of the same action",
            )
        st.add_row(
            "pandas (predict_outputs)",
            f"{pd_['seconds']:.2f}",
            f"{pd_['rows_per_second'] or 0:,}",
            f"chunks of {pd_['chunk_rows']:,}",
        )
        console.print(st)
        verdict = "[green]equal[/]" if scoring["equal"] else "[red]differ[/]"
        console.print(
            f"spark vs pandas outputs on all {scoring['compared_rows']:,} rows: {verdict}"
            + ("" if scoring["equal"] else f" {scoring['differing_outputs']}")
        )


def _verdict(compare: dict) -> dict:
    keys = (
        "rows", "same_columns", "columns_only_duckdb", "columns_only_spark",
        "cutoffs_only_duckdb", "cutoffs_only_spark", "key_problems", "differing_columns",
    )  # fmt: skip
    return {k: compare[k] for k in keys if compare[k]} | {"first": compare["first_differences"][:3]}


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    overrides: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, overrides = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--world", type=Path, help="folder of canonical parquet tables")
    src.add_argument("--customers", type=int, help="generate (or reuse) a synthetic world")
    p.add_argument("--label", help="result name: features_engines_<label>.json")
    p.add_argument("--spark-driver-memory", help="features.spark.driver_memory (e.g. 8g)")
    p.add_argument("--train-rows", type=int, default=50_000, help="training rows for the model")
    p.add_argument("--valid-rows", type=int, default=50_000, help="validation rows (calibration)")
    p.add_argument("--score-partitions", type=int, default=0, help="0: 2 x Spark's cores")
    p.add_argument("--score-repeats", type=int, default=2, help="Spark runs: 1 cold, then warm")
    p.add_argument("--no-scoring", action="store_true", help="skip the scoring comparison")
    p.add_argument("--timeout", type=float, default=None, help="seconds per child process")
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    return p.parse_args(argv), overrides


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        return child_main(argv[1], argv[2])
    args, user_overrides = parse(argv)
    console = Console(width=None if sys.stdout.isatty() else 140)
    if args.customers is not None:
        label = args.label or size_label(args.customers)
    else:
        label = args.label or args.world.resolve().name
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"run-{label}-", dir=CACHE))
    t_start = time.perf_counter()
    try:
        return _run(console, args, user_overrides, label, work, argv, t_start)
    finally:
        if args.keep:
            console.print(f"work folder kept: {work.relative_to(ROOT)}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _run(console, args, user_overrides, label, work: Path, argv, t_start) -> int:
    if args.customers is not None:
        world, world_info = world_for(console, args.customers, user_overrides, work, args.timeout)
        base = ["data=synthetic_large", f"data.generator.n_customers={args.customers}"]
    else:
        world, world_info = args.world.resolve(), {"generated": False}
        if not (world / "customers.parquet").is_file():
            console.print(f"[red]{world} holds no customers.parquet[/]")
            return 2
        base = []
    # each engine's scratch folder in the work folder (sampled, removed afterwards); the
    # command line's overrides come after these and win
    scratch = {"duckdb": work / "duckdb_temp", "spark": work / "spark_local"}
    overrides = [
        *base,
        f"features.duckdb.temp_dir={scratch['duckdb']}",
        f"features.spark.local_dir={scratch['spark']}",
        *user_overrides,
    ]
    if args.spark_driver_memory:
        overrides.append(f"features.spark.driver_memory={args.spark_driver_memory}")
    from socialcrm.config import compose

    cfg = compose(overrides)  # fails here, not in a child, on a bad override
    watch = {
        "duckdb_temp": str(cfg.features.duckdb.temp_dir),
        "spark_local": str(cfg.features.spark.local_dir),
    }
    console.print(f"world: {world} ; features: {list(cfg.features.groups)}")

    builds: dict[str, dict[str, Any]] = {}
    tables: dict[str, Path] = {}
    for engine in ENGINES:
        tables[engine] = work / engine / FEATURES_FILE
        spec = {
            "overrides": [*overrides, f"features.engine={engine}"],
            "world": str(world),
            "output": str(tables[engine]),
            "manifest": str(work / f"{engine}.manifest.json"),
            "watch": {**watch, "output": str(work / engine)},
        }
        try:
            result, m = run_child(console, "build", spec, work, f"build-{engine}", args.timeout)
            builds[engine] = {**result, "wall_seconds": round(m.seconds, 2), **peak(m)}
        except ChildFailed as err:  # recorded; the other engine still runs
            builds[engine] = err.record()
    built = not any("failed" in b for b in builds.values())

    compare = None
    if built:
        console.print("comparing the two tables ...")
        t0 = time.perf_counter()
        compare = compare_tables(tables["duckdb"], tables["spark"])
        manifests = [json.loads((work / f"{e}.manifest.json").read_text()) for e in ENGINES]
        compare["same_manifest"] = manifests[0] == manifests[1]
        compare["equal"] = compare["equal"] and compare["same_manifest"]
        compare["seconds"] = round(time.perf_counter() - t0, 1)

    scoring = None
    if built and not args.no_scoring:
        spec = {
            "overrides": [*overrides, "features.engine=spark"],
            "work": str(work),
            "manifest": str(work / "duckdb.manifest.json"),
            "duckdb_table": str(tables["duckdb"]),
            "spark_table": str(tables["spark"]),
            "train_rows": args.train_rows,
            "valid_rows": args.valid_rows,
            "score_partitions": args.score_partitions,
            "score_repeats": args.score_repeats,
            "watch": watch,
        }
        try:
            scoring, m = run_child(console, "score", spec, work, "score", args.timeout)
            scoring["process"] = {"wall_seconds": round(m.seconds, 2), **peak(m)}
        except ChildFailed as err:
            scoring = err.record()

    report(console, label, builds, compare, scoring)
    d, s = builds["duckdb"], builds["spark"]
    ratios = {
        "wall": _ratio_value(d["wall_seconds"], s["wall_seconds"]),
        "build": _ratio_value(d.get("build_seconds"), s.get("build_seconds")),
        "peak_tree_rss": _ratio_value(d["peak_tree_rss_gb"], s["peak_tree_rss_gb"]),
        "stages": {
            k: _ratio_value(d["timings"][k]["seconds"], s["timings"][k]["seconds"])
            for k in d.get("timings", {})
            if k in s.get("timings", {})
        },
    }
    out = save_result(
        f"features_engines_{label}",
        {
            "benchmark": "features_engines",
            "command": shlex.join([".venv/bin/python", "benchmarks/features_engines.py", *argv]),
            "label": label,
            "world": str(world.relative_to(ROOT) if world.is_relative_to(ROOT) else world),
            "world_info": world_info,
            "overrides": overrides,
            "niceness": os.nice(0),
            "engines": builds,
            "spark_over_duckdb": ratios,
            "tables_equal": None if compare is None else compare["equal"],
            "comparison": compare,
            "scoring": scoring,
            "total_seconds": round(time.perf_counter() - t_start, 1),
        },
    )
    console.print(f"written to {out.relative_to(ROOT)}")
    ok = bool(compare and compare["equal"]) and (scoring is None or bool(scoring.get("equal")))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

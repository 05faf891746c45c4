"""Benchmark: batch-scoring throughput and memory (issue 15, section 4).

Targets on 2 cores: 1M rows scored without reasons in at most 2 minutes, with three
reasons each way in at most 10 minutes; memory bounded by the chunk size.

What is timed is the scoring path of ``socialcrm score`` only
(:func:`socialcrm.scoring.run.write_scores`: the feature-rows hash, the customer-key
hashes, the chunked pyfunc predict, the task's decision over the batch, the atomic
Parquet write), on the repo store's churn model (``@champion``, else
``@challenger``; trained with ``socialcrm train`` if there is neither). Building the
features is not timed: a 1M-customer feature table cannot be built today, so the
default world's test-cutoff feature rows are **replicated** to the row count (every
copy with its own customer id): the rows are copies, not distinct customers.

Each measurement runs in a fresh process; peak memory is the process's resident
memory sampled every 20 ms while it scores (and the growth over what it held before:
the frame and the model). With reasons, a 100k-row subset is measured first; the 1M
run follows only if the subset extrapolates to at most 10 minutes (else the
extrapolation is reported as such), unless ``--full-reasons`` forces it.

    .venv/bin/python benchmarks/score_throughput.py
    .venv/bin/python benchmarks/score_throughput.py --full-reasons
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _child import ROOT, print_targets, save_result
from rich.console import Console
from rich.table import Table

TARGET_PLAIN_S = 120.0
TARGET_REASONS_S = 600.0
MILLION = 1_000_000
SUBSET = 100_000


def _rss_gb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) * 1024 / 1e9
    return 0.0


class _PeakRss(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = _rss_gb()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, _rss_gb())
            time.sleep(0.02)


def worker(rows: int, chunk_rows: int, top: int, model_uri: str) -> dict:
    """Score ``rows`` replicated test-cutoff rows in this process; return the figures."""
    import numpy as np
    import pandas as pd

    from socialcrm.config import compose
    from socialcrm.data.privacy import resolve_salt
    from socialcrm.runner import build_task, feature_table_path
    from socialcrm.scoring.batch import month_start_after
    from socialcrm.scoring.run import load_model, resolve_model, write_scores
    from socialcrm.tracking import configure

    cfg = compose([])
    configure(cfg.tracking)
    ref = resolve_model(model_uri, "churn", {"data": cfg.data.name, "features": cfg.features.name})
    model = load_model(ref)
    table = pd.read_parquet(feature_table_path(cfg))
    test = table[table["split"] == "test"].reset_index(drop=True)
    del table
    if rows <= len(test):
        frame = test.iloc[:rows].reset_index(drop=True)
    else:
        copies = -(-rows // len(test))
        frame = test.iloc[np.resize(np.arange(len(test)), rows)].reset_index(drop=True)
        copy = np.repeat(np.arange(copies), len(test))[:rows]
        frame["customer_id"] = frame["customer_id"].astype(str) + "#" + copy.astype(str)
    del test
    as_of = month_start_after(frame["cutoff"].max())
    task = build_task(cfg)
    salt = resolve_salt(cfg.data.get("salt"))
    before = _rss_gb()
    sampler = _PeakRss()
    sampler.start()
    with tempfile.TemporaryDirectory(prefix="score-bench-") as tmp:
        out = Path(tmp) / "churn.parquet"
        scored = write_scores(
            frame, model, task, {}, out, ref, as_of, chunk_rows, top, "hash", salt
        )
        size_mb = out.stat().st_size / 1e6
    sampler.stop.set()
    sampler.join()
    return {
        "rows": scored.rows,
        "chunk_rows": chunk_rows,
        "top_reasons": top,
        "seconds": round(scored.seconds, 1),
        "rows_per_second": round(scored.rows_per_second),
        "rss_before_scoring_gb": round(before, 3),
        "peak_rss_gb": round(sampler.peak, 3),
        "scoring_rss_growth_gb": round(sampler.peak - before, 3),
        "file_mb": round(size_mb, 1),
        "model": ref.label,
    }


def _run(console: Console, rows: int, chunk: int, top: int, model_uri: str) -> dict:
    console.print(f"scoring {rows:,} rows, chunks of {chunk:,}, {top} reasons each way ...")
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", str(rows), str(chunk), str(top), model_uri],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"worker failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    console.print(f"  {result['seconds']} s, {result['rows_per_second']:,} rows/s")
    return result


def _churn_model(console: Console) -> str:
    """The repo store's churn champion, else its challenger (trained if absent)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from socialcrm.config import compose
    from socialcrm.tracking import configure

    configure(compose([]).tracking)
    client = mlflow.MlflowClient()
    for alias in ("champion", "challenger"):
        try:
            client.get_model_version_by_alias("socialcrm-churn", alias)
            return f"models:/socialcrm-churn@{alias}"
        except MlflowException:
            continue
    console.print("no churn model in the repo store: training one (socialcrm train)")
    subprocess.run([sys.executable, "-m", "socialcrm.cli", "train"], cwd=ROOT, check=True)
    return "models:/socialcrm-churn@challenger"


def main(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        rows, chunk, top = (int(a) for a in argv[1:4])
        print(json.dumps(worker(rows, chunk, top, argv[4])))
        return 0
    console = Console(width=None if sys.stdout.isatty() else 140)
    model_uri = _churn_model(console)
    runs: dict[str, dict] = {}
    n_test = _test_rows()  # the default world's test cutoff, as it is
    runs["default world, no reasons"] = _run(console, n_test, 50_000, 0, model_uri)
    runs["default world, 3 reasons"] = _run(console, n_test, 50_000, 3, model_uri)
    runs["1M, no reasons, chunk 50k"] = _run(console, MILLION, 50_000, 0, model_uri)
    runs["1M, no reasons, chunk 200k"] = _run(console, MILLION, 200_000, 0, model_uri)
    runs["100k, 3 reasons, chunk 10k"] = _run(console, SUBSET, 10_000, 3, model_uri)
    runs["100k, 3 reasons, chunk 50k"] = _run(console, SUBSET, 50_000, 3, model_uri)
    subset = runs["100k, 3 reasons, chunk 50k"]
    extrapolated = subset["seconds"] * MILLION / subset["rows"]
    full = "--full-reasons" in argv or extrapolated <= TARGET_REASONS_S
    if full:
        runs["1M, 3 reasons, chunk 50k"] = _run(console, MILLION, 50_000, 3, model_uri)
        reasons_s, how = runs["1M, 3 reasons, chunk 50k"]["seconds"], "measured"
    else:
        reasons_s, how = extrapolated, "extrapolated from the 100k subset (not run)"
    plain_s = runs["1M, no reasons, chunk 50k"]["seconds"]
    note = (
        "1M rows are the default world's test-cutoff feature rows replicated (each copy "
        "with its own customer id), not distinct customers; timed: write_scores (hashes, "
        "chunked pyfunc predict, decision, atomic Parquet write), not the features"
    )
    out = save_result(
        "score_throughput",
        {
            "benchmark": "score_throughput",
            "command": " ".join(["benchmarks/score_throughput.py", *argv]),
            "model": runs["1M, no reasons, chunk 50k"]["model"],
            "note": note,
            "runs": runs,
            "million_no_reasons_seconds": plain_s,
            "million_3_reasons_seconds": round(reasons_s, 1),
            "million_3_reasons": how,
            "target_no_reasons_seconds": TARGET_PLAIN_S,
            "target_3_reasons_seconds": TARGET_REASONS_S,
        },
    )
    table = Table(title="batch scoring (churn), write_scores only")
    for col in ("run", "rows", "chunk", "reasons", "s", "rows/s", "RSS before", "peak", "growth"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for name, r in runs.items():
        table.add_row(
            name,
            f"{r['rows']:,}",
            f"{r['chunk_rows']:,}",
            str(r["top_reasons"]),
            f"{r['seconds']:.1f}",
            f"{r['rows_per_second']:,}",
            f"{r['rss_before_scoring_gb']:.2f} GB",
            f"{r['peak_rss_gb']:.2f} GB",
            f"{r['scoring_rss_growth_gb']:.2f} GB",
        )
    console.print(table)
    print_targets(
        console,
        "targets (2 cores)",
        [
            (
                "1M rows, no reasons",
                f"{plain_s:.0f} s",
                f"<= {TARGET_PLAIN_S:.0f} s",
                plain_s <= TARGET_PLAIN_S,
            ),
            (
                f"1M rows, 3 reasons each way ({how})",
                f"{reasons_s:.0f} s",
                f"<= {TARGET_REASONS_S:.0f} s",
                reasons_s <= TARGET_REASONS_S,
            ),
        ],
    )
    console.print(note)
    console.print(f"written to {out.relative_to(ROOT)}")
    return 0


def _test_rows() -> int:
    import pyarrow.parquet as pq

    from socialcrm.config import compose
    from socialcrm.runner import feature_table_path

    split = pq.read_table(feature_table_path(compose([])), columns=["split"]).column("split")
    return int(sum(1 for s in split.to_pylist() if s == "test"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

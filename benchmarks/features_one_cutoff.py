"""Benchmark: build the full feature table (all groups + labels) for one cutoff.

Issue targets on 2 cores: the default data set in at most 30 s; the 1M-customer
preset in at most 10 minutes with peak memory at most 12 GB. Reports wall time
and peak resident memory per feature group (RSS sampled every 20 ms while the
group runs) and writes ``benchmarks/results/features_<data>.json``.

    .venv/bin/python benchmarks/features_one_cutoff.py                       # data=synthetic
    .venv/bin/python benchmarks/features_one_cutoff.py data=synthetic_large  # 1M customers

The data set must be generated and ingested first (``socialcrm run`` does both for
the default; for the large preset the script runs ``socialcrm generate`` and
``socialcrm ingest`` if ``data/interim/synthetic_large`` is missing). Each build
runs in a fresh process so that its memory is measured alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from _child import ROOT, save_result

from socialcrm.redact import redact_override

TARGETS = {"synthetic": (30.0, None), "synthetic_large": (600.0, 12.0)}


def _rss_gb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) * 1024 / 1e9
    return 0.0


class _Sampler(threading.Thread):
    """Samples resident memory and attributes each sample to the running stage."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stage = "setup"
        self.peaks: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            r = _rss_gb()
            self.peaks[self.stage] = max(self.peaks.get(self.stage, 0.0), r)
            time.sleep(0.02)


def worker(overrides: list[str]) -> dict:
    """Build one cutoff in this process and return the measurements."""
    from socialcrm.config import compose
    from socialcrm.features.build import build_features, choose_cutoffs
    from socialcrm.features.config import feature_config
    from socialcrm.features.engine import connect, register_folder
    from socialcrm.listening import build_scorer_fn

    sampler = _Sampler()
    sampler.start()
    t_all = time.perf_counter()
    cfg = compose(overrides)
    fcfg = feature_config(cfg.features)
    d = fcfg.duckdb
    con = connect(d.threads, d.memory_limit, d.temp_dir)
    register_folder(con, cfg.data.interim_dir)
    cutoff = choose_cutoffs(con, fcfg)[-1]
    starts: dict[str, float] = {}

    def on_stage(name: str) -> None:
        sampler.stage = name
        starts[name] = time.perf_counter()

    ft = build_features(
        con,
        fcfg,
        list(cfg.data.platforms),
        build_scorer_fn(cfg.listening),
        cutoffs=[cutoff],
        on_stage=on_stage,
    )
    total = time.perf_counter() - t_all
    sampler.stop.set()
    sampler.join()
    groups = {
        name: {"seconds": t["seconds"], "peak_rss_gb": round(sampler.peaks.get(name, 0.0), 3)}
        for name, t in ft.timings.items()
    }
    import resource

    # the listening stage scores posts in worker processes: report their peak too
    children_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9
    return {
        "data": cfg.data.name,
        "peak_rss_worker_processes_gb": round(children_gb, 3),
        "cutoff": cutoff.isoformat(),
        "rows": len(ft.frame),
        "features": len(ft.feature_names),
        "total_seconds": round(total, 1),
        "peak_rss_gb": round(max(sampler.peaks.values()), 3),
        "groups": groups,
    }


def _ensure_ingested(overrides: list[str]) -> None:
    from socialcrm.config import compose

    cfg = compose(overrides)
    if (Path(cfg.data.interim_dir) / "_manifest.json").is_file():
        return
    cli = [sys.executable, "-m", "socialcrm.cli"]
    if not (Path(cfg.data.raw_dir) / "_manifest.json").is_file():
        subprocess.run([*cli, "generate", *overrides], cwd=ROOT, check=True)
    subprocess.run([*cli, "ingest", *overrides], cwd=ROOT, check=True)


def main(argv: list[str]) -> int:
    from rich.console import Console
    from rich.table import Table

    if argv[:1] == ["--worker"]:
        print(json.dumps(worker(argv[1:])))
        return 0
    overrides = argv or ["data=synthetic"]
    _ensure_ingested(overrides)
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", *overrides],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    name = result["data"]
    max_s, max_gb = TARGETS.get(name, (None, None))
    result.update(
        command=" ".join(
            ["benchmarks/features_one_cutoff.py", *(redact_override(o) for o in overrides)]
        ),
        target_seconds=max_s,
        target_peak_gb=max_gb,
    )
    out = save_result(f"features_{name}", result)

    console = Console()
    table = Table(
        title=f"features for one cutoff ({result['cutoff'][:10]}) of {name}: "
        f"{result['rows']:,} customers x {result['features']} features"
    )
    for col in ("stage", "seconds", "peak RSS (GB)"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for stage, m in result["groups"].items():
        table.add_row(stage, f"{m['seconds']:.1f}", f"{m['peak_rss_gb']:.2f}")
    table.add_row(
        "total (incl. setup)", f"{result['total_seconds']:.1f}", f"{result['peak_rss_gb']:.2f}"
    )
    console.print(table)
    workers = result["peak_rss_worker_processes_gb"]
    console.print(
        f"largest scoring worker process: {workers:.2f} GB peak RSS (shares the parent's pages)"
    )
    ok = True
    if max_s is not None:
        met = result["total_seconds"] <= max_s
        ok &= met
        verdict = "met" if met else "NOT met"
        console.print(
            f"wall time {result['total_seconds']:.1f} s (target <= {max_s:.0f} s): {verdict}"
        )
    if max_gb is not None:
        met = result["peak_rss_gb"] <= max_gb
        ok &= met
        verdict = "met" if met else "NOT met"
        peak = result["peak_rss_gb"]
        console.print(f"peak memory {peak:.2f} GB (target <= {max_gb:.0f} GB): {verdict}")
    console.print(f"written to {out.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

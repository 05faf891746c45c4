"""Benchmark: the main job (``make run``) on the default data set, from a warm environment
(issue target: <= 5 minutes on 2 cores).

Runs ``socialcrm run`` in a child process (generate, validate and ingest, features,
insight report, churn training with SHAP, MLflow logging and registration), measures
wall time and the child's peak resident memory, and writes the figures to
``benchmarks/results/main_job.json``.

    .venv/bin/python benchmarks/main_job.py
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 300.0


def main() -> int:
    cmd = [sys.executable, "-m", "socialcrm.cli", "run", *sys.argv[1:]]
    console = Console()
    console.print(f"running: {' '.join(cmd[1:])}")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, check=False, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        console.print(proc.stdout[-3000:], proc.stderr[-3000:])
        console.print(f"[red]the main job failed with exit code {proc.returncode}")
        return proc.returncode
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9
    result = {
        "benchmark": "main_job",
        "command": " ".join(["socialcrm", "run", *sys.argv[1:]]),
        "wall_seconds": round(seconds, 1),
        "peak_rss_gb": round(peak_gb, 2),
        "target_seconds": TARGET_SECONDS,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out = ROOT / "benchmarks" / "results" / "main_job.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    table = Table(title=f"main job (make run), {os.cpu_count()} cores, warm environment")
    for col in ("measure", "measured", "target", "met"):
        table.add_column(col)
    ok = seconds <= TARGET_SECONDS
    table.add_row(
        "wall time", f"{seconds:.1f} s", f"<= {TARGET_SECONDS:.0f} s", "yes" if ok else "NO"
    )
    table.add_row("peak memory", f"{peak_gb:.2f} GB", "", "")
    console.print(table)
    console.print(f"written to {out.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

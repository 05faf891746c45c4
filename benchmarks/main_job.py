"""Benchmark: the main job (``make run``) on the default data set, from a warm environment
(issue target: <= 5 minutes on 2 cores).

Runs ``socialcrm run`` in a child process in a new temporary project root (so nothing
is reused: generate, validate and ingest, features, insight report, CLV then churn
training with SHAP, MLflow logging and registration, all from scratch), measures
wall time and the child's peak resident memory, and writes the figures to
``benchmarks/results/main_job.json``.

    .venv/bin/python benchmarks/main_job.py
"""

from __future__ import annotations

import sys
import tempfile

from _child import ROOT, print_targets, save_result, time_child
from rich.console import Console

TARGET_SECONDS = 300.0


def main() -> int:
    console = Console()
    with tempfile.TemporaryDirectory(prefix="main_job-") as root:
        # a fresh root: the job skips a world or feature table that already matches
        cmd = [sys.executable, "-m", "socialcrm.cli", "run", f"paths.root_dir={root}"]
        cmd += sys.argv[1:]
        console.print(f"running: {' '.join(cmd[1:])}")
        proc, seconds, peak_gb = time_child(cmd, capture=True)
    if proc.returncode != 0:
        console.print(proc.stdout[-3000:], proc.stderr[-3000:])
        console.print(f"[red]the main job failed with exit code {proc.returncode}")
        return proc.returncode
    out = save_result(
        "main_job",
        {
            "benchmark": "main_job",
            "command": " ".join(["socialcrm", "run", *sys.argv[1:]]),
            "wall_seconds": round(seconds, 1),
            "peak_rss_gb": round(peak_gb, 2),
            "target_seconds": TARGET_SECONDS,
        },
    )
    ok = seconds <= TARGET_SECONDS
    print_targets(
        console,
        "main job (make run), warm environment",
        [
            ("wall time", f"{seconds:.1f} s", f"<= {TARGET_SECONDS:.0f} s", ok),
            ("peak memory", f"{peak_gb:.2f} GB", "", None),
        ],
    )
    console.print(f"written to {out.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: generate the 1M-customer preset (issue target: <= 5 min, <= 8 GB peak, 2 cores).

Runs ``socialcrm generate data=synthetic_large`` in a child process (the real
command a user runs), measures wall time and the child's peak resident memory,
and writes the figures to ``benchmarks/results/generate_large.json``.

    .venv/bin/python benchmarks/generate_large.py                # writes data/raw/synthetic_large
    .venv/bin/python benchmarks/generate_large.py --n 200000     # a quicker, smaller run
"""

from __future__ import annotations

import argparse
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
TARGET_PEAK_GB = 8.0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1_000_000, help="number of customers")
    parser.add_argument(
        "--out", type=Path, default=None, help="raw_dir to write (default: the preset's)"
    )
    args = parser.parse_args()

    overrides = ["data=synthetic_large", f"data.generator.n_customers={args.n}"]
    if args.out is not None:
        overrides.append(f"data.raw_dir={args.out}")
    cmd = [sys.executable, "-m", "socialcrm.cli", "generate", *overrides]
    console = Console()
    console.print(f"running: {' '.join(cmd[1:])}")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        console.print(f"[red]generate failed with exit code {proc.returncode}")
        return proc.returncode
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9

    result = {
        "benchmark": "generate_large",
        "command": " ".join(["socialcrm", "generate", *overrides]),
        "n_customers": args.n,
        "wall_seconds": round(seconds, 1),
        "peak_rss_gb": round(peak_gb, 2),
        "target_seconds": TARGET_SECONDS,
        "target_peak_gb": TARGET_PEAK_GB,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out = ROOT / "benchmarks" / "results" / "generate_large.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    table = Table(title=f"generator benchmark ({args.n:,} customers, {os.cpu_count()} cores)")
    for col in ("measure", "measured", "target", "met"):
        table.add_column(col)
    ok_t, ok_m = seconds <= TARGET_SECONDS, peak_gb <= TARGET_PEAK_GB
    table.add_row(
        "wall time", f"{seconds:.1f} s", f"<= {TARGET_SECONDS:.0f} s", "yes" if ok_t else "NO"
    )
    table.add_row(
        "peak memory", f"{peak_gb:.2f} GB", f"<= {TARGET_PEAK_GB:.0f} GB", "yes" if ok_m else "NO"
    )
    console.print(table)
    console.print(f"written to {out.relative_to(ROOT)}")
    return 0 if (ok_t and ok_m) else 1


if __name__ == "__main__":
    sys.exit(main())

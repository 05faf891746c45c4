"""Benchmark: generate the 1M-customer preset (issue target: <= 5 min, <= 8 GB peak, 2 cores).

Runs ``socialcrm generate data=synthetic_large`` in a child process (the real
command a user runs), measures wall time and the child's peak resident memory,
and writes the figures to ``benchmarks/results/generate_large.json``.

    .venv/bin/python benchmarks/generate_large.py                # writes data/raw/synthetic_large
    .venv/bin/python benchmarks/generate_large.py --n 200000     # a quicker, smaller run
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from _child import ROOT, print_targets, save_result, time_child
from rich.console import Console

from socialcrm.config import compose

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
    # generate skips a world that is already there: time a real generation
    target = args.out or compose(overrides).data.raw_dir
    if Path(target).exists():
        console.print(f"removing the previous world in {target}")
        shutil.rmtree(target)
    console.print(f"running: {' '.join(cmd[1:])}")
    proc, seconds, peak_gb = time_child(cmd)
    if proc.returncode != 0:
        console.print(f"[red]generate failed with exit code {proc.returncode}")
        return proc.returncode
    out = save_result(
        "generate_large",
        {
            "benchmark": "generate_large",
            "command": " ".join(["socialcrm", "generate", *overrides]),
            "n_customers": args.n,
            "wall_seconds": round(seconds, 1),
            "peak_rss_gb": round(peak_gb, 2),
            "target_seconds": TARGET_SECONDS,
            "target_peak_gb": TARGET_PEAK_GB,
        },
    )
    ok_t, ok_m = seconds <= TARGET_SECONDS, peak_gb <= TARGET_PEAK_GB
    print_targets(
        console,
        f"generator benchmark ({args.n:,} customers, {os.cpu_count()} cores)",
        [
            ("wall time", f"{seconds:.1f} s", f"<= {TARGET_SECONDS:.0f} s", ok_t),
            ("peak memory", f"{peak_gb:.2f} GB", f"<= {TARGET_PEAK_GB:.0f} GB", ok_m),
        ],
    )
    console.print(f"written to {out.relative_to(ROOT)}")
    return 0 if (ok_t and ok_m) else 1


if __name__ == "__main__":
    sys.exit(main())

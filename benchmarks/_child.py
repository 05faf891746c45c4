"""Shared by the benchmarks that time a real command in a child process."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from socialcrm.redact import redact, secret_values

ROOT = Path(__file__).resolve().parents[1]


def time_child(
    cmd: list[str], capture: bool = False
) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run ``cmd`` from the repo root; return the process, wall seconds and the peak
    resident memory (GB) of the largest child so far."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, check=False, capture_output=capture, text=capture)
    seconds = time.perf_counter() - t0
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9
    return proc, seconds, peak_gb


def save_result(name: str, result: dict) -> Path:
    """Add machine facts and write ``benchmarks/results/<name>.json`` (secrets that a
    command line or an environment variable carried are redacted)."""
    result = {
        **result,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    result = redact(result, values=secret_values({}))
    out = ROOT / "benchmarks" / "results" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return out


def print_targets(
    console: Console, title: str, rows: list[tuple[str, str, str, bool | None]]
) -> None:
    """A measure / measured / target / met table."""
    table = Table(title=title)
    for col in ("measure", "measured", "target", "met"):
        table.add_column(col)
    for measure, measured, target, ok in rows:
        table.add_row(measure, measured, target, "" if ok is None else "yes" if ok else "NO")
    console.print(table)

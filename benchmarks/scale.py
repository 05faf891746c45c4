"""Benchmark: the main job (``socialcrm run``) at 100k, 300k and 1M customers, per stage.

For each size, runs ``socialcrm run data=synthetic_large
data.generator.n_customers=<n> data.name=synthetic_<label> paths.root_dir=<root>``
in a child process (its own session) and, every 0.5 s, samples

- the resident memory of the child's whole process tree (the sum of VmRSS over the
  child and its descendants, from /proc; the sum of PSS alongside, which counts the
  pages a forked worker shares with its parent once),
- the disk space taken by the temporary folders: every ``temp_dir`` / ``local_dir``
  key of the composed ``features`` config (``features.engine.temp_dir`` today,
  ``features.duckdb.temp_dir`` after the rename, a Spark local dir if configured),
  ``$SPARK_LOCAL_DIRS``, and the child's ``$TMPDIR`` (set to ``<root>/.cache/tmp``).

The job writes a JSON line at the start and end of each stage (``$SOCIALCRM_STAGE_LOG``:
generate, ingest, features, report, train:<task>); each sample is attributed to the
stage running then. The feature build's own per-group timings (``build.json`` in
``features.output_dir``) go under the features stage. Writes
``benchmarks/results/scale_<n>.json`` per size and ``benchmarks/results/scale.json``
(every ``scale_<n>.json`` there, the growth exponents and the targets). A failed or
timed-out job is a result too: the stage it died in and the redacted tail of its
output are recorded, and the exit code is non-zero.

Targets (2 cores, 24 GB): at 1M, the feature build at every monthly cutoff in at most
600 s, 12 GB and 20 GB of temporary disk; the whole job in at most 1800 s and 16 GB;
from 100k to 1M, the growth exponent log(t_1M / t_100k) / log(10) at most 1.1 for the
features and for the whole job. Memory targets are judged on the summed RSS.

    .venv/bin/python benchmarks/scale.py                        # 100k, 300k, 1M (fresh roots)
    .venv/bin/python benchmarks/scale.py --sizes 100000 1000000
    .venv/bin/python benchmarks/scale.py --root /work/scale-root # keep worlds for reruns
    .venv/bin/python benchmarks/scale.py --extra features.engine=spark
    .venv/bin/python benchmarks/scale.py --sizes 2000           # a smoke run (minutes)

Each size runs in ``<base>/<label>`` (``<base>``: ``--root``, default
``.cache/scale/`` in the checkout). Without ``--root`` that folder is emptied before
the run (nothing is reused) and removed after it unless ``--keep``. With ``--root`` it
persists: the world is reused when it matches (``socialcrm run`` skips it), while the
feature table is removed before each run so that the features are built and measured
(``--reuse-features`` keeps it). The child's output goes to ``<base>/<label>.log``,
its stage markers to ``<base>/<label>.stages.jsonl`` and every sample to
``<base>/<label>.samples.csv``.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from _child import ROOT, Measured, Sample, print_targets, run_sampled, save_result
from omegaconf import OmegaConf
from rich.console import Console
from rich.table import Table

from socialcrm.cli import STAGE_LOG_ENV
from socialcrm.config import compose
from socialcrm.redact import config_secrets, redact_override, scrub, secret_values
from socialcrm.tracking.log import git_info

DEFAULT_SIZES = (100_000, 300_000, 1_000_000)
DEFAULT_BASE = ROOT / ".cache" / "scale"
RESULTS = ROOT / "benchmarks" / "results"
PRESET = "synthetic_large"
GB = 1e9
# feature-config keys naming a scratch folder (DuckDB's temp_dir, a Spark local dir)
TEMP_KEYS = ("temp_dir", "tmp_dir", "temp_directory", "local_dir", "local_dirs", "local.dir")
# the targets, at 1M customers
MILLION = 1_000_000
FEATURES_SECONDS, FEATURES_GB, FEATURES_TEMP_GB = 600.0, 12.0, 20.0
JOB_SECONDS, JOB_GB = 1800.0, 16.0
MAX_EXPONENT = 1.1
ERROR_TAIL_LINES = 60


def parse_size(text: str) -> int:
    """``100000``, ``100k``, ``1m``, ``1_000_000`` -> customers."""
    m = re.fullmatch(r"([\d_.]+)\s*([kKmM]?)", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    n = float(m[1].replace("_", "")) * {"": 1, "k": 1e3, "m": 1e6}[m[2].lower()]
    if n < 1 or n != int(n):
        raise argparse.ArgumentTypeError(f"not a whole number of customers: {text!r}")
    return int(n)


def size_label(n: int) -> str:
    """100000 -> 100k, 1000000 -> 1m, 2500 -> 2500 (folder and data set names)."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def temp_dirs(cfg, root: Path) -> dict[str, str]:
    """The scratch folders the job may fill: name (config key or variable) -> path."""
    found: dict[str, str] = {}

    def walk(node: Any, path: str) -> None:
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            sub = f"{path}.{key}"
            if str(key).endswith(TEMP_KEYS):
                parts = value if isinstance(value, list) else str(value or "").split(",")
                parts = [str(p).strip() for p in parts if str(p).strip()]
                for i, part in enumerate(parts):
                    found[sub if len(parts) == 1 else f"{sub}[{i}]"] = part
                if not parts and str(key) == "temp_dir":
                    # DuckDB's own default for an in-memory database: .tmp in the cwd
                    found[f"{sub} (unset: DuckDB's .tmp)"] = str(ROOT / ".tmp")
            else:
                walk(value, sub)

    walk(OmegaConf.to_container(cfg.features, resolve=True), "features")
    for i, part in enumerate(p for p in os.environ.get("SPARK_LOCAL_DIRS", "").split(",") if p):
        found[f"$SPARK_LOCAL_DIRS[{i}]"] = part
    found["$TMPDIR"] = str(child_tmpdir(root))
    # a folder named twice, or inside another watched one, would be counted twice
    paths = {k: Path(v).resolve() for k, v in found.items()}
    kept: dict[str, Path] = {}
    for key, path in paths.items():
        inside = any(path != q and path.is_relative_to(q) for q in paths.values())
        if not inside and path not in kept.values():
            kept[key] = path
    return {k: str(p) for k, p in kept.items()}


def child_tmpdir(root: Path) -> Path:
    """The job's ``$TMPDIR``: Python's temporary files (MLflow, SHAP, ...) land here."""
    return root / ".cache" / "tmp"


def read_markers(path: Path) -> list[dict]:
    """The stage markers the job wrote (a line cut short by a kill is skipped)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if isinstance(m, dict) and {"stage", "event", "t"} <= set(m):
            out.append(m)
    return out


def stage_windows(markers: list[dict]) -> dict[str, list[float | None]]:
    """Stage -> [start, end] (end None: the stage never finished), in start order."""
    windows: dict[str, list[float | None]] = {}
    for m in markers:
        window = windows.setdefault(m["stage"], [None, None])
        if m["event"] == "start" and window[0] is None:
            window[0] = float(m["t"])
        elif m["event"] == "end":
            window[1] = float(m["t"])
    return {k: w for k, w in windows.items() if w[0] is not None}


def _gb(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(x / GB, digits)


def summarize(samples: list[Sample], t0: float, t1: float) -> dict[str, Any]:
    """Peaks over the samples taken in [t0, t1]."""
    inside = [s for s in samples if t0 <= s.t <= t1]
    if not inside:
        return {"peak_rss_gb": None, "peak_pss_gb": None, "peak_temp_gb": None, "samples": 0}
    return {
        "peak_rss_gb": _gb(max(s.rss for s in inside)),
        "peak_pss_gb": _gb(max(s.pss for s in inside)),
        "peak_temp_gb": _gb(max(s.temp for s in inside), 3),
        "samples": len(inside),
    }


class MarkerPrinter:
    """Prints each new stage marker while the job runs (called about once a second)."""

    def __init__(self, path: Path, console: Console) -> None:
        self.path, self.console, self.seen = path, console, 0

    def __call__(self) -> None:
        markers = read_markers(self.path)
        for m in markers[self.seen :]:
            clock = time.strftime("%H:%M:%S", time.localtime(m["t"]))
            self.console.print(f"  {clock} {m['stage']} {m['event']}")
        self.seen = len(markers)


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _features_info(out_dir: Path, window: list[float | None] | None) -> dict[str, Any]:
    """The feature build's own figures from ``build.json`` (None-valued if absent)."""
    build = out_dir / "build.json"
    try:
        info = json.loads(build.read_text())
    except (OSError, ValueError):
        return {"groups": None, "table": None, "reused": None}
    built_at = _mtime(build)
    cutoffs = info.get("cutoffs") or []
    return {
        # build process's own wall seconds and peak RSS so far (ru_maxrss: no workers)
        "groups": info.get("timings"),
        "table": {
            "rows": info.get("rows"),
            "customers": info.get("customers"),
            "cutoffs": len(cutoffs),
            "first_cutoff": cutoffs[0][:10] if cutoffs else None,
            "last_cutoff": cutoffs[-1][:10] if cutoffs else None,
            "rows_per_split": info.get("rows_per_split"),
        },
        # written before the stage started: the job reused an earlier table
        "reused": None if window is None or built_at is None else built_at < window[0],
    }


def measure(n: int, args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """Run the main job at ``n`` customers with sampling; the per-size result."""
    label = size_label(n)
    base = (args.root or DEFAULT_BASE).resolve()
    root = base / label
    fresh = args.root is None
    console.rule(f"{n:,} customers")
    if fresh and root.exists():
        console.print(f"removing the previous run's root {root}")
        shutil.rmtree(root)
    overrides = [
        f"data={PRESET}",
        f"data.generator.n_customers={n}",
        f"data.name=synthetic_{label}",
        f"paths.root_dir={root}",
        *args.extra,
    ]
    try:
        cfg = compose(overrides)
    except Exception as err:  # a misspelt --extra override: Hydra's message, no traceback
        raise SystemExit(f"cannot compose the job's config: {err}") from err
    secrets = config_secrets(cfg)[1] | secret_values({})
    shown = [redact_override(o, values=secrets) for o in overrides]
    features_dir = Path(cfg.features.output_dir)
    if (
        not fresh
        and not args.reuse_features
        and features_dir.is_dir()
        and features_dir.resolve().is_relative_to(root)
    ):
        console.print(f"removing the previous feature table {features_dir} (see --reuse-features)")
        shutil.rmtree(features_dir)
    dirs = temp_dirs(cfg, root)
    child_tmpdir(root).mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        STAGE_LOG_ENV: str(base / f"{label}.stages.jsonl"),
        "TMPDIR": str(child_tmpdir(root)),
        "PYTHONUNBUFFERED": "1",
    }
    stage_log, log = Path(env[STAGE_LOG_ENV]), base / f"{label}.log"
    stage_log.parent.mkdir(parents=True, exist_ok=True)
    stage_log.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "socialcrm.cli", "run", *overrides]
    # markup=False: an override such as pipeline.tasks=[clv] is no rich tag
    console.print(f"running: socialcrm run {' '.join(shown)}", markup=False)
    console.print(f"output: {log}; temporary folders watched: {', '.join(dirs)}", markup=False)
    load_before = os.getloadavg()[0]
    run: Measured = run_sampled(
        cmd,
        log,
        dirs,
        env=env,
        interval=args.interval,
        timeout=args.timeout,
        on_tick=MarkerPrinter(stage_log, console),
    )
    load_after = os.getloadavg()[0]

    windows = stage_windows(read_markers(stage_log))
    stages: dict[str, dict[str, Any]] = {}
    for name, (start, end) in windows.items():
        stop = end if end is not None else run.t_end
        stages[name] = {
            "wall_seconds": round(stop - start, 1),
            **summarize(run.samples, start, stop),
            "completed": end is not None,
        }
    raw_manifest = Path(cfg.data.raw_dir) / "_manifest.json"
    if "generate" in stages:
        made = _mtime(raw_manifest)
        stages["generate"]["reused"] = made is not None and made < windows["generate"][0]
    features = _features_info(features_dir, windows.get("features"))
    if "features" in stages:
        stages["features"].update(
            reused=features["reused"],
            groups=features["groups"],
            groups_note="the build's own timings (build.json): seconds per group and the "
            "build process's peak RSS so far (ru_maxrss, without its scoring workers)",
        )
    _write_samples(base / f"{label}.samples.csv", run, dirs)

    ok = run.returncode == 0 and not run.timed_out
    failure = None
    if not ok:
        open_stages = [k for k, v in stages.items() if not v["completed"]]
        died_in = open_stages[-1] if open_stages else "after stages" if stages else "startup"
        tail = log.read_text(errors="replace").splitlines()[-ERROR_TAIL_LINES:]
        if run.timed_out:
            tail.append(f"(killed by benchmarks/scale.py after --timeout {args.timeout:g} s)")
        failure = {
            "stage": died_in,
            "exit_code": run.returncode,
            "timed_out": run.timed_out,
            "error_tail": scrub("\n".join(tail)[-6000:], secrets),
        }
    first = min((w[0] for w in windows.values()), default=None)
    last_end = max((w[1] for w in windows.values() if w[1] is not None), default=None)
    whole = summarize(run.samples, run.t_start, run.t_end)
    result = {
        "benchmark": "scale",
        "n_customers": n,
        "data_name": f"synthetic_{label}",
        "command": "socialcrm run " + " ".join(shown),
        "root": str(root),
        "root_kept": not fresh or args.keep,
        "ok": ok,
        "failure": failure,
        "job": {
            "wall_seconds": round(run.seconds, 1),
            "peak_rss_gb": whole["peak_rss_gb"],
            "peak_pss_gb": whole["peak_pss_gb"],
            "peak_temp_gb": whole["peak_temp_gb"],
            # the kernel's high-water mark of the largest single process (wait4)
            "max_process_peak_rss_gb": _gb(run.max_process_peak_rss),
            "startup_seconds": None if first is None else round(first - run.t_start, 1),
            "after_stages_seconds": None if last_end is None else round(run.t_end - last_end, 1),
            "samples": whole["samples"],
        },
        "stages": stages,
        "features_table": features["table"],
        "temp_dirs": {
            name: {
                "path": path,
                "peak_gb": _gb(max((s.dirs.get(name, 0) for s in run.samples), default=0), 3),
            }
            for name, path in dirs.items()
        },
        "sample_interval_seconds": args.interval,
        "memory_note": "peak_rss_gb: sum of VmRSS over the process tree (shared pages "
        "counted in each process: an upper bound); peak_pss_gb: sum of PSS (shared pages "
        "split among their processes)",
        "load_average_1min": [round(load_before, 2), round(load_after, 2)],
        **{k.replace("mlflow.source.", "").replace(".", "_"): v for k, v in git_info().items()},
    }
    if not ok:
        console.print("\n".join(failure["error_tail"].splitlines()[-30:]), markup=False)
        why = "timed out" if run.timed_out else f"failed with exit code {run.returncode}"
        console.print(f"[red]the main job at {n:,} customers {why} in {failure['stage']}")
    if fresh and not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return result


def _write_samples(path: Path, run: Measured, dirs: dict[str, str]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seconds", "rss_gb", "pss_gb", "max_process_rss_gb", "processes", *dirs])
        for s in run.samples:
            w.writerow(
                [
                    round(s.t - run.t_start, 2),
                    round(s.rss / GB, 3),
                    round(s.pss / GB, 3),
                    round(s.max_process_rss / GB, 3),
                    s.processes,
                    *(round(s.dirs.get(d, 0) / GB, 4) for d in dirs),
                ]
            )


def _exponent(small: dict, large: dict, key: str) -> float | None:
    """log(t_large / t_small) / log(n_large / n_small) of the job or the features stage."""
    if not (small["ok"] and large["ok"]):
        return None
    if key == "job":
        a, b = small["job"]["wall_seconds"], large["job"]["wall_seconds"]
    else:
        sa, sb = small["stages"].get(key), large["stages"].get(key)
        if not sa or not sb or sa.get("reused") or sb.get("reused"):
            return None
        a, b = sa["wall_seconds"], sb["wall_seconds"]
    if not a or not b:
        return None
    return round(math.log(b / a) / math.log(large["n_customers"] / small["n_customers"]), 3)


def combine(results: dict[int, dict]) -> dict[str, Any]:
    """``scale.json``: every size, growth exponents and the targets."""
    sizes = sorted(results)
    pairs = [
        {
            "from": a,
            "to": b,
            "features": _exponent(results[a], results[b], "features"),
            "job": _exponent(results[a], results[b], "job"),
        }
        for a, b in itertools.pairwise(sizes)
    ]
    growth = None
    if 100_000 in results and MILLION in results:
        growth = {
            "features": _exponent(results[100_000], results[MILLION], "features"),
            "job": _exponent(results[100_000], results[MILLION], "job"),
        }
    return {
        "benchmark": "scale",
        "sizes": sizes,
        "results": [results[n] for n in sizes],
        "growth_exponent_100k_1m": growth,
        "growth_exponents": pairs,
        "targets": [
            dict(zip(("measure", "measured", "target", "met"), row, strict=True))
            for row in target_rows(results, growth)
        ],
    }


def target_rows(results: dict[int, dict], growth: dict | None) -> list[tuple]:
    """(measure, measured, target, met) rows; met None when not measured."""
    rows: list[tuple] = []
    big = results.get(MILLION)
    checks = [
        ("features, 1M: wall", "features", "wall_seconds", FEATURES_SECONDS, "s"),
        ("features, 1M: peak RSS", "features", "peak_rss_gb", FEATURES_GB, "GB"),
        ("features, 1M: peak temp disk", "features", "peak_temp_gb", FEATURES_TEMP_GB, "GB"),
        ("whole job, 1M: wall", "job", "wall_seconds", JOB_SECONDS, "s"),
        ("whole job, 1M: peak RSS", "job", "peak_rss_gb", JOB_GB, "GB"),
    ]
    for measure, where, key, limit, unit in checks:
        target = f"<= {limit:g} {unit}"
        part = None
        if big is not None:
            part = big["job"] if where == "job" else big["stages"].get(where)
        if big is None:
            rows.append((measure, "not measured", target, None))
        elif not big["ok"] and (where == "job" or part is None or not part["completed"]):
            rows.append((measure, f"failed in {big['failure']['stage']}", target, False))
        elif part is None or part.get(key) is None:
            rows.append((measure, "no sample", target, None))
        elif where == "features" and part.get("reused"):
            rows.append((measure, "reused table (not built)", target, None))
        else:
            rows.append((measure, f"{part[key]:g} {unit}", target, part[key] <= limit))
    for key, what in (("features", "features"), ("job", "whole job")):
        value = None if growth is None else growth[key]
        measured = "not measured" if value is None else f"{value:.3f}"
        ok = None if value is None else value <= MAX_EXPONENT
        if value is None and growth is not None:
            measured = "n/a (a run failed or reused its table)"
        rows.append((f"growth exponent 100k -> 1M, {what}", measured, f"<= {MAX_EXPONENT}", ok))
    return rows


def load_results() -> dict[int, dict]:
    """Every ``benchmarks/results/scale_<n>.json``."""
    out = {}
    for path in RESULTS.glob("scale_*.json"):
        if re.fullmatch(r"scale_\d+\.json", path.name):
            data = json.loads(path.read_text())
            out[int(data["n_customers"])] = data
    return out


def print_stages(console: Console, results: dict[int, dict], now: set[int]) -> None:
    table = Table(title="main job per stage (RSS: summed over the process tree)")
    for col in ("customers", "stage", "wall s", "peak RSS GB", "peak PSS GB", "peak temp GB"):
        table.add_column(col, justify="left" if col in ("customers", "stage") else "right")

    def cell(x: float | None) -> str:
        return "" if x is None else f"{x:g}"

    for n in sorted(results):
        r = results[n]
        when = "" if n in now else f" ({r.get('measured_at', '?')[:10]})"
        for i, (name, s) in enumerate(r["stages"].items()):
            flags = ("" if s["completed"] else " FAILED") + (" (reused)" if s.get("reused") else "")
            table.add_row(
                f"{n:,}{when}" if i == 0 else "",
                name + flags,
                cell(s["wall_seconds"]),
                cell(s["peak_rss_gb"]),
                cell(s["peak_pss_gb"]),
                cell(s["peak_temp_gb"]),
            )
        j = r["job"]
        table.add_row(
            "",
            "[bold]whole job[/]" + ("" if r["ok"] else " [red]FAILED"),
            cell(j["wall_seconds"]),
            cell(j["peak_rss_gb"]),
            cell(j["peak_pss_gb"]),
            cell(j["peak_temp_gb"]),
            end_section=True,
        )
    console.print(table)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sizes_pos", nargs="*", type=parse_size, metavar="SIZE")
    parser.add_argument(
        "--sizes", nargs="+", type=parse_size, default=None,
        help="customers per run, e.g. 100000 300k 1m (default: 100k 300k 1m)",
    )  # fmt: skip
    parser.add_argument(
        "--root", type=Path, default=None,
        help="a persistent base folder: each size runs in ROOT/<label> and its world is "
        "reused by later runs (default: .cache/scale/<label>, emptied before and removed after)",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the default roots after the run")
    parser.add_argument(
        "--reuse-features", action="store_true",
        help="with --root: keep a matching feature table (default: rebuild and measure it)",
    )  # fmt: skip
    parser.add_argument(
        "--extra", nargs="+", action="extend", default=[], metavar="OVERRIDE",
        help="more Hydra overrides for the job, e.g. features.engine=spark",
    )  # fmt: skip
    parser.add_argument("--timeout", type=float, default=None, help="seconds per size, then kill")
    parser.add_argument("--interval", type=float, default=0.5, help="sampling interval (s)")
    parser.add_argument(
        "--keep-going", action="store_true", help="measure the next sizes after a failure"
    )
    args = parser.parse_args(argv)
    args.sizes = sorted(set(args.sizes or args.sizes_pos or DEFAULT_SIZES))
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 140)
    if not os.path.isdir("/proc/self"):
        console.print("[red]this benchmark samples /proc: Linux only")
        return 2
    measured: dict[int, dict] = {}
    code = 0
    for n in args.sizes:
        result = measure(n, args, console)
        out = save_result(f"scale_{n}", result)
        measured[n] = json.loads(out.read_text())
        console.print(f"written to {out.relative_to(ROOT)}")
        if not result["ok"]:
            code = code or (result["failure"]["exit_code"] or 1)
            if not args.keep_going:
                break
    results = load_results() | measured
    combined = combine(results)
    out = save_result("scale", combined)
    print_stages(console, results, set(measured))
    print_targets(
        console,
        "scale targets (2 cores): features at every monthly cutoff and the whole job",
        [(m["measure"], m["measured"], m["target"], m["met"]) for m in combined["targets"]],
    )
    earlier = sorted(set(results) - set(measured))
    if earlier:
        console.print(f"sizes from earlier runs in scale.json: {', '.join(map(str, earlier))}")
    console.print(f"written to {out.relative_to(ROOT)}")
    if code:
        return code if code > 0 else 1
    return 1 if any(m["met"] is False for m in combined["targets"]) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Benchmark: what training on a sample of the training rows costs in TEST metrics.

``train.max_train_rows`` (conf/config.yaml; the 1M preset ``data=synthetic_large`` sets
``data.max_train_rows: 2000000``, about 22% of its training rows) makes training read
about that many training rows of the feature table: whole customers chosen by a fixed
hash of the id, each kept with probability cap / training rows, so the count read may
be a little above the cap; validation and test rows are always all read
(:func:`socialcrm.runner.read_feature_table`). This benchmark measures its effect on the
test metrics of the churn and CLV tasks.

On one world (default 100k customers, the 1M preset scaled down:
``data=synthetic_large data.generator.n_customers=<n> data.name=synthetic_<label>``),
for each task and each seed it runs ``socialcrm train`` twice in a child process:

- all:    ``train.max_train_rows=null`` (every training row),
- sample: ``train.max_train_rows=round(fraction x training rows)``, the training rows
  counted in the table's ``build.json`` (``rows_per_split.train``); ``--fraction``
  defaults to the 1M preset's share (0.22),

with ``train.register=false promotion.on_train=false seed=<seed>`` and
``train.features_table=<the table>`` (taken as it is: no identity check, so a change
to the feature code while the benchmark runs rebuilds nothing and every run times
training only). The two variants of one seed run back to back (paired).

The test metrics are read from the ``metrics.json`` each run writes to its own
``train.outputs_dir`` (``<root>/reports/train_sample/<task>-<variant>-seed<k>/<task>/``;
``model``: the test cutoff's metrics, the ``valid_*`` keys left out) -- the file
``socialcrm train`` writes for ``dvc metrics show``, the same numbers it logs to MLflow.
The training rows a sampled run read come from its own output line ("features:
training on X of Y training rows").

Reported per task and headline metric: all and sample (mean +- sd over the seeds), the
paired difference sample - all (mean +- sd), and per run the training rows read, wall
seconds of the whole ``socialcrm train`` process (start-up, fit, SHAP, MLflow logging;
to about 1 s: ``_child.run_sampled`` polls once a second) and peak memory (the largest
process's peak RSS). Written to
``benchmarks/results/train_sample.json``.

    .venv/bin/python benchmarks/train_sample.py                      # 100k, seeds 0 1 2
    .venv/bin/python benchmarks/train_sample.py --root /work/ts-100k # keep / reuse a world
    .venv/bin/python benchmarks/train_sample.py --customers 3000 --seeds 0   # smoke run

The world is built in ``--root`` (default ``.cache/train_sample/<label>`` in the
checkout, kept for reruns) with ``socialcrm generate``, ``ingest`` and ``features``
unless a feature table is already there (``--rebuild`` builds it again). A root that
``benchmarks/scale.py --root BASE`` left (``BASE/<label>``, same data name) is reused.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _child import ROOT, Measured, run_sampled, save_result
from omegaconf import OmegaConf
from rich.console import Console
from rich.table import Table

from socialcrm.config import compose
from socialcrm.redact import config_secrets, redact_override, scrub, secret_values

PRESET = "synthetic_large"
PRESET_FRACTION = 0.22  # data=synthetic_large: 2,000,000 of its ~9M training rows
DEFAULT_BASE = ROOT / ".cache" / "train_sample"
TASKS = ("churn", "clv")
VARIANTS = ("all", "sample")
# the test metrics compared (keys and labels of the tasks' ``headline``); the first of
# each task is its gate metric
METRICS = {
    "churn": (("roc_auc", "ROC-AUC"), ("pr_auc", "PR-AUC"), ("brier", "Brier")),
    "clv": (
        ("normalized_gini", "normalized Gini"),
        ("spearman", "Spearman"),
        ("top20_found", "top-20% found"),
    ),
}
HEADLINE = {"churn": ("roc_auc", "pr_auc"), "clv": ("normalized_gini",)}
SAMPLE_LINE = re.compile(r"training\s+on\s+([\d,]+)\s+of\s+([\d,]+)\s+training\s+rows")
ERROR_TAIL_LINES = 40
GB = 1e9
_ABSENT = object()


def size_label(n: int) -> str:
    """100000 -> 100k, 1000000 -> 1m, 2500 -> 2500 (as benchmarks/scale.py names them)."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def mean_sd(values: list[float]) -> dict[str, Any]:
    """Mean, sample sd (None for one value) and the values."""
    if not values:
        return {"mean": None, "sd": None, "n": 0, "values": []}
    sd = statistics.stdev(values) if len(values) > 1 else None
    return {"mean": statistics.fmean(values), "sd": sd, "n": len(values), "values": values}


def fmt(stat: dict[str, Any], spec: str = ".4f", signed: bool = False) -> str:
    if stat["mean"] is None:
        return "-"
    text = format(stat["mean"], ("+" if signed else "") + spec)
    return text + (f" ± {format(stat['sd'], spec)}" if stat["sd"] is not None else "")


class Runner:
    """Runs ``socialcrm <verb>`` children in the world's root, logs in ``<root>/logs``."""

    def __init__(self, base_overrides: list[str], root: Path, secrets: set[str], console: Console):
        self.base, self.root, self.secrets, self.console = base_overrides, root, secrets, console
        self.log_dir = root / "train_sample_logs"
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def shown(self, verb: str, overrides: list[str]) -> str:
        return "socialcrm " + " ".join(
            [verb, *(redact_override(o, values=self.secrets) for o in overrides)]
        )

    def run(self, verb: str, overrides: list[str], name: str) -> tuple[Measured, str, Path]:
        """Run one child; its measurement, its (scrubbed) output and the log path."""
        overrides = [*self.base, *overrides]
        log = self.log_dir / f"{name}.log"
        self.console.print(f"running: {self.shown(verb, overrides)}", markup=False)
        cmd = [sys.executable, "-m", "socialcrm.cli", verb, *overrides]
        measured = run_sampled(cmd, log, {}, env=self.env, interval=1.0)
        text = scrub(log.read_text(errors="replace"), self.secrets)
        return measured, text, log

    def check(self, measured: Measured, text: str, what: str) -> dict[str, Any] | None:
        """None if the child succeeded, else the failure (printed)."""
        if measured.returncode == 0:
            return None
        tail = "\n".join(text.splitlines()[-ERROR_TAIL_LINES:])
        self.console.print(tail, markup=False)
        self.console.print(f"[red]{what} failed with exit code {measured.returncode}")
        return {"what": what, "exit_code": measured.returncode, "error_tail": tail[-6000:]}


def build_world(
    runner: Runner, features_dir: Path, rebuild: bool, console: Console
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Generate, ingest and build features unless a table is there; build facts, failure."""
    build_json = features_dir / "build.json"
    steps: dict[str, Any] = {}
    if build_json.is_file() and (features_dir / "features.parquet").is_file() and not rebuild:
        console.print(f"reusing the feature table in {features_dir} (--rebuild builds it again)")
        return {"reused": True, "steps": steps}, None
    for verb in ("generate", "ingest", "features"):
        measured, text, _ = runner.run(verb, [], f"build-{verb}")
        steps[verb] = {"wall_seconds": round(measured.seconds, 1)}
        failure = runner.check(measured, text, f"socialcrm {verb}")
        if failure:
            return {"reused": False, "steps": steps}, failure
    return {"reused": False, "steps": steps}, None


def table_facts(features_dir: Path) -> dict[str, Any]:
    info = json.loads((features_dir / "build.json").read_text())
    cutoffs = info.get("cutoffs") or []
    return {
        "path": str(features_dir / "features.parquet"),
        "rows": info.get("rows"),
        "customers": info.get("customers"),
        "cutoffs": len(cutoffs),
        "first_cutoff": cutoffs[0][:10] if cutoffs else None,
        "last_cutoff": cutoffs[-1][:10] if cutoffs else None,
        "rows_per_split": info.get("rows_per_split"),
        "identity_sha256": info.get("identity_sha256"),
    }


def train_once(
    runner: Runner,
    task: str,
    variant: str,
    seed: int,
    max_rows: int | None,
    table: Path,
    n_train: int,
) -> dict[str, Any]:
    """One ``socialcrm train`` run: its test metrics, training rows, time and memory."""
    name = f"{task}-{variant}-seed{seed}"
    outputs = runner.root / "reports" / "train_sample" / name
    overrides = [
        f"task={task}",
        f"seed={seed}",
        f"train.max_train_rows={'null' if max_rows is None else max_rows}",
        f"train.features_table={table}",
        f"train.outputs_dir={outputs}",
        "train.register=false",
        "promotion.on_train=false",
    ]
    metrics_file = outputs / task / "metrics.json"
    metrics_file.unlink(missing_ok=True)  # never read an earlier run's file
    measured, text, log = runner.run("train", overrides, name)
    record: dict[str, Any] = {
        "task": task,
        "variant": variant,
        "seed": seed,
        "max_train_rows": max_rows,
        "command": runner.shown("train", [*runner.base, *overrides]),
        "wall_seconds": round(measured.seconds, 1),
        "max_process_peak_rss_gb": round(measured.max_process_peak_rss / GB, 2),
        "log": str(log),
        "ok": measured.returncode == 0,
    }
    failure = runner.check(measured, text, f"train {name}")
    if failure:
        return record | {"failure": failure}
    found = SAMPLE_LINE.search(text)
    if found:  # the run read a sample
        record["train_rows"] = int(found[1].replace(",", ""))
        record["train_rows_of"] = int(found[2].replace(",", ""))
    else:  # every training row (no sample asked, or the cap is above the table's count)
        record["train_rows"] = record["train_rows_of"] = n_train
    info = json.loads(metrics_file.read_text())
    record["test_metrics"] = info.get("model", {})
    record["baseline_test_metrics"] = info.get("baseline", {})
    record["grade"] = info.get("grade")
    record["metrics_source"] = str(metrics_file)
    return record


def summarize(runs: list[dict[str, Any]], tasks: list[str]) -> dict[str, Any]:
    """Per task: each metric's all / sample / paired difference, rows, seconds."""
    out: dict[str, Any] = {}
    for task in tasks:
        done = [r for r in runs if r["task"] == task and r["ok"]]
        by = {(r["variant"], r["seed"]): r for r in done}
        paired = sorted({s for v, s in by if v == "all"} & {s for v, s in by if v == "sample"})
        metrics: dict[str, Any] = {}
        for key, label in METRICS[task]:
            vals = {
                v: [
                    by[(v, s)]["test_metrics"][key]
                    for s in sorted({s for vv, s in by if vv == v})
                    if key in by[(v, s)]["test_metrics"]
                ]
                for v in VARIANTS
            }
            diffs = [
                by[("sample", s)]["test_metrics"][key] - by[("all", s)]["test_metrics"][key]
                for s in paired
                if key in by[("sample", s)]["test_metrics"]
                and key in by[("all", s)]["test_metrics"]
            ]
            metrics[key] = {
                "label": label,
                "headline": key in HEADLINE[task],
                "all": mean_sd(vals["all"]),
                "sample": mean_sd(vals["sample"]),
                "difference": mean_sd(diffs),  # sample - all, paired by seed
            }
        per = {
            v: {
                "train_rows": mean_sd([r["train_rows"] for r in done if r["variant"] == v]),
                "wall_seconds": mean_sd([r["wall_seconds"] for r in done if r["variant"] == v]),
                "max_process_peak_rss_gb": mean_sd(
                    [r["max_process_peak_rss_gb"] for r in done if r["variant"] == v]
                ),
            }
            for v in VARIANTS
        }
        out[task] = {"seeds_paired": paired, "metrics": metrics, "runs": per}
    return out


def both(runs: dict[str, Any], what: str, spec: str, sd: bool = True) -> str:
    """``all / sample`` of one per-run figure (``sd``: with its spread over the seeds)."""
    shown = [runs[v][what] if sd else {**runs[v][what], "sd": None} for v in VARIANTS]
    return " / ".join(fmt(x, spec) for x in shown)


def print_summary(console: Console, summary: dict[str, Any], title: str) -> None:
    table = Table(title=title)
    for col in (
        "task",
        "metric (test)",
        "all rows",
        "sample",
        "sample − all",
        "train rows (all / sample)",
        "wall s (all / sample)",
        "peak GB (all / sample)",
    ):
        table.add_column(col, justify="left" if col.startswith(("task", "metric")) else "right")
    for task, s in summary.items():
        items = list(s["metrics"].items())
        r = s["runs"]

        for i, (key, m) in enumerate(items):
            first = i == 0
            name = f"{m['label']} ({key})"
            table.add_row(
                task if first else "",
                f"[bold]{name}[/]" if m["headline"] else name,
                fmt(m["all"]),
                fmt(m["sample"]),
                fmt(m["difference"], signed=True),
                both(r, "train_rows", ",.0f", sd=False) if first else "",
                both(r, "wall_seconds", ".1f") if first else "",
                both(r, "max_process_peak_rss_gb", ".2f") if first else "",
                end_section=i == len(items) - 1,
            )
    console.print(table)
    console.print(
        "mean ± sd over seeds (sd: sample standard deviation; none with one seed); "
        "sample − all is paired by seed; peak GB: the largest process's peak RSS"
    )


def print_runs(console: Console, runs: list[dict[str, Any]]) -> None:
    table = Table(title="each run")
    for col in ("task", "variant", "seed", "max_train_rows", "train rows read", "wall s"):
        table.add_column(col, justify="left" if col in ("task", "variant") else "right")
    table.add_column("peak GB", justify="right")
    table.add_column("headline test metrics")
    for r in runs:
        shown = (
            ", ".join(
                f"{k} {r['test_metrics'][k]:.4f}"
                for k in HEADLINE[r["task"]]
                if k in r["test_metrics"]
            )
            if r["ok"]
            else "[red]FAILED"
        )
        table.add_row(
            r["task"],
            r["variant"],
            str(r["seed"]),
            "null" if r["max_train_rows"] is None else f"{r['max_train_rows']:,}",
            f"{r['train_rows']:,}" if "train_rows" in r else "",
            f"{r['wall_seconds']:.1f}",
            f"{r['max_process_peak_rss_gb']:.2f}",
            shown,
        )
    console.print(table)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=100_000, help="world size (100000)")
    parser.add_argument(
        "--root", type=Path, default=None,
        help="project root of the world (paths.root_dir): reused if it holds the feature "
        "table (default: .cache/train_sample/<label>, kept)",
    )  # fmt: skip
    parser.add_argument(
        "--data-name",
        default=None,
        help="data.name (default: synthetic_<label>, e.g. synthetic_100k)",
    )
    parser.add_argument(
        "--fraction", type=float, default=PRESET_FRACTION,
        help=f"sample share of the training rows (default {PRESET_FRACTION}: the 1M preset's)",
    )  # fmt: skip
    parser.add_argument(
        "--max-train-rows",
        type=int,
        default=None,
        help="the sample's cap in rows (instead of --fraction)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="(default 0 1 2)")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--rebuild", action="store_true", help="build the world's table again")
    parser.add_argument(
        "--extra", nargs="+", action="extend", default=[], metavar="OVERRIDE",
        help="more Hydra overrides for every command (e.g. model=xgboost)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not 0 < args.fraction < 1:
        parser.error("--fraction must be between 0 and 1")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 160)
    label = size_label(args.customers)
    root = (args.root or DEFAULT_BASE / label).resolve()
    data_name = args.data_name or f"synthetic_{label}"
    base = [
        f"data={PRESET}",
        f"data.generator.n_customers={args.customers}",
        f"data.name={data_name}",
        f"paths.root_dir={root}",
        *args.extra,
    ]
    try:
        cfg = compose(base)
    except Exception as err:  # a misspelt --extra override: Hydra's message, no traceback
        raise SystemExit(f"cannot compose the config: {err}") from err
    for key in ("train.max_train_rows", "train.register", "train.features_table",
                "train.outputs_dir", "promotion.on_train", "seed"):  # fmt: skip
        if OmegaConf.select(cfg, key, default=_ABSENT) is _ABSENT:
            raise SystemExit(f"the config has no {key}: this benchmark needs it")
    secrets = config_secrets(cfg)[1] | secret_values({})
    runner = Runner(base, root, secrets, console)
    features_dir = Path(cfg.features.output_dir)
    command = " ".join([".venv/bin/python", "benchmarks/train_sample.py", *argv])
    result: dict[str, Any] = {
        "benchmark": "train_sample",
        "command": scrub(command, secrets),
        "question": "effect of training on a sample of the training rows "
        "(train.max_train_rows) on the test metrics of churn and CLV",
        "n_customers": args.customers,
        "data_name": data_name,
        "root": str(root),
        "overrides": [redact_override(o, values=secrets) for o in base],
        "seeds": args.seeds,
        "metrics_source": "metrics.json ('model': test cutoff) that each run writes to its "
        "own train.outputs_dir; train rows from the run's 'features: training on X of Y' line",
    }
    console.rule(f"train_sample: {args.customers:,} customers in {root}")
    t0 = time.perf_counter()
    build, failure = build_world(runner, features_dir, args.rebuild, console)
    result["build"] = build
    if failure:
        save_result("train_sample", result | {"ok": False, "failure": failure})
        return failure["exit_code"] or 1
    facts = table_facts(features_dir)
    n_train = int((facts["rows_per_split"] or {}).get("train", 0))
    if n_train <= 0:
        raise SystemExit(f"{features_dir}/build.json counts no training rows")
    max_rows = args.max_train_rows or round(args.fraction * n_train)
    result |= {
        "table": facts,
        "training_rows": n_train,
        "fraction": args.fraction if args.max_train_rows is None else None,
        "sample_max_train_rows": max_rows,
        "sample_share": round(max_rows / n_train, 4),
        "preset_note": "data=synthetic_large (1M) sets max_train_rows 2,000,000 of about "
        "9M training rows (~22%)",
    }
    console.print(
        f"feature table: {facts['rows']:,} rows, {n_train:,} training; sample: "
        f"train.max_train_rows={max_rows:,} ({max_rows / n_train:.1%})"
    )
    table = Path(facts["path"])
    runs: list[dict[str, Any]] = []
    failed = None
    for task in args.tasks:
        for seed in args.seeds:
            for variant in VARIANTS:
                cap = None if variant == "all" else max_rows
                record = train_once(runner, task, variant, seed, cap, table, n_train)
                runs.append(record)
                if not record["ok"]:
                    failed = record["failure"]
                    break
            if failed:
                break
        if failed:
            break
    summary = summarize(runs, args.tasks)
    result |= {
        "ok": failed is None,
        "failure": failed,
        "total_wall_seconds": round(time.perf_counter() - t0, 1),
        "load_average_1min_end": round(os.getloadavg()[0], 2),
        "summary": summary,
        "runs": runs,
    }
    out = save_result("train_sample", result)
    print_runs(console, runs)
    print_summary(
        console,
        summary,
        f"test metrics: all {n_train:,} training rows vs a sample "
        f"(train.max_train_rows={max_rows:,}, "
        f"{max_rows / n_train:.0%}), {args.customers:,} customers, seeds "
        + " ".join(map(str, args.seeds)),
    )
    console.print(f"written to {out.relative_to(ROOT)}")
    return 0 if failed is None else (failed["exit_code"] or 1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

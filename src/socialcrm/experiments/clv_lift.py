"""Do social and referral data improve CLV ranking? The clv-social-lift experiment.

For each seed the default synthetic world is generated with that seed, the full
point-in-time feature table is built once, and the CLV model is fitted and
tested on nested feature sets: ``crm``; ``crm+social`` (plus social activity
and listening); ``all`` (plus the social graph and referrals); and
``all+btyd`` (plus the BTYD model's outputs: the hybrid). Every test Gini is
set against the **oracle Gini** of the generator's true expected spend on the
same test rows, and against the commercial baseline and the BTYD model.

Usage (writes ``experiments/clv-social-lift/results.csv`` and the table in its
README; about 15 minutes on 2 cores)::

    python -m socialcrm.experiments.clv_lift
    python -m socialcrm.experiments.clv_lift --seeds 2 model=two_part
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from hydra.utils import instantiate
from omegaconf import OmegaConf
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from socialcrm.config import compose
from socialcrm.data.synthetic.truth import expected_future_spend
from socialcrm.evaluation.value import normalized_gini, top_customers_found
from socialcrm.experiments.churn_lift import FEATURE_SETS as CHURN_FEATURE_SETS
from socialcrm.experiments.churn_lift import world_tables
from socialcrm.experiments.common import each_feature_set, log_summary, publish
from socialcrm.reports.markdown import plus_minus, plus_minus_column, to_markdown

FEATURE_SETS: dict[str, list[str]] = {
    **CHURN_FEATURE_SETS,
    "all+btyd": [*CHURN_FEATURE_SETS["all"], "btyd"],
}
OUT_DIR = Path(__file__).resolve().parents[3] / "experiments" / "clv-social-lift"
METRICS = ("normalized_gini", "top20_found", "spearman", "decile_mape", "rmse")


def evaluate_feature_sets(
    frame: pd.DataFrame,
    manifest: Sequence[Mapping[str, str]],
    truth: pd.Series,
    task: Any,
    model_cfg: Mapping[str, Any],
    seed: int,
    feature_sets: Mapping[str, Sequence[str]] = FEATURE_SETS,
) -> pd.DataFrame:
    """Fit and test the CLV task on each feature set; add the oracle on the same test rows.

    Parameters
    ----------
    frame, manifest
        The full feature table and its manifest (every group built).
    truth
        True expected spend in the horizon by ``customer_id`` at the test cutoff.
    task
        A :class:`~socialcrm.tasks.clv.ClvTask` (``explain`` off).
    model_cfg
        Plain model config.
    seed
        Model seed.
    feature_sets
        Name -> feature groups.

    Returns
    -------
    pandas.DataFrame
        One row per feature set: ``features``, the model's :data:`METRICS`,
        ``baseline_gini``, ``btyd_gini``, ``oracle_gini``, ``oracle_top20_found``,
        ``n_test``.
    """
    rows = []
    for name, result, oracle in each_feature_set(
        frame, manifest, truth, task, model_cfg, seed, feature_sets
    ):
        scored, m = result.scored, result.metrics
        rows.append(
            {"features": name}
            | {k: m[k] for k in METRICS}
            | {
                "baseline_gini": result.baseline_metrics["normalized_gini"],
                "btyd_gini": result.references.get("btyd", {}).get("normalized_gini", np.nan),
                "oracle_gini": normalized_gini(scored.actual, oracle),
                "oracle_top20_found": top_customers_found(scored.actual, oracle, 0.2),
                "n_test": len(scored),
            }
        )
    return pd.DataFrame(rows)


def summarise(results: pd.DataFrame, reference: str = "crm") -> pd.DataFrame:
    """Mean and sd over seeds per feature set, the gap to the oracle Gini, and the
    paired (same seed) Gini gain over ``reference`` and over the previous set."""
    r = results.copy()
    ref = r[r.features == reference].set_index("seed").normalized_gini
    r["gain_vs_crm"] = r.normalized_gini.to_numpy() - ref.reindex(r.seed).to_numpy()
    order = list(dict.fromkeys(r.features))
    prev = {name: order[i - 1] for i, name in enumerate(order) if i}
    by_set = r.set_index(["features", "seed"]).normalized_gini
    r["gain_vs_previous"] = [
        g - by_set.get((prev[f], s), np.nan) if f in prev else np.nan
        for f, s, g in zip(r.features, r.seed, r.normalized_gini, strict=True)
    ]
    r["oracle_gap"] = r.oracle_gini - r.normalized_gini
    agg: dict[str, tuple[str, str]] = {"seeds": ("seed", "nunique")}
    for col in (*METRICS, "gain_vs_crm", "gain_vs_previous"):
        agg[col] = (col, "mean")
        agg[f"{col}_sd"] = (col, "std")
    for col in ("baseline_gini", "btyd_gini", "oracle_gini", "oracle_gap", "oracle_top20_found"):
        agg[col] = (col, "mean")
    out = r.groupby("features", sort=False).agg(**agg).reset_index()
    return out.sort_values("features", key=lambda s: s.map(order.index), ignore_index=True)


def markdown_table(summary: pd.DataFrame) -> str:
    """The summary as the README's table (mean ± sd)."""
    table = pd.DataFrame(
        {
            "features": summary.features,
            "normalized Gini": plus_minus_column(summary, "normalized_gini"),
            "top-20% found": plus_minus_column(summary, "top20_found"),
            "decile MAPE": plus_minus_column(summary, "decile_mape"),
            "RMSE": plus_minus_column(summary, "rmse", digits=1),
            "oracle Gini": summary.oracle_gini.map("{:.3f}".format),
            "gap to oracle": summary.oracle_gap.map("{:.3f}".format),
            "Gini gain vs crm (paired)": plus_minus_column(summary, "gain_vs_crm"),
            "vs previous set (paired)": plus_minus_column(summary, "gain_vs_previous"),
            "commercial baseline Gini": summary.baseline_gini.map("{:.3f}".format),
            "BTYD Gini": summary.btyd_gini.map("{:.3f}".format),
        }
    )
    return to_markdown(table)


# -- the edge: worlds on disk, MLflow, the README ------------------------------------


def run_experiment(
    seeds: Sequence[int], overrides: Sequence[str], console: Console | None = None
) -> pd.DataFrame:
    """Every seed x feature set; returns the per-run results."""
    parts = []
    with Progress(console=console, disable=console is None) as progress:
        job = progress.add_task("worlds", total=len(seeds))
        for seed in seeds:
            progress.update(job, description=f"seed {seed}")
            cfg = compose(
                [f"seed={seed}", "task=clv", "features=all", "task.explain=false", *overrides]
            )
            t0 = time.perf_counter()
            with tempfile.TemporaryDirectory(prefix="clv-lift-") as tmp:
                frame, manifest, cm = world_tables(cfg, Path(tmp))
            test_cutoff = frame.loc[frame.split == "test", "cutoff"].iloc[0]
            truth = expected_future_spend(cm, test_cutoff, cfg.features.horizon_days)
            task = instantiate(cfg.task, _convert_="all")
            res = evaluate_feature_sets(
                frame, manifest, truth, task, OmegaConf.to_container(cfg.model, resolve=True), seed
            )
            parts.append(
                res.assign(seed=seed, model=str(cfg.model.name), seconds=time.perf_counter() - t0)
            )
            progress.advance(job)
    return pd.concat(parts, ignore_index=True)


def main(
    overrides: Annotated[list[str] | None, typer.Argument(help="Hydra overrides")] = None,
    seeds: Annotated[int, typer.Option(help="seeds 1..N (world and model)")] = 5,
    out_dir: Annotated[Path, typer.Option(help="where results.csv and README.md live")] = OUT_DIR,
) -> None:
    """Run the experiment, print the table, write results.csv and the README table."""
    # one model thread: many fits in a row, and the same numbers on any machine load
    os.environ.setdefault("SOCIALCRM_N_JOBS", "1")
    console = Console()
    overrides = list(overrides or [])
    results = run_experiment(list(range(1, seeds + 1)), overrides, console)
    summary = summarise(results)
    table = Table(title="CLV: normalized Gini by feature set (mean ± sd over seeds)")
    for col in ("features", "Gini", "top-20% found", "oracle Gini", "gain vs crm"):
        table.add_column(col)
    for r in summary.itertuples():
        table.add_row(
            r.features,
            plus_minus(r.normalized_gini, r.normalized_gini_sd),
            plus_minus(r.top20_found, r.top20_found_sd),
            f"{r.oracle_gini:.3f}",
            plus_minus(r.gain_vs_crm, r.gain_vs_crm_sd, signed=True),
        )
    console.print(table)
    if publish(
        out_dir,
        results,
        markdown_table(summary),
        "socialcrm.experiments.clv_lift",
        seeds,
        overrides,
    ):
        console.print(f"table written to {out_dir / 'README.md'}")
    run_id = log_summary(
        compose(overrides).tracking,
        "clv-social-lift",
        results,
        summary,
        lambda row: row.features.replace("+", "_"),
        ("normalized_gini", "top20_found", "oracle_gap"),
    )
    console.print(f"MLflow run {run_id} (experiment socialcrm-clv-social-lift)")


if __name__ == "__main__":
    typer.run(main)

"""Does social data predict churn better? The churn-social-lift experiment.

For each world (contagion on, and off as the negative control) and seed, the
synthetic world is generated with that seed, the full point-in-time feature
table is built once, and the churn model is fitted and tested on three nested
feature sets: ``crm``; ``crm+social`` (plus social activity and listening);
``all`` (plus the social graph and referrals). Every test AUC is set against
the **oracle AUC** of the generator's true churn probabilities on the same
test rows.

Usage (writes ``experiments/churn-social-lift/results.csv`` and the table in its
README; 20-30 minutes on 2 cores)::

    python -m socialcrm.experiments.churn_lift
    python -m socialcrm.experiments.churn_lift --seeds 2 model=logreg
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sklearn.metrics import average_precision_score, roc_auc_score

from socialcrm.config import compose
from socialcrm.data.synthetic.truth import churn_probability
from socialcrm.experiments.common import each_feature_set, log_summary, publish
from socialcrm.reports.markdown import plus_minus, plus_minus_column, to_markdown

FEATURE_SETS: dict[str, list[str]] = {
    "crm": ["crm"],
    "crm+social": ["crm", "social_activity", "social_listening"],
    "all": ["crm", "social_activity", "social_listening", "social_graph", "referral"],
}
WORLDS: dict[str, list[str]] = {"contagion on": [], "contagion off": ["experiment=no_contagion"]}
OUT_DIR = Path(__file__).resolve().parents[3] / "experiments" / "churn-social-lift"


def evaluate_feature_sets(
    frame: pd.DataFrame,
    manifest: Sequence[Mapping[str, str]],
    truth: pd.Series,
    task: Any,
    model_cfg: Mapping[str, Any],
    seed: int,
    feature_sets: Mapping[str, Sequence[str]] = FEATURE_SETS,
) -> pd.DataFrame:
    """Fit and test the task on each feature set; add the oracle on the same test rows.

    Parameters
    ----------
    frame, manifest
        The full feature table and its manifest (every group built).
    truth
        True churn probability in the horizon by ``customer_id`` at the test cutoff.
    task
        A task object (``fit_evaluate``); ``task.explain`` should be off.
    model_cfg
        Plain model config.
    seed
        Model seed.
    feature_sets
        Name -> feature groups.

    Returns
    -------
    pandas.DataFrame
        One row per feature set: ``features``, ``roc_auc``, ``pr_auc``,
        ``oracle_roc_auc``, ``oracle_pr_auc``, ``n_test``, ``churn_rate``.
    """
    rows = []
    for name, result, oracle in each_feature_set(
        frame, manifest, truth, task, model_cfg, seed, feature_sets
    ):
        scored = result.scored
        rows.append(
            {
                "features": name,
                "roc_auc": result.metrics["roc_auc"],
                "pr_auc": result.metrics["pr_auc"],
                "oracle_roc_auc": float(roc_auc_score(scored.label, oracle)),
                "oracle_pr_auc": float(average_precision_score(scored.label, oracle)),
                "n_test": len(scored),
                "churn_rate": float(scored.label.mean()),
            }
        )
    return pd.DataFrame(rows)


def summarise(results: pd.DataFrame, reference: str = "crm+social") -> pd.DataFrame:
    """Mean and sd over seeds per world and feature set, the gap to the oracle, and the
    paired (same world and seed) gain over the ``reference`` set and over ``crm``.

    Parameters
    ----------
    results
        Rows with ``world``, ``seed``, ``features``, ``roc_auc``, ``pr_auc``,
        ``oracle_roc_auc``.
    reference
        The feature set the graph group is added to.
    """
    r = results.copy()
    keys = ["world", "seed"]
    for base in ("crm", reference):
        ref = r[r.features == base].set_index(keys)
        idx = pd.MultiIndex.from_frame(r[keys])
        r[f"gain_vs_{base}"] = r.roc_auc.to_numpy() - ref.roc_auc.reindex(idx).to_numpy()
    r["oracle_gap"] = r.oracle_roc_auc - r.roc_auc
    order = {name: i for i, name in enumerate(dict.fromkeys(r.features))}
    world_order = {name: i for i, name in enumerate(dict.fromkeys(r.world))}
    g = r.groupby(["world", "features"], sort=False)
    out = g.agg(
        seeds=("seed", "nunique"),
        roc_auc=("roc_auc", "mean"),
        roc_auc_sd=("roc_auc", "std"),
        pr_auc=("pr_auc", "mean"),
        pr_auc_sd=("pr_auc", "std"),
        oracle_roc_auc=("oracle_roc_auc", "mean"),
        oracle_gap=("oracle_gap", "mean"),
        gain_vs_crm=("gain_vs_crm", "mean"),
        gain_vs_crm_sd=("gain_vs_crm", "std"),
        gain_vs_ref=(f"gain_vs_{reference}", "mean"),
        gain_vs_ref_sd=(f"gain_vs_{reference}", "std"),
    ).reset_index()
    out["_w"], out["_o"] = out.world.map(world_order), out.features.map(order)
    out = out.sort_values(["_w", "_o"], kind="stable").drop(columns=["_w", "_o"])
    return out.reset_index(drop=True)


def markdown_table(summary: pd.DataFrame) -> str:
    """The summary as the README's table (mean ± sd)."""

    table = pd.DataFrame(
        {
            "world": summary.world,
            "features": summary.features,
            "ROC-AUC": plus_minus_column(summary, "roc_auc"),
            "PR-AUC": plus_minus_column(summary, "pr_auc"),
            "oracle ROC-AUC": summary.oracle_roc_auc.map("{:.3f}".format),
            "gap to oracle": summary.oracle_gap.map("{:.3f}".format),
            "ROC-AUC gain vs crm (paired)": plus_minus_column(summary, "gain_vs_crm"),
            "gain vs crm+social (paired)": plus_minus_column(summary, "gain_vs_ref"),
        }
    )
    return to_markdown(table)


# -- the edge: worlds on disk, MLflow, the README ------------------------------------


def world_tables(cfg: DictConfig, workdir: Path) -> tuple[pd.DataFrame, list[dict], pd.DataFrame]:
    """Generate ``cfg.data`` into ``workdir`` and build every feature group in memory."""
    from socialcrm.data.generate import write_synthetic
    from socialcrm.data.schemas import TABLES
    from socialcrm.features.engine import register_frames
    from socialcrm.features.run import build_from_config

    raw = workdir / "raw"
    write_synthetic(cfg.data.generator, raw, cfg.data.salt)
    tables = {name: pd.read_parquet(raw / f"{name}.parquet") for name in TABLES}
    ft = build_from_config(cfg, lambda con: register_frames(con, tables))
    truth = pd.read_parquet(raw / "truth" / "customer_month.parquet")
    return ft.frame, [s.to_dict() for s in ft.manifest], truth


def run_experiment(
    seeds: Sequence[int], overrides: Sequence[str], console: Console | None = None
) -> pd.DataFrame:
    """Every world x seed x feature set; returns the per-run results."""
    parts = []
    with Progress(console=console, disable=console is None) as progress:
        job = progress.add_task("worlds", total=len(WORLDS) * len(seeds))
        for world, world_overrides in WORLDS.items():
            for seed in seeds:
                progress.update(job, description=f"{world}, seed {seed}")
                cfg = compose(
                    [
                        *world_overrides,
                        f"seed={seed}",
                        "features=all",
                        "task.explain=false",
                        *overrides,
                    ]
                )
                t0 = time.perf_counter()
                with tempfile.TemporaryDirectory(prefix="churn-lift-") as tmp:
                    frame, manifest, cm = world_tables(cfg, Path(tmp))
                test_cutoff = frame.loc[frame.split == "test", "cutoff"].iloc[0]
                truth = churn_probability(cm, test_cutoff, cfg.features.horizon_days)
                task = instantiate(cfg.task, _convert_="all")
                res = evaluate_feature_sets(
                    frame,
                    manifest,
                    truth,
                    task,
                    OmegaConf.to_container(cfg.model, resolve=True),
                    seed,
                )
                parts.append(
                    res.assign(
                        world=world,
                        seed=seed,
                        model=str(cfg.model.name),
                        seconds=time.perf_counter() - t0,
                    )
                )
                progress.advance(job)
    return pd.concat(parts, ignore_index=True)


def main(
    overrides: Annotated[list[str] | None, typer.Argument(help="Hydra overrides")] = None,
    seeds: Annotated[int, typer.Option(help="seeds 1..N (world and model)")] = 5,
    out_dir: Annotated[Path, typer.Option(help="where results.csv and README.md live")] = OUT_DIR,
) -> None:
    """Run the experiment, print the table, write results.csv and the README table."""
    # one model thread: many small fits in a row, and the same numbers on any machine load
    os.environ.setdefault("SOCIALCRM_N_JOBS", "1")
    console = Console()
    overrides = list(overrides or [])
    results = run_experiment(list(range(1, seeds + 1)), overrides, console)
    summary = summarise(results)
    table = Table(title="churn: ROC-AUC by feature set (mean ± sd over seeds)")
    for col in ("world", "features", "ROC-AUC", "PR-AUC", "oracle", "gain vs crm+social"):
        table.add_column(col)
    for r in summary.itertuples():
        table.add_row(
            r.world,
            r.features,
            plus_minus(r.roc_auc, r.roc_auc_sd),
            plus_minus(r.pr_auc, r.pr_auc_sd),
            f"{r.oracle_roc_auc:.3f}",
            plus_minus(r.gain_vs_ref, r.gain_vs_ref_sd, signed=True),
        )
    console.print(table)
    if publish(
        out_dir,
        results,
        markdown_table(summary),
        "socialcrm.experiments.churn_lift",
        seeds,
        overrides,
    ):
        console.print(f"table written to {out_dir / 'README.md'}")
    run_id = log_summary(
        compose(overrides).tracking,
        "churn-social-lift",
        results,
        summary,
        lambda row: f"{row.world.replace(' ', '_')}.{row.features.replace('+', '_')}",
        ("roc_auc", "pr_auc", "oracle_gap"),
    )
    console.print(f"MLflow run {run_id} (experiment socialcrm-churn-social-lift)")


if __name__ == "__main__":
    typer.run(main)

"""Build the feature table of an ingested data set and write it (the I/O edge).

Usage::

    python -m socialcrm.features.run                       # default data set and features=all
    python -m socialcrm.features.run features=crm_social data=synthetic_small
    socialcrm features features.churn.definition=inactivity

Reads ``data.interim_dir`` (made by ``socialcrm ingest``) and writes, atomically,
to ``features.output_dir``:

- ``features.parquet``: one row per customer per cutoff (keys, split, features, labels);
- ``feature_manifest.json``: name, group, description, dtype and role of each column;
- ``build.json``: cutoffs, rows per split, per-stage timings, the feature config.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import hydra
import pyarrow as pa
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

import socialcrm.config  # noqa: F401  (registers the ${project_root:} resolver)
from socialcrm.data.io import atomic_dir, write_parquet
from socialcrm.features.build import FeatureTable, build_features
from socialcrm.features.config import feature_config
from socialcrm.features.engine import connect, register_folder
from socialcrm.listening import build_scorer_fn

FEATURES_FILE = "features.parquet"
MANIFEST_FILE = "feature_manifest.json"
BUILD_FILE = "build.json"


def build_from_config(
    cfg: DictConfig,
    register: Callable[[duckdb.DuckDBPyConnection], object],
    on_stage: Callable[[str], None] | None = None,
) -> FeatureTable:
    """Build ``cfg.features`` on tables that ``register`` puts into a fresh engine.

    Parameters
    ----------
    cfg
        The composed root config (features, listening, data.platforms).
    register
        Makes the canonical tables visible, e.g.
        ``lambda con: register_frames(con, tables)`` for in-memory frames.
    on_stage
        Called with the name of each stage as it starts.
    """
    fcfg = feature_config(cfg.features)
    eng = fcfg.engine
    con = connect(eng.threads, eng.memory_limit, eng.temp_dir)
    try:
        register(con)
        scorer_fn = build_scorer_fn(cfg.listening) if "social_listening" in fcfg.groups else None
        return build_features(con, fcfg, list(cfg.data.platforms), scorer_fn, on_stage=on_stage)
    finally:
        con.close()


def run_features(cfg: DictConfig, console: Console | None = None) -> FeatureTable:
    """Build ``cfg.features`` on ``cfg.data``'s ingested tables and write the outputs.

    Parameters
    ----------
    cfg
        The composed root config.
    console
        Progress and summary go here; ``None`` is silent.

    Returns
    -------
    FeatureTable
    """
    fcfg = feature_config(cfg.features)
    t0 = time.perf_counter()
    with Progress(
        SpinnerColumn(),
        TextColumn("features: {task.description}"),
        TimeElapsedColumn(),
        console=console,
        disable=console is None,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=None)
        ft = build_from_config(
            cfg,
            lambda con: register_folder(con, cfg.data.interim_dir),
            on_stage=lambda s: progress.update(task, description=s),
        )
    seconds = time.perf_counter() - t0
    write_feature_table(
        ft, Path(fcfg.output_dir), OmegaConf.to_container(cfg.features, resolve=True)
    )
    if console is not None:
        _summary(ft, seconds, fcfg.output_dir, console)
    return ft


def write_feature_table(ft: FeatureTable, out_dir: Path, features_cfg: dict) -> None:
    """Write the table, its manifest and build information atomically to ``out_dir``."""
    splits = ft.frame["split"].value_counts().to_dict()
    info = {
        "rows": len(ft.frame),
        "customers": int(ft.frame["customer_id"].nunique()),
        "cutoffs": [c.isoformat() for c in ft.cutoffs],
        "rows_per_split": {k: int(v) for k, v in sorted(splits.items())},
        "timings": ft.timings,
        "features": features_cfg,
    }
    with atomic_dir(out_dir) as tmp:
        write_parquet(pa.Table.from_pandas(ft.frame, preserve_index=False), tmp / FEATURES_FILE)
        (tmp / MANIFEST_FILE).write_text(
            json.dumps([s.to_dict() for s in ft.manifest], indent=2) + "\n"
        )
        (tmp / BUILD_FILE).write_text(json.dumps(info, indent=2, default=str) + "\n")


def _summary(ft: FeatureTable, seconds: float, out_dir: str, console: Console) -> None:
    frame = ft.frame
    table = Table(title=f"feature table: {len(frame):,} rows x {len(ft.feature_names)} features")
    for col in ("split", "cutoffs", "rows", "churn rate", "mean future spend"):
        table.add_column(col, justify="right" if col != "split" else "left")
    for split in ("train", "gap", "valid", "test"):
        part = frame[frame["split"] == split]
        if part.empty:
            continue
        table.add_row(
            split,
            str(part["cutoff"].nunique()),
            f"{len(part):,}",
            f"{part['label_churn'].mean():.3f}" if "label_churn" in part else "",
            f"{part['label_future_spend'].mean():.1f}" if "label_future_spend" in part else "",
        )
    console.print(table)
    stages = Table(title=f"build stages ({seconds:.1f} s)")
    stages.add_column("stage")
    stages.add_column("seconds", justify="right")
    stages.add_column("peak RSS (GB)", justify="right")
    for name, t in ft.timings.items():
        stages.add_row(name, f"{t['seconds']:.1f}", f"{t['peak_rss_gb']:.2f}")
    console.print(stages)
    console.print(f"written to {out_dir}")


@hydra.main(config_path="../../../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_features(cfg, console=Console())


if __name__ == "__main__":
    main()

"""Write the synthetic Social CRM world to ``data.raw_dir`` (the I/O edge of the generator).

Usage::

    python -m socialcrm.data.generate                      # default, ~20k customers
    python -m socialcrm.data.generate data=synthetic_small  # ~2k, for tests
    python -m socialcrm.data.generate data.generator.churn.contagion.enabled=false

The folder is replaced atomically: readers see the previous complete data set
or the new complete one, never a mix. Same config and seed give byte-identical
Parquet files (``_manifest.json`` lists their SHA-256).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import socialcrm.config  # noqa: F401  (registers the ${project_root:} resolver)
from socialcrm.data.io import ParquetSink, atomic_dir
from socialcrm.data.privacy import resolve_salt
from socialcrm.data.synthetic.config import generator_config
from socialcrm.data.synthetic.world import generate_tables

GENERATOR_VERSION = "1"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_synthetic(
    generator: DictConfig | dict, raw_dir: Path, salt: str | None, console: Console | None = None
) -> dict[str, int]:
    """Generate the world from a ``data.generator`` config and write it to ``raw_dir``.

    Parameters
    ----------
    generator
        The ``data.generator`` config node.
    raw_dir
        Target folder; canonical tables go to ``<raw_dir>/<table>.parquet`` and
        ground truth to ``<raw_dir>/truth/<table>.parquet``.
    salt
        Salt for hashing the fabricated identifiers (see ``privacy.resolve_salt``).
    console
        Where progress and the summary go; ``None`` is silent.

    Returns
    -------
    dict
        Rows per written table.
    """
    gcfg = generator_config(generator)
    salt = resolve_salt(salt)
    raw_dir = Path(raw_dir)
    with (
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
            disable=console is None,
            transient=True,
        ) as progress,
        atomic_dir(raw_dir) as tmp,
    ):
        sink = ParquetSink(tmp)
        for name, table in generate_tables(gcfg, salt, progress):
            sink.write(name, table)
            del table
        rows = sink.close()
        files = {f"{name}.parquet": _sha256(tmp / f"{name}.parquet") for name in sorted(rows)}
        manifest = {
            "dataset": "synthetic",
            "generator_version": GENERATOR_VERSION,
            "generator": OmegaConf.to_container(OmegaConf.structured(gcfg)),
            "rows": rows,
            "sha256": files,
        }
        (tmp / "_manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return rows


def run_generate(cfg: DictConfig, console: Console | None = None) -> dict[str, int]:
    """Generate ``cfg.data`` (a synthetic data config) and print a summary table."""
    if cfg.data.source != "synthetic":
        raise ValueError(
            f"data={cfg.data.name} is not a synthetic data set (source={cfg.data.source}); "
            "choose data=synthetic, data=synthetic_small or data=synthetic_large"
        )
    t0 = time.perf_counter()
    rows = write_synthetic(cfg.data.generator, Path(cfg.data.raw_dir), cfg.data.salt, console)
    if console is not None:
        table = Table(title=f"{cfg.data.name}: {time.perf_counter() - t0:.1f} s")
        table.add_column("table")
        table.add_column("rows", justify="right")
        for name, n in rows.items():
            table.add_row(name, f"{n:,}")
        console.print(table)
        console.print(f"written to {cfg.data.raw_dir}")
    return rows


@hydra.main(config_path="../../../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_generate(cfg, console=Console())


if __name__ == "__main__":
    main()

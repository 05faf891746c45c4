"""Write the synthetic Social CRM world to ``data.raw_dir`` (the I/O edge of the generator).

Usage::

    python -m socialcrm.data.generate                      # default, ~20k customers
    python -m socialcrm.data.generate data=synthetic_small  # ~2k, for tests
    python -m socialcrm.data.generate data.generator.churn.contagion.enabled=false

The folder is replaced atomically: readers see the previous complete data set
or the new complete one, never a mix. Same config and seed give byte-identical
Parquet files (``_manifest.json`` lists their SHA-256).

``_manifest.json`` also records the world's identity (:func:`generator_identity`:
generator config and version, a fingerprint of the salt, the generator's code) and
its hash. :func:`run_generate` skips generation when ``data.raw_dir`` already
holds the requested world intact; a different world is regenerated
(``data.on_mismatch: rebuild``, the default) or refused (``data.on_mismatch: error``).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import socialcrm.config  # noqa: F401  (registers the ${project_root:} resolver)
from socialcrm.data import io, privacy, synthetic
from socialcrm.data.io import ParquetSink, atomic_dir
from socialcrm.data.privacy import resolve_salt
from socialcrm.data.synthetic.config import GeneratorConfig, generator_config
from socialcrm.data.synthetic.world import generate_tables
from socialcrm.identity import (
    IdentityMismatchError,
    check_on_mismatch,
    describe_changes,
    file_sha256,
    identity_changes,
    identity_hash,
    tree_sha256,
)

GENERATOR_VERSION = "1"
MANIFEST_FILE = "_manifest.json"
#: The keys of ``_manifest.json`` that make up the world's identity.
IDENTITY_KEYS = ("generator_version", "generator", "salt_fingerprint", "code_sha256")


def generator_code_sha256() -> str:
    """Digest of the code that decides the world's bytes (what DVC's generate stage tracks)."""
    return tree_sha256([*synthetic.__path__, __file__, io.__file__, privacy.__file__])


def salt_fingerprint(salt: str) -> str:
    """A keyed digest of a constant: equal for equal salts, reveals no more than the hashed
    identifiers in the world already do."""
    key = salt.encode("utf-8")[:64]
    return hashlib.blake2b(b"socialcrm synthetic world", key=key, digest_size=16).hexdigest()


def generator_identity(gcfg: GeneratorConfig, salt: str, code_sha256: str) -> dict[str, Any]:
    """What a generated world depends on: its identity.

    Parameters
    ----------
    gcfg
        The validated generator config.
    salt
        The salt the identifiers are hashed with (only its fingerprint is kept).
    code_sha256
        :func:`generator_code_sha256`.

    Returns
    -------
    dict
        The :data:`IDENTITY_KEYS`, JSON-able.
    """
    return {
        "generator_version": GENERATOR_VERSION,
        "generator": OmegaConf.to_container(OmegaConf.structured(gcfg)),
        "salt_fingerprint": salt_fingerprint(salt),
        "code_sha256": code_sha256,
    }


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
        files = {f"{name}.parquet": file_sha256(tmp / f"{name}.parquet") for name in sorted(rows)}
        identity = generator_identity(gcfg, salt, generator_code_sha256())
        manifest = {
            "dataset": "synthetic",
            **identity,
            "identity_sha256": identity_hash(identity),
            "rows": rows,
            "sha256": files,
        }
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return rows


def read_world_manifest(raw_dir: str | Path) -> dict[str, Any] | None:
    """The ``_manifest.json`` of a generated world; None if absent or unreadable."""
    path = Path(raw_dir) / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def world_status(raw_dir: str | Path, requested: dict[str, Any]) -> tuple[str, str]:
    """How ``raw_dir`` compares with the requested world.

    Returns
    -------
    tuple of str
        ``("absent", "")`` (no folder or an empty one), ``("same", "")`` (this
        world, every file as its manifest lists), ``("damaged", reason)`` (this
        world with missing or changed files) or ``("differs", reason)`` (another
        world, or files that are not a generated world). The reason completes
        "``raw_dir`` ..." and names the keys that differ as ``old -> new``.
    """
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir() or not any(raw_dir.iterdir()):
        return "absent", ""
    manifest = read_world_manifest(raw_dir)
    if manifest is None:
        return "differs", f"holds files but no readable {MANIFEST_FILE} (not a generated world)"
    recorded = {k: manifest[k] for k in IDENTITY_KEYS if k in manifest}
    if identity_hash(recorded) != identity_hash(requested):
        return (
            "differs",
            f"holds another world ({describe_changes(identity_changes(recorded, requested))})",
        )
    bad = sorted(
        name
        for name, digest in (manifest.get("sha256") or {}).items()
        if not (raw_dir / name).is_file() or file_sha256(raw_dir / name) != digest
    )
    if bad or not manifest.get("sha256"):
        return "damaged", f"holds this world with files missing or changed: {bad or 'all'}"
    return "same", ""


def run_generate(cfg: DictConfig, console: Console | None = None) -> dict[str, int]:
    """Generate ``cfg.data`` (a synthetic data config) unless ``data.raw_dir`` holds it already.

    Parameters
    ----------
    cfg
        The composed root config; ``data.on_mismatch`` (``rebuild``, the default,
        or ``error``) decides what happens to a different world in ``data.raw_dir``.
    console
        Where the decision, progress and the summary go; ``None`` is silent.

    Returns
    -------
    dict
        Rows per table (of the kept world when generation is skipped).

    Raises
    ------
    IdentityMismatchError
        With ``data.on_mismatch: error``, when ``data.raw_dir`` holds another world.
    """
    if cfg.data.source != "synthetic":
        raise ValueError(
            f"data={cfg.data.name} is not a synthetic data set (source={cfg.data.source}); "
            "choose data=synthetic, data=synthetic_small or data=synthetic_large"
        )
    on_mismatch = check_on_mismatch(cfg.data.get("on_mismatch", "rebuild"), "data.on_mismatch")
    raw_dir = Path(cfg.data.raw_dir)
    requested = generator_identity(
        generator_config(cfg.data.generator), resolve_salt(cfg.data.salt), generator_code_sha256()
    )
    status, reason = world_status(raw_dir, requested)
    say = console.print if console is not None else (lambda *a, **k: None)
    if status == "same":
        say(
            f"{raw_dir} already holds this world (identity {identity_hash(requested)[:12]}): "
            "generation skipped"
        )
        return dict(read_world_manifest(raw_dir)["rows"])
    if status == "differs" and on_mismatch == "error":
        raise IdentityMismatchError(
            f"data.raw_dir {raw_dir} {reason}. Regenerate it with "
            "data.on_mismatch=rebuild, or generate this one elsewhere (data.name or data.raw_dir)"
        )
    if status != "absent":
        say(f"{raw_dir} {reason}: regenerating")
    t0 = time.perf_counter()
    rows = write_synthetic(cfg.data.generator, raw_dir, cfg.data.salt, console)
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

"""Build the feature table of an ingested data set and write it (the I/O edge).

Usage::

    python -m socialcrm.features.run                       # default data set and features=all
    python -m socialcrm.features.run features=crm_social data=synthetic_small
    socialcrm features features.churn.definition=inactivity

Reads ``data.interim_dir`` (made by ``socialcrm ingest``) and writes, atomically,
to ``features.output_dir``:

- ``features.parquet``: one row per customer per cutoff (keys, split, features, labels);
- ``feature_manifest.json``: name, group, description, dtype and role of each column;
- ``build.json``: cutoffs, rows per split, per-stage timings, the feature config and
  the table's identity (:func:`feature_identity`) with its hash.

:func:`run_features` always builds; :func:`ensure_features` reuses the table at
``features.output_dir`` when its recorded identity equals the request's and
otherwise rebuilds it (``features.on_mismatch: rebuild``) or refuses
(``features.on_mismatch: error``), naming the keys that differ.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import duckdb
import hydra
import pandas as pd
import pyarrow as pa
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

import socialcrm.config  # noqa: F401  (registers the ${project_root:} resolver)
from socialcrm import features as features_package
from socialcrm import listening as listening_package
from socialcrm.data.io import ParquetSink, atomic_dir
from socialcrm.data.load import read_manifest
from socialcrm.errors import USAGE_ERROR, ConfigError, UserError
from socialcrm.features.backends import FeatureBackend, open_backend
from socialcrm.features.build import FeatureTable, build_features
from socialcrm.features.config import content_config, feature_config
from socialcrm.identity import (
    IdentityMismatchError,
    describe_changes,
    file_sha256,
    identity_changes,
    identity_hash,
    tree_sha256,
)
from socialcrm.listening import build_scorer_fn

FEATURES_FILE = "features.parquet"
MANIFEST_FILE = "feature_manifest.json"
BUILD_FILE = "build.json"
#: The code whose edits change a table's content, by the group that needs it.
CODE_PACKAGES = {"features": features_package, "listening": listening_package}


def open_feature_backend(cfg: DictConfig, console: Console | None = None) -> FeatureBackend:
    """The backend ``features.engine`` names, configured from ``features.duckdb`` or
    ``features.spark``.

    DuckDB's temporary disk is capped at the configured ``max_temp_directory_size`` or
    90% of the free space where ``temp_dir`` lives, whichever is smaller, so a build that
    would fill the disk stops at the cap with :class:`FeatureResourceError` instead.
    """
    fcfg = feature_config(cfg.features)
    duck = asdict(fcfg.duckdb)
    duck.pop("shard_rows")  # the build's, not the connection's
    if fcfg.engine == "duckdb" and duck.get("temp_dir"):
        duck["max_temp_directory_size"], capped = temp_cap(
            duck["max_temp_directory_size"], duck["temp_dir"]
        )
        if capped and console is not None:
            console.print(f"features: {capped}")
    spark = {k: v for k, v in asdict(fcfg.spark).items() if v is not None}
    return open_backend(fcfg.engine, duckdb=duck, spark=spark)


def temp_cap(configured: str, temp_dir: str | Path) -> tuple[str, str | None]:
    """``max_temp_directory_size`` bounded by 90% of the free space at ``temp_dir``.

    Returns
    -------
    tuple
        The size to set (``"<n>B"`` or the configured text) and, when the free space is
        the tighter bound, a sentence saying so (else None).
    """
    folder = Path(temp_dir)
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    want = parse_size(configured)
    allowed = int(free * 0.9)
    if want <= allowed:
        return configured, None
    return f"{allowed}B", (
        f"temporary disk capped at {allowed / 1e9:.1f} GB (90% of the free space at {folder}),"
        f" below features.duckdb.max_temp_directory_size={configured}"
    )


def parse_size(text: str) -> int:
    """Bytes in a size such as ``20GB``, ``512MiB`` or ``1e9B``."""
    units = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
    units |= {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
    t = str(text).strip().upper().replace(" ", "")
    number = t.rstrip("KMGTIB")
    unit = t[len(number) :]
    try:
        return int(float(number) * units[unit])
    except (KeyError, ValueError):
        raise ConfigError(f"cannot read the size {text!r} (use e.g. 20GB or 512MiB)") from None


class FeatureResourceError(UserError):
    """The feature build hit its configured memory or temporary-disk limit (exit code 2)."""

    exit_code = USAGE_ERROR


def _resource_error(err: BaseException, fcfg) -> FeatureResourceError:
    d = fcfg.duckdb
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return FeatureResourceError(
        "the feature build stopped at its resource limits: "
        f"memory features.duckdb.memory_limit={d.memory_limit}, temporary disk "
        f"features.duckdb.max_temp_directory_size={d.max_temp_directory_size} at "
        f"features.duckdb.temp_dir={d.temp_dir} (DuckDB: {first}). Raise the limits, free "
        "disk space there, or build on Spark (features.engine=spark)"
    )


def build_from_config(
    cfg: DictConfig,
    register: Callable[[FeatureBackend], object],
    on_stage: Callable[[str], None] | None = None,
    cutoffs: list | None = None,
    with_labels: bool = True,
    sink: Callable[[pd.DataFrame], None] | None = None,
    console: Console | None = None,
) -> FeatureTable:
    """Build ``cfg.features`` on tables that ``register`` puts into a fresh backend.

    Parameters
    ----------
    cfg
        The composed root config (features, listening, data.platforms).
    register
        Makes the canonical tables visible, e.g. ``lambda db: db.register_frames(tables)``
        for in-memory frames.
    on_stage
        Called with the name of each stage as it starts.
    cutoffs, with_labels, sink
        As for :func:`~socialcrm.features.build.build_features` (default: the
        configured cutoffs, with labels, the table returned whole).

    Raises
    ------
    FeatureResourceError
        When DuckDB runs out of its memory limit or temporary-disk cap.
    """
    fcfg = feature_config(cfg.features)
    db = open_feature_backend(cfg, console)
    try:
        register(db)
        scorer_fn = build_scorer_fn(cfg.listening) if "social_listening" in fcfg.groups else None
        return build_features(
            db,
            fcfg,
            list(cfg.data.platforms),
            scorer_fn,
            cutoffs=cutoffs,
            with_labels=with_labels,
            on_stage=on_stage,
            sink=sink,
        )
    except duckdb.OutOfMemoryException as err:
        raise _resource_error(err, fcfg) from err
    except duckdb.IOException as err:
        if "space" not in str(err).lower():
            raise
        raise _resource_error(err, fcfg) from err
    finally:
        db.close()


def feature_identity(cfg: DictConfig, fingerprints: Mapping[str, Any]) -> dict[str, Any]:
    """What the feature table of ``cfg`` depends on: the table's identity.

    Pure: the fingerprints of data and code are measured by
    :func:`input_fingerprints` and passed in.

    Parameters
    ----------
    cfg
        The composed root config (``features``, ``data.platforms``, ``listening``).
    fingerprints
        ``data`` (name, as_of and per-table SHA-256 of the ingested data),
        ``code_sha256`` (per package) and ``listening_model_sha256`` (or None).

    Returns
    -------
    dict
        ``features`` (:func:`~socialcrm.features.config.content_config`),
        ``data`` (with ``platforms``), ``listening`` (scorer and model digest,
        only with the ``social_listening`` group) and ``code_sha256``.
    """
    fcfg = feature_config(cfg.features)
    identity: dict[str, Any] = {
        "features": content_config(fcfg),
        "data": {**fingerprints["data"], "platforms": list(cfg.data.platforms)},
        "code_sha256": dict(fingerprints["code_sha256"]),
    }
    if "social_listening" in fcfg.groups:
        identity["listening"] = {
            "scorer": str(cfg.listening.get("scorer", "vader")),
            "model_sha256": fingerprints.get("listening_model_sha256"),
        }
    return identity


def input_fingerprints(cfg: DictConfig) -> dict[str, Any]:
    """Measure what :func:`feature_identity` needs from disk (reads, never writes).

    The ingested tables are hashed by content, so re-ingesting the same data keeps
    the identity; the feature (and, with ``social_listening``, listening) code by
    its source files; a trained listening model by its file.

    Raises
    ------
    FileNotFoundError
        If ``data.interim_dir`` holds no ingested data.
    """
    interim = Path(cfg.data.interim_dir)
    manifest = read_manifest(interim)
    data = {
        "name": manifest.get("name"),
        "as_of": manifest.get("as_of"),
        "tables_sha256": {t: file_sha256(interim / f"{t}.parquet") for t in manifest["tables"]},
    }
    listening = "social_listening" in feature_config(cfg.features).groups
    packages = ["features", "listening"] if listening else ["features"]
    code = {name: tree_sha256(CODE_PACKAGES[name].__path__) for name in packages}
    model_path = cfg.listening.get("model_path") if listening else None
    model_sha = (
        file_sha256(model_path)
        if cfg.listening.get("scorer") == "model" and model_path and Path(model_path).is_file()
        else None
    )
    return {"data": data, "code_sha256": code, "listening_model_sha256": model_sha}


def requested_identity(cfg: DictConfig) -> dict[str, Any]:
    """The identity of the feature table ``cfg`` asks for (see :func:`feature_identity`)."""
    return feature_identity(cfg, input_fingerprints(cfg))


def recorded_identity(out_dir: str | Path) -> dict[str, Any] | None:
    """The identity recorded with the table in ``out_dir``.

    Returns
    -------
    dict or None
        None when there is no complete table; an empty dict when its
        ``build.json`` records no identity (a table built before identities were
        recorded, or an unreadable file), which differs from every request.
    """
    out_dir = Path(out_dir)
    if not all((out_dir / f).is_file() for f in (FEATURES_FILE, MANIFEST_FILE, BUILD_FILE)):
        return None
    try:
        info = json.loads((out_dir / BUILD_FILE).read_text())
    except (OSError, ValueError):
        return {}
    identity = info.get("identity") if isinstance(info, dict) else None
    return identity if isinstance(identity, dict) else {}


def ensure_features(cfg: DictConfig, console: Console | None = None) -> Path:
    """The path of a feature table that matches ``cfg``: reused if it does, else built.

    The table at ``features.output_dir`` is reused only when its recorded identity
    equals :func:`requested_identity`. A table built for another request (or one
    with no recorded identity) is rebuilt with ``features.on_mismatch: rebuild``
    (the default) and refused with ``features.on_mismatch: error``. A missing
    table is built.

    Parameters
    ----------
    cfg
        The composed root config.
    console
        Reuse, rebuild reasons, progress and summary go here; ``None`` is silent.

    Returns
    -------
    Path
        ``<features.output_dir>/features.parquet``.

    Raises
    ------
    IdentityMismatchError
        With ``on_mismatch: error``, naming each differing key as ``old -> new``.
    FileNotFoundError
        If the data are not ingested.
    """
    fcfg = feature_config(cfg.features)
    out_dir = Path(fcfg.output_dir)
    requested = requested_identity(cfg)
    recorded = recorded_identity(out_dir)
    say = console.print if console is not None else (lambda *a, **k: None)
    if recorded is not None:
        digest = identity_hash(requested)
        if identity_hash(recorded) == digest:
            say(f"features: reusing {out_dir} (identity {digest[:12]})")
            return out_dir / FEATURES_FILE
        reason = (
            describe_changes(identity_changes(recorded, requested))
            if recorded
            else "its build.json records no identity (built before identities were recorded)"
        )
        if fcfg.on_mismatch == "error":
            raise IdentityMismatchError(
                f"the feature table in {out_dir} was built for another request: {reason}. "
                "Rebuild it with features.on_mismatch=rebuild, or write this one elsewhere "
                "(features.output_dir or features.name)"
            )
        say(f"features: {out_dir} was built for another request ({reason}): rebuilding")
    run_features(cfg, console, identity=requested)
    return out_dir / FEATURES_FILE


def run_features(
    cfg: DictConfig,
    console: Console | None = None,
    identity: Mapping[str, Any] | None = None,
) -> FeatureTable:
    """Build ``cfg.features`` on ``cfg.data``'s ingested tables and write the outputs.

    Always builds; :func:`ensure_features` reuses a matching table instead.

    Parameters
    ----------
    cfg
        The composed root config.
    console
        Progress and summary go here; ``None`` is silent.
    identity
        The request's identity if already measured (default:
        :func:`requested_identity`); recorded in ``build.json``.

    Returns
    -------
    FeatureTable
    """
    fcfg = feature_config(cfg.features)
    # measured before the build: the identity describes the inputs the build reads
    identity = dict(identity) if identity is not None else requested_identity(cfg)
    t0 = time.perf_counter()
    out_dir = Path(fcfg.output_dir)
    with atomic_dir(out_dir) as tmp:
        # streamed a cutoff at a time: the whole table is never in memory
        parquet = ParquetSink(tmp)

        def sink(chunk: pd.DataFrame) -> None:
            parquet.write(
                Path(FEATURES_FILE).stem, pa.Table.from_pandas(chunk, preserve_index=False)
            )

        ft = build_ingested(cfg, console, "features", sink=sink)
        parquet.close()
        _write_sidecars(
            ft, tmp, OmegaConf.to_container(cfg.features, resolve=True), identity=identity
        )
    seconds = time.perf_counter() - t0
    if console is not None:
        _summary(ft, seconds, fcfg.output_dir, console)
    return ft


def features_as_of(
    cfg: DictConfig,
    as_of: str | pd.Timestamp,
    with_labels: bool = False,
    console: Console | None = None,
) -> FeatureTable:
    """Point-in-time features of every customer active at ``as_of`` (one cutoff), built
    by the same code and config as the training table, from ``data.interim_dir``.

    What batch scoring and drift monitoring read. Nothing is written.

    Parameters
    ----------
    as_of
        The cutoff: features use only events strictly before it.
    with_labels
        Add the labels (only meaningful once the horizon after ``as_of`` is observed:
        realised performance in monitoring).

    Raises
    ------
    FileNotFoundError
        If the data set is not ingested.
    """
    cutoff = pd.Timestamp(as_of).normalize()
    if not Path(cfg.data.interim_dir).is_dir():
        raise FileNotFoundError(
            f"{cfg.data.interim_dir} does not exist: ingest the data first (socialcrm ingest)"
        )
    return build_ingested(
        cfg,
        console,
        f"features as of {cutoff.date()}",
        cutoffs=[cutoff],
        with_labels=with_labels,
    )


def build_ingested(
    cfg: DictConfig, console: Console | None, label: str, **build: Any
) -> FeatureTable:
    """:func:`build_from_config` on ``data.interim_dir`` with a progress spinner naming
    each stage (``build``: ``cutoffs``, ``with_labels``)."""
    with Progress(
        SpinnerColumn(),
        TextColumn(f"{label}: {{task.description}}"),
        TimeElapsedColumn(),
        console=console,
        disable=console is None,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=None)
        return build_from_config(
            cfg,
            lambda db: db.register_folder(cfg.data.interim_dir),
            on_stage=lambda s: progress.update(task, description=s),
            console=console,
            **build,
        )


def _write_sidecars(
    ft: FeatureTable, folder: Path, features_cfg: dict, identity: Mapping[str, Any] | None
) -> None:
    info = {
        "rows": ft.n_rows,
        "customers": ft.n_customers,
        "cutoffs": [c.isoformat() for c in ft.cutoffs],
        "rows_per_split": {k: int(v) for k, v in sorted(ft.splits["rows"].items())},
        "timings": ft.timings,
        "features": features_cfg,
    }
    if identity is not None:
        info["identity"] = dict(identity)
        info["identity_sha256"] = identity_hash(identity)
    (folder / MANIFEST_FILE).write_text(
        json.dumps([s.to_dict() for s in ft.manifest], indent=2) + "\n"
    )
    (folder / BUILD_FILE).write_text(json.dumps(info, indent=2, default=str) + "\n")


def _summary(ft: FeatureTable, seconds: float, out_dir: str, console: Console) -> None:
    table = Table(title=f"feature table: {ft.n_rows:,} rows x {len(ft.feature_names)} features")
    for col in ("split", "cutoffs", "rows", "churn rate", "mean future spend"):
        table.add_column(col, justify="right" if col != "split" else "left")
    for split, r in ft.splits.iterrows():
        table.add_row(
            str(split),
            str(r["cutoffs"]),
            f"{int(r['rows']):,}",
            "" if pd.isna(r["churn_rate"]) else f"{r['churn_rate']:.3f}",
            "" if pd.isna(r["mean_future_spend"]) else f"{r['mean_future_spend']:.1f}",
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

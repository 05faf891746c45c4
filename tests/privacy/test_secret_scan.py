"""Secrets never land on disk: every byte a run writes is scanned for the salt.

The main path (generate, ingest, features, insight report, train and register, a
``--multirun`` sweep) runs through the real entry points in subprocesses with
``SOCIALCRM_SALT`` set to a random string; the own-data path runs with the salt
given in config (a Hydra override). Everything under the run's root folder and
working directory (SQLite store, artifacts, Hydra run folders, DVC-style outputs,
reports) and everything the processes printed is searched for the salt and its
first 12 characters. The scanner decodes what would hide a string from a byte
search (Parquet, SQLite pages, gzip and zip members); a positive control shows it
finds a planted secret in each.
"""

from __future__ import annotations

import gzip
import os
import secrets
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from socialcrm.data.example_export import write_example_export
from socialcrm.data.schemas import TABLES

pytestmark = pytest.mark.xdist_group("secrets")


def _texts(path: Path) -> list[bytes]:
    """The bytes of ``path`` plus decoded views of containers that compress or page text."""
    raw = path.read_bytes()
    out = [raw]
    name = path.name.lower()
    if raw[:4] == b"PAR1" or name.endswith((".parquet", ".pq")):
        table = pq.read_table(path)
        out.append(str(table.schema.metadata).encode())
        out.append(table.to_pandas().to_csv(index=False).encode("utf-8", "replace"))
    if raw[:16] == b"SQLite format 3\x00":
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            out.append("\n".join(con.iterdump()).encode("utf-8", "replace"))
        finally:
            con.close()
    if raw[:2] == b"\x1f\x8b":
        out.append(gzip.decompress(raw))
    if raw[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(path) as zf:
            out.extend(zf.read(n) for n in zf.namelist())
    return out


def find_secret(roots: list[Path], needles: list[str]) -> list[str]:
    """Every ``file: needle`` hit under ``roots`` (decoded views included)."""
    hits = []
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            for blob in _texts(path):
                hits += [f"{path}: {n!r}" for n in needles if n.encode() in blob]
    return sorted(set(hits))


def scanned_files(roots: list[Path]) -> int:
    return sum(1 for root in roots for p in root.rglob("*") if p.is_file())


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{args} failed:\n{output[-4000:]}"
    return output


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SOCIALCRM_SALT", "SOCIALCRM_ROOT")}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", **extra)
    return env


def test_the_scanner_finds_a_planted_secret_in_every_container(tmp_path):
    salt = secrets.token_urlsafe(24)
    pq.write_table(pa.table({"x": [f"a{salt}b"]}), tmp_path / "t.parquet", compression="zstd")
    con = sqlite3.connect(tmp_path / "store.db")
    con.execute("create table params (key text, value text)")
    con.execute("insert into params values ('data.salt', ?)", (salt,))
    con.commit()
    con.close()
    (tmp_path / "log.gz").write_bytes(gzip.compress(salt.encode()))
    with zipfile.ZipFile(tmp_path / "a.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("inner.txt", salt * 3)
    (tmp_path / "clean.txt").write_text("nothing here")
    hits = find_secret([tmp_path], [salt[:12]])
    found = {Path(h.split(":")[0]).name for h in hits}
    assert found == {"t.parquet", "store.db", "log.gz", "a.zip"}


@pytest.fixture(scope="module")
def main_path(tmp_path_factory):
    """The main path with a random ``$SOCIALCRM_SALT``: (salt, scanned folders, printed text)."""
    salt = secrets.token_urlsafe(32)
    root = tmp_path_factory.mktemp("secret_main")
    cwd = tmp_path_factory.mktemp("secret_cwd")
    env = _env(SOCIALCRM_SALT=salt)
    common = ["experiment=quick", f"paths.root_dir={root}"]
    printed = []
    for verb in ("generate", "ingest", "features", "report"):
        printed.append(_run(["-m", "socialcrm.cli", verb, *common], cwd, env))
    printed.append(_run(["-m", "socialcrm.train", *common, "task.explain_max_rows=300"], cwd, env))
    printed.append(
        _run(
            ["-m", "socialcrm.train", "--multirun", *common, "model=recency_rule,logreg"],
            cwd,
            env,
        )
    )
    return salt, [root, cwd], "\n".join(printed)


def test_main_path_writes_the_salt_nowhere(main_path):
    salt, roots, printed = main_path
    root = roots[0]
    # the run really wrote what the scan is meant to cover
    assert (root / "mlruns" / "mlflow.db").is_file()
    assert list((root / "logs").rglob(".hydra/config.yaml"))
    assert list((root / "logs").rglob("multirun.yaml"))
    assert list((root / "mlruns").rglob("MLmodel"))
    assert list((root / "reports").rglob("report.md"))
    assert scanned_files(roots) > 100
    assert find_secret(roots, [salt, salt[:12]]) == []
    assert salt[:12] not in printed


def test_main_path_logs_that_a_salt_was_used_not_which(main_path, tmp_path):
    """The run's config in MLflow says the salt was set (redacted), not its value."""
    import mlflow
    import yaml

    _, roots, _ = main_path
    client = mlflow.MlflowClient(f"sqlite:///{roots[0] / 'mlruns' / 'mlflow.db'}")
    runs = [
        r
        for exp in client.search_experiments()
        for r in client.search_runs([exp.experiment_id])
        if "model.name" in r.data.params
    ]
    assert len(runs) >= 3  # the single run and both sweep jobs
    for run in runs:
        local = client.download_artifacts(run.info.run_id, "config.yaml", str(tmp_path))
        config = yaml.safe_load(Path(local).read_text())
        assert config["data"]["salt"] == config["task"]["salt"] == "<redacted>"
        assert not any("salt" in k for k in run.data.params)


def test_own_data_path_with_a_salt_from_config_writes_it_nowhere(small_world, tmp_path):
    salt = secrets.token_urlsafe(32)
    names = [n for n in TABLES if (small_world.root / f"{n}.parquet").is_file()]
    raw = tmp_path / "export"
    write_example_export({n: small_world[n] for n in names}, raw)
    root, cwd = tmp_path / "root", tmp_path / "cwd"
    cwd.mkdir()
    env = _env()
    common = [
        "data=own",
        f"data.raw_dir={raw}",
        f"data.salt={salt}",
        f"paths.root_dir={root}",
        "features.cutoffs.every_months=3",
    ]
    printed = [_run(["-m", "socialcrm.cli", "ingest", *common], cwd, env)]
    printed.append(_run(["-m", "socialcrm.train", *common, "task.explain=false"], cwd, env))
    customers = pd.read_parquet(root / "data" / "interim" / "own" / "customers.parquet")
    assert customers.email_hash.notna().any()  # the salt was used
    assert list((root / "logs").rglob("overrides.yaml"))
    assert find_secret([root, cwd], [salt, salt[:12]]) == []
    assert salt[:12] not in "\n".join(printed)

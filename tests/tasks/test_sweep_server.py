"""A Hydra ``--multirun`` sweep logged to a real MLflow tracking server
(``tracking=server``): every job is its own run, and models are registered through
the server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from socialcrm.config import compose
from socialcrm.data import load
from socialcrm.data.generate import run_generate

pytestmark = pytest.mark.xdist_group("tune")

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, server: subprocess.Popen, seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"mlflow server exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"mlflow server at {url} not healthy after {seconds:.0f} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    store = tmp_path_factory.mktemp("mlflow_server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{store}/server.db",
            "--artifacts-destination",
            str(store / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(store / "server.log").open("w"),
        # no GenAI job runner: it would start worker processes this test does not need
        env={
            **os.environ,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        },
        start_new_session=True,  # its own process group: the server and its workers stop together
    )
    try:
        _wait_healthy(url, proc)
        yield url, store
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_multirun_sweep_logs_one_run_per_job_to_a_tracking_server(server, tmp_path):
    url, store = server
    root = tmp_path / "repo"
    overrides = ["experiment=quick", f"paths.root_dir={root}"]
    cfg = compose(overrides)
    run_generate(cfg)
    load.ingest(load.DataSource.from_config(cfg.data))

    cmd = [
        sys.executable,
        "-m",
        "socialcrm.train",
        "--multirun",
        *overrides,
        "task.explain=false",
        "model=logreg,recency_rule",
        "train.register=true",
        "tracking=server",
        f"tracking.tracking_uri={url}",
    ]
    env = {**os.environ, "SOCIALCRM_N_JOBS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]

    client = MlflowClient(tracking_uri=url)
    # the small preset is a development preset: its runs go to the -dev experiment
    exp = client.get_experiment_by_name("socialcrm-churn-dev")
    assert exp is not None, "no socialcrm-churn-dev experiment on the server"
    runs = client.search_runs([exp.experiment_id])
    assert sorted(r.data.tags["model"] for r in runs) == ["logreg", "recency_rule"]
    assert all(r.info.status == "FINISHED" for r in runs)
    for r in runs:
        assert "valid_roc_auc" in r.data.metrics and "test_roc_auc" in r.data.metrics
        assert r.data.params.get("model.name") == r.data.tags["model"]
        # the job's own overrides, from Hydra
        assert f"model={r.data.tags['model']}" in r.data.tags["hydra.overrides"].split()
        # artifacts went through the server's proxy into its own destination
        assert r.info.artifact_uri.startswith("mlflow-artifacts:")
        assert {a.path for a in client.list_artifacts(r.info.run_id)} >= {"config.yaml"}

    versions = client.search_model_versions("name='socialcrm-churn'")
    assert {v.run_id for v in versions} == {r.info.run_id for r in runs}
    latest = max(versions, key=lambda v: int(v.version))
    assert client.get_model_version_by_alias("socialcrm-churn", "challenger").version == (
        latest.version
    )
    assert any((store / "artifacts").rglob("MLmodel")), "the model is stored server-side"
    # nothing was written to the local default store
    assert not (root / "mlruns" / "mlflow.db").exists()

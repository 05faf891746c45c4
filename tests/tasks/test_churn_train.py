"""The training entry point end to end on the quick preset: metrics, MLflow run,
registry alias, DVC outputs, privacy of artifacts, and the registered model
loaded by alias in a fresh process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from socialcrm.config import compose
from socialcrm.data import load
from socialcrm.data.generate import run_generate
from socialcrm.runner import feature_table_path, train

pytestmark = pytest.mark.xdist_group("train")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_root")
    # the small preset is a dev preset: registration is asked for explicitly
    cfg = compose(["experiment=quick", f"paths.root_dir={root}", "train.register=true"])
    run_generate(cfg)
    load.ingest(load.DataSource.from_config(cfg.data))
    outcome = train(cfg)
    return cfg, outcome, root


def test_model_beats_the_recency_rule_and_is_graded(trained):
    _, outcome, _ = trained
    m, b = outcome.result.metrics, outcome.result.baseline_metrics
    assert 0.6 < m["roc_auc"] <= 1.0
    assert m["roc_auc"] > b["roc_auc"]
    assert m["pr_auc"] > b["pr_auc"]
    assert outcome.result.grade in ("A", "B")
    # calibrated on validation: the mean predicted rate is close to the observed one
    scored = outcome.result.scored
    assert abs(scored.probability.mean() - scored.label.mean()) < 0.03
    assert outcome.objective == pytest.approx(m["valid_roc_auc"])


def test_the_run_holds_config_provenance_metrics_plots_and_model(trained):
    cfg, outcome, root = trained
    client = mlflow.MlflowClient(cfg.tracking.tracking_uri)
    run = client.get_run(outcome.run_id)
    assert run.data.params["model.name"] == "lightgbm"
    assert run.data.params["task.calibration"] == "isotonic"
    # the params that tell runs apart, not the whole config (that is config.yaml)
    assert len(run.data.params) <= 60, sorted(run.data.params)
    assert not any(k.startswith(("data.generator", "tune.", "paths.")) for k in run.data.params)
    assert {"seed", "features.horizon_days", "data.name", "features.identity"} <= set(
        run.data.params
    )
    assert run.data.tags["hydra.overrides"] == (
        f"experiment=quick paths.root_dir={root} train.register=true"
    )
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", run.data.tags["mlflow.source.git.commit"])
    assert len(run.data.tags["data.features_sha256"]) == 64
    assert run.inputs.dataset_inputs, "no mlflow.data dataset logged"
    for key in ("roc_auc", "pr_auc", "brier", "log_loss", "lift_at_10", "capture_at_10"):
        assert f"test_{key}" in run.data.metrics and f"test_baseline_{key}" in run.data.metrics
    assert run.data.metrics["test_roc_auc"] == pytest.approx(outcome.result.metrics["roc_auc"])
    assert "valid_roc_auc" in run.data.metrics and "roc_auc" not in run.data.metrics
    names = {
        a.path
        for folder in ("", "plots", "tables", "explanations")
        for a in client.list_artifacts(outcome.run_id, folder)
    }
    for expected in (
        "config.yaml",
        "feature_manifest.json",
        "plots/roc.png",
        "plots/precision_recall.png",
        "plots/calibration.png",
        "plots/gain.png",
        "plots/profit.png",
        "plots/shap_beeswarm.png",
        "plots/shap_bar.png",
        "tables/shap_importance.csv",
        "tables/shap_groups.csv",
        "plots/shap_groups.png",
        "explanations/reasons.csv",
    ):
        assert expected in names, f"{expected} missing from {sorted(names)}"


def test_alias_points_at_the_new_version(trained):
    cfg, outcome, _ = trained
    client = mlflow.MlflowClient(cfg.tracking.tracking_uri)
    version = client.get_model_version_by_alias("socialcrm-churn", "challenger")
    assert str(version.version) == outcome.version
    assert version.run_id == outcome.run_id
    info = mlflow.models.get_model_info("models:/socialcrm-churn@challenger")
    inputs = set(info.signature.inputs.input_names())
    assert {"recency_days", "n_recent_churned_neighbours_180d", "plan"} <= inputs
    assert "customer_id" not in inputs  # identifiers are not model inputs
    outputs = set(info.signature.outputs.input_names())
    assert {"probability", "decision", "raising_1", "lowering_1"} <= outputs


def test_dvc_metrics_and_plot_files(trained):
    cfg, outcome, _ = trained
    out = Path(cfg.train.outputs_dir) / "churn"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"]["roc_auc"] == pytest.approx(outcome.result.metrics["roc_auc"])
    assert metrics["grade"] == outcome.result.grade
    for name in ("calibration", "lift", "profit"):
        assert len(pd.read_csv(out / f"{name}.csv")) > 5


def test_no_raw_identifier_reaches_the_artifacts(trained):
    cfg, _, root = trained
    ids = set(pd.read_parquet(feature_table_path(cfg)).customer_id.astype(str))
    customers = pd.read_parquet(f"{cfg.data.interim_dir}/customers.parquet")
    secrets = ids | set(customers.get("email_hash", pd.Series(dtype=str)).dropna().astype(str))
    pattern = re.compile(r"\bC\d{4,}\b")
    checked = 0
    for path in (root / "mlruns" / "artifacts").rglob("*"):
        if path.suffix not in {".csv", ".json", ".yaml", ".txt", ".md", ".html"}:
            continue
        text = path.read_text(errors="ignore")
        checked += 1
        found = set(pattern.findall(text)) & secrets
        assert not found, f"{path} holds raw customer ids, e.g. {sorted(found)[:3]}"
    assert checked > 5
    reasons = pd.read_csv(next((root / "mlruns" / "artifacts").rglob("reasons.csv")))
    assert reasons.customer_hash.str.fullmatch(r"[0-9a-f]{16,}").all()
    assert not set(reasons.customer_hash) & ids


def test_registered_model_scores_the_feature_table_in_a_fresh_process(trained, tmp_path):
    cfg, outcome, _ = trained
    out = tmp_path / "scored.parquet"
    script = textwrap.dedent(
        f"""
        import mlflow, pandas as pd
        frame = pd.read_parquet({str(feature_table_path(cfg))!r})
        test = frame[(frame["split"] == "test") & frame["label_churn"].notna()]
        model = mlflow.pyfunc.load_model("models:/socialcrm-churn@challenger")
        scored = model.predict(test)
        scored.insert(0, "customer_id", test["customer_id"].to_numpy())
        scored.to_parquet({str(out)!r})
        """
    )
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": str(cfg.tracking.tracking_uri),
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    env.pop("SOCIALCRM_ROOT", None)
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    scored = pd.read_parquet(out)
    for col in ("probability", "decision", "raising_1", "raising_3", "lowering_1"):
        assert col in scored.columns
    expected = outcome.result.scored.set_index("customer_id").probability
    got = scored.set_index("customer_id").probability
    pd.testing.assert_series_equal(
        got.sort_index(), expected.loc[got.index].sort_index(), check_names=False, atol=1e-9
    )
    assert (scored.raising_1.str.len() > 0).mean() > 0.95
    assert scored.raising_1.str.contains(r" = .*\(\+\d").any()

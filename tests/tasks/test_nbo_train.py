"""task=nbo through the shared run edge on the quick preset: contact rows, the policy
against the logging, static, random and oracle policies off-policy and against the
truth, the MLflow run, and the registered offer model in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import mlflow
import numpy as np
import pandas as pd
import pytest

from socialcrm.config import compose
from socialcrm.data import load
from socialcrm.data.generate import run_generate
from socialcrm.runner import feature_table_path, train

pytestmark = pytest.mark.xdist_group("nbo")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("nbo_root")
    common = ["experiment=quick", "task=nbo", f"paths.root_dir={root}"]
    cfg = compose([*common, "train.register=true"])
    run_generate(cfg)
    load.ingest(load.DataSource.from_config(cfg.data))
    return cfg, train(cfg), root, common


def test_the_policy_is_valued_off_policy_against_every_comparator(trained):
    _, outcome, _, _ = trained
    result = outcome.result
    m = result.metrics
    assert m["policy_value_lower"] <= m["policy_value"] <= m["policy_value_upper"]
    assert m["policy_value"] == pytest.approx(m["policy_value_dr"])
    values = result.tables["policy_values"]
    policies = set(values.policy)
    assert {"learned", "logging", "no offer", "random", "oracle"} <= policies
    assert sum(p.startswith("static ") for p in policies) == 7
    assert set(values.estimator) >= {"ipw", "snipw", "dm", "dr", "switch-dr", "dr-os"}
    # the logging policy's value is what it earned on the test contacts
    assert result.baseline_metrics["policy_value"] == pytest.approx(m["logging_value"])
    # on synthetic data the truth values every policy; the oracle is the best of them
    truth = values[values.estimator == "dr"].set_index("policy").true_value
    assert truth["oracle"] == truth.max() and truth["learned"] > truth["random"]
    assert 0 < m["share_of_oracle"] <= 1.0
    assert sum(m[k] for k in m if k.startswith("offer_share_")) == pytest.approx(1.0)
    assert result.grade in ("A", "B", "C")
    assert outcome.objective == pytest.approx(m["valid_policy_value"])


def test_the_run_logs_estimates_plots_and_reasons(trained):
    cfg, outcome, _, _ = trained
    client = mlflow.MlflowClient(cfg.tracking.tracking_uri)
    run = client.get_run(outcome.run_id)
    assert client.get_experiment(run.info.experiment_id).name == "socialcrm-nbo-dev"
    for key in (
        "test_policy_value",
        "test_policy_value_ipw",
        "test_gain_vs_logging_lower",
        "test_baseline_policy_value",
        "test_oracle_true_policy_value",
        "valid_policy_value",
    ):
        assert key in run.data.metrics, key
    names = {
        a.path
        for folder in ("plots", "tables", "explanations")
        for a in client.list_artifacts(outcome.run_id, folder)
    }
    for expected in (
        "plots/policy_values.png",
        "plots/offer_mix.png",
        "plots/qini.png",
        "plots/uplift_curve.png",
        "tables/policy_values.csv",
        "tables/uplift.csv",
        "explanations/reasons.csv",
        "plots/shap_groups.png",
    ):
        assert expected in names, f"{expected} missing from {sorted(names)}"
    version = client.get_model_version_by_alias("socialcrm-nbo", "challenger")
    assert version.run_id == outcome.run_id and version.tags["data"] == "synthetic_small"


def test_a_contact_budget_caps_the_offers_made(trained):
    _, outcome, _, common = trained
    capped = train(compose([*common, "task.budget.share=0.2", "task.explain=false"]))
    assert capped.version is None  # the dev preset registers nothing by default
    assert capped.result.metrics["offer_share"] <= 0.2 + 1e-9
    assert outcome.result.metrics["offer_share"] > 0.2


def test_the_registered_offer_model_recommends_in_a_fresh_process(trained, tmp_path):
    cfg, *_ = trained
    out = tmp_path / "scored.parquet"
    script = textwrap.dedent(
        f"""
        import mlflow, pandas as pd
        frame = pd.read_parquet({str(feature_table_path(cfg))!r})
        rows = frame[frame["cutoff"] == frame["cutoff"].max()].head(200)
        model = mlflow.pyfunc.load_model("models:/socialcrm-nbo@challenger")
        scored = model.predict(rows)
        scored.insert(0, "plan", rows["plan"].to_numpy())
        scored.insert(1, "tenure_days", rows["tenure_days"].to_numpy())
        scored.to_parquet({str(out)!r})
        """
    )
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": str(cfg.tracking.tracking_uri),
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    scored = pd.read_parquet(out)
    actions = [
        "OF-DISC10",
        "OF-DISC25",
        "OF-BUNDLE",
        "OF-UPG-PLUS",
        "OF-UPG-PREM",
        "OF-LOYAL",
        "OF-RETAIN",
        "none",
    ]
    for col in (
        "action",
        "propensity",
        "raising_1",
        "lowering_1",
        *(f"expected_profit_{a}" for a in actions),
    ):
        assert col in scored.columns, col
    assert set(scored.action) <= set(actions)
    # never an ineligible offer: upgrades only from their plan, loyalty after a year
    assert not ((scored.action == "OF-UPG-PLUS") & (scored.plan != "basic")).any()
    assert not ((scored.action == "OF-UPG-PREM") & (scored.plan != "plus")).any()
    assert not ((scored.action == "OF-LOYAL") & (scored.tenure_days < 365)).any()
    assert scored.loc[scored.plan != "basic", "expected_profit_OF-UPG-PLUS"].isna().all()
    # the recommendation is the best eligible action, with its exploring propensity
    value = scored[[f"expected_profit_{a}" for a in actions]].to_numpy()
    best = np.asarray(actions)[np.nanargmax(value, axis=1)]
    assert (best == scored.action.to_numpy()).all()
    assert scored.propensity.between(0.9, 1.0).all()
    assert (scored.raising_1.str.len() > 0).mean() > 0.9


def test_a_data_set_without_an_offer_log_is_a_config_error():
    from socialcrm.errors import ConfigError
    from socialcrm.tasks.nbo import NboTask

    with pytest.raises(ConfigError, match="needs the 'offer_log' table"):
        NboTask().fit_evaluate(pd.DataFrame(), [], [], {}, 0, context={})

"""task=clv through the same entry point as churn, on the quick preset: metrics
against the commercial baseline, BTYD and the oracle, MLflow run, registry alias,
referral value, privacy of artifacts, DVC outputs, and CLV feeding the churn
campaign's value of a saved customer."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from socialcrm.config import compose
from socialcrm.data import load
from socialcrm.data.generate import run_generate
from socialcrm.data.synthetic.truth import expected_future_spend
from socialcrm.evaluation.value import normalized_gini
from socialcrm.runner import feature_table_path, load_features, train

pytestmark = pytest.mark.xdist_group("train")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("clv_root")
    # the gate makes it champion, the alias the churn campaign values customers with
    cfg = compose(
        [
            "experiment=quick",
            "task=clv",
            f"paths.root_dir={root}",
            "train.register=true",
            "promotion.on_train=true",
        ]
    )
    run_generate(cfg)
    load.ingest(load.DataSource.from_config(cfg.data))
    outcome = train(cfg)
    return cfg, outcome, root


def test_model_ranks_value_between_the_baseline_and_the_oracle(trained):
    cfg, outcome, _ = trained
    result = outcome.result
    m, b = result.metrics, result.baseline_metrics
    scored = result.scored
    truth = pd.read_parquet(Path(cfg.data.raw_dir) / "truth" / "customer_month.parquet")
    oracle = expected_future_spend(truth, scored.cutoff.iloc[0], cfg.features.horizon_days)
    oracle_gini = normalized_gini(scored.actual, oracle.reindex(scored.customer_id).to_numpy())
    assert 0.6 < m["normalized_gini"] <= oracle_gini + 0.01
    assert m["normalized_gini"] > b["normalized_gini"] - 0.01
    assert (
        result.grade
        == {True: "A", False: "B" if m["top20_found"] > b["top20_found"] else "C"}[
            m["top20_found"] >= b["top20_found"] + 0.05
        ]
    )
    # Tweedie with a log link: totals close to the actual total
    assert m["total_predicted"] == pytest.approx(m["total_actual"], rel=0.25)
    assert m["decile_mape"] < 0.5
    assert "btyd" in result.references
    assert 0.5 < result.references["btyd"]["normalized_gini"] < oracle_gini + 0.01
    assert outcome.objective == pytest.approx(m["valid_normalized_gini"])
    assert set(scored.columns) >= {"actual", "prediction", "commercial_baseline", "btyd"}


def test_the_run_logs_metrics_plots_explanations_and_registers(trained):
    cfg, outcome, _ = trained
    client = mlflow.MlflowClient(cfg.tracking.tracking_uri)
    run = client.get_run(outcome.run_id)
    assert run.data.params["task._target_"] == "socialcrm.tasks.clv.ClvTask"
    for key in ("normalized_gini", "spearman", "top10_share", "top20_found", "decile_mape"):
        for prefix in ("test_", "test_baseline_", "test_btyd_"):
            assert f"{prefix}{key}" in run.data.metrics
    for key in ("mae", "rmse", "total_predicted", "total_actual", "crv_total"):
        assert f"test_{key}" in run.data.metrics
    names = {
        a.path
        for folder in ("", "plots", "tables", "explanations")
        for a in client.list_artifacts(outcome.run_id, folder)
    }
    for expected in (
        "plots/deciles.png",
        "plots/gain.png",
        "plots/shap_beeswarm.png",
        "tables/deciles.csv",
        "tables/comparison.csv",
        "tables/referral_top.csv",
        "explanations/reasons.csv",
    ):
        assert expected in names, f"{expected} missing"
    version = client.get_model_version_by_alias("socialcrm-clv", "challenger")
    assert version.run_id == outcome.run_id
    loaded = mlflow.pyfunc.load_model("models:/socialcrm-clv@challenger")
    frame = pd.read_parquet(Path(cfg.features.output_dir) / "features.parquet")
    rows = frame[frame.split == "test"].head(50)
    out = loaded.predict(rows)
    np.testing.assert_allclose(out["prediction"], outcome.result.model.predict(rows), rtol=1e-9)
    assert {"raising_1", "lowering_1"} <= set(out.columns)
    quick = loaded.predict(rows, params={"top_reasons": 0})
    assert list(quick.columns) == ["prediction"]


def test_referral_value_and_privacy(trained):
    cfg, outcome, root = trained
    m = outcome.result.metrics
    values = outcome.result.info["referral_values"]
    referrals = pd.read_parquet(Path(cfg.data.interim_dir) / "referrals.parquet")
    cutoff = outcome.result.scored.cutoff.max()
    # CRV by hand for one referrer
    top_referrer = values.sort_values("crv").customer_id.iloc[-1]
    referred = referrals[
        (referrals.referrer_id == top_referrer) & (referrals.timestamp < cutoff)
    ].referred_id
    clv = values.set_index("customer_id").clv
    assert values.set_index("customer_id").crv[top_referrer] == pytest.approx(
        clv.reindex(referred).fillna(0).sum()
    )
    assert 0 <= m["referral_top100_missed_by_clv"] <= 100
    top = outcome.result.tables["referral_top"]
    assert len(top) == 100 and "customer_id" not in top.columns
    assert (~top.in_clv_top).sum() == m["referral_top100_missed_by_clv"]
    # no raw customer id in the logged tables
    ids = set(outcome.result.scored.customer_id)
    for path in (root / "mlruns" / "artifacts").rglob("*.csv"):
        text = path.read_text()
        assert not any(i in text for i in list(ids)[:200]), path


def test_dvc_outputs_hold_model_baseline_and_btyd(trained):
    cfg, outcome, _ = trained
    out = Path(cfg.train.outputs_dir) / "clv"
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"model", "baseline", "btyd", "grade"}
    assert metrics["model"]["normalized_gini"] == pytest.approx(
        outcome.result.metrics["normalized_gini"]
    )
    deciles = pd.read_csv(out / "deciles.csv")
    assert list(deciles.decile) == list(range(1, 11))
    gain = pd.read_csv(out / "gain.csv")
    assert gain.share_value.is_monotonic_increasing or gain.share_value.diff().min() > -1e-9
    assert gain.share_value.iloc[-1] == pytest.approx(1.0)


def test_churn_campaign_values_saved_customers_at_their_clv(trained):
    cfg, clv_outcome, root = trained
    churn_cfg = compose(["experiment=quick", f"paths.root_dir={root}", "task.explain=false"])
    assert churn_cfg.task.value_model == "socialcrm-clv@champion"
    assert trained[1].decision.promoted, trained[1].decision.reasons
    outcome = train(churn_cfg)
    assert outcome.result.info["saved_value_source"] == "clv"
    test_rows = clv_outcome.result.scored
    assert outcome.result.metrics["campaign_mean_saved_value"] == pytest.approx(
        test_rows.prediction.mean(), rel=1e-6
    )
    run = mlflow.MlflowClient(cfg.tracking.tracking_uri).get_run(outcome.run_id)
    assert run.data.tags["context.customer_value"] == f"socialcrm-clv/{clv_outcome.version}"
    # without a registered CLV model the constant is used
    off = train(
        compose(
            [
                "experiment=quick",
                f"paths.root_dir={root}",
                "task.explain=false",
                "train.register=false",
                "task.value_model=socialcrm-clv@nosuchalias",
            ]
        )
    )
    assert off.result.info["saved_value_source"] == "constant"
    assert off.result.metrics["campaign_mean_saved_value"] == churn_cfg.task.saved_value


def test_a_clv_model_of_another_feature_set_never_values_the_campaign(trained):
    """The churn campaign uses a CLV model only if it learnt from the same data set and
    feature set; otherwise it falls back to task.saved_value and the run says why."""
    cfg, _, root = trained
    common = ["experiment=quick", f"paths.root_dir={root}", "task.explain=false"]
    other = train(
        compose([*common, "task=clv", "features=crm", "train.alias=crmonly", "train.register=true"])
    )
    client = mlflow.MlflowClient(cfg.tracking.tracking_uri)
    tags = client.get_model_version("socialcrm-clv", other.version).tags
    assert tags["features"] == "crm" and tags["data"] == "synthetic_small"
    churn = train(
        compose([*common, "train.register=false", "task.value_model=socialcrm-clv@crmonly"])
    )
    assert churn.result.info["saved_value_source"] == "constant"
    note = client.get_run(churn.run_id).data.tags["context.customer_value"]
    assert note.startswith("none:") and "features=crm, not features=all" in note


def test_an_unregistered_clv_run_values_the_campaign_by_its_logged_model(trained):
    """A dev-preset run registers nothing but still logs its model; the churn campaign
    can take it by URI (what the notebooks do, leaving the registry untouched)."""
    cfg, _, root = trained
    common = ["experiment=quick", f"paths.root_dir={root}", "task.explain=false"]
    client = mlflow.MlflowClient(cfg.tracking.tracking_uri)
    before = len(client.search_model_versions("name='socialcrm-clv'"))
    clv = train(compose([*common, "task=clv"]))
    assert clv.version is None and clv.model_uri.startswith("models:/m-")
    assert len(client.search_model_versions("name='socialcrm-clv'")) == before
    churn = train(compose([*common, f"task.value_model={clv.model_uri}"]))
    assert churn.result.info["saved_value_source"] == "clv"
    assert churn.result.metrics["campaign_mean_saved_value"] == pytest.approx(
        clv.result.scored.prediction.mean(), rel=1e-6
    )
    run = client.get_run(churn.run_id)
    assert run.data.tags["context.customer_value"] == f"run {clv.run_id}"
    assert client.get_experiment(run.info.experiment_id).name == "socialcrm-churn-dev"


def test_clv_cross_validates_one_table_without_time(trained):
    """task.evaluation=cv: the latest snapshot as one table without a split; K-fold gives
    fold means with their spread, close to what the time split reports."""
    from socialcrm.runner import build_task

    cfg, outcome, _ = trained
    frame, manifest, _ = load_features(cfg)
    one_table = frame[frame.split == "test"].drop(columns="split")
    task = build_task(cfg, evaluation="cv", cv_folds=3)
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    result = task.fit_evaluate(one_table, manifest, list(cfg.features.groups), model_cfg, 42)
    assert len(result.tables["cv_folds"]) == 3
    assert result.metrics["normalized_gini_sd"] > 0
    assert abs(result.metrics["normalized_gini"] - outcome.result.metrics["normalized_gini"]) < 0.1
    assert "normalized_gini" in result.baseline_metrics and "btyd" in result.references
    assert len(result.scored) == len(one_table)  # every row scored out of fold
    assert result.model.predict(one_table.head(5)).shape == (5,)


def test_another_horizon_gets_its_own_feature_table_never_the_old_one(trained):
    """`train task=clv features.horizon_days=180` after a 90-day run: the run edge
    rebuilds the table for 180 days (or, with features.on_mismatch=error, refuses)."""
    from socialcrm.identity import IdentityMismatchError

    cfg, _, root = trained
    common = ["experiment=quick", "task=clv", f"paths.root_dir={root}"]
    path = feature_table_path(cfg)
    build = json.loads((path.parent / "build.json").read_text())
    assert build["identity"]["features"]["horizon_days"] == 90
    spend90 = pd.read_parquet(path).groupby("cutoff").label_future_spend.mean()
    with pytest.raises(IdentityMismatchError, match="horizon_days 90 -> 180"):
        load_features(compose([*common, "features.horizon_days=180", "features.on_mismatch=error"]))
    frame, _, path180 = load_features(compose([*common, "features.horizon_days=180"]))
    build = json.loads((path180.parent / "build.json").read_text())
    assert build["identity"]["features"]["horizon_days"] == 180
    spend180 = frame.groupby("cutoff").label_future_spend.mean()
    both = spend90.index.intersection(spend180.index)
    assert len(both) and (spend180[both] > spend90[both]).all()  # twice the horizon

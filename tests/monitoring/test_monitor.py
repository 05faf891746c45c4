"""The monitor end to end on the quick preset: a churn model trained on the shared quick
world is monitored on that world and on the same seed with the generator's drift switch
on."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mlflow
import pytest
from typer.testing import CliRunner

from socialcrm.cli import app
from socialcrm.config import compose
from socialcrm.data import load
from socialcrm.data.generate import run_generate
from socialcrm.errors import ConfigError
from socialcrm.monitoring.run import REFERENCE_FILE, run_monitor
from socialcrm.runner import train
from socialcrm.tracking import start_run

pytestmark = pytest.mark.xdist_group("production")

AS_OF = "2026-04-01"  # the quick preset's test cutoff: its labels have matured
# the training rows end at the 2025-10-01 cutoff; the drift starts after them and
# three months before AS_OF, so the 90-day windows at AS_OF lie wholly inside it
DRIFT = [
    "data.generator.drift.start=2026-01-01",
    "data.generator.drift.ticket_rate_factor=3.0",
    "data.generator.drift.spend_factor=2.0",
    "data.generator.drift.platform=tiktok",
    "data.generator.drift.platform_growth=0.8",
]
# what each drift key moves directly, and the least severity it reaches at AS_OF: the PSI
# against the pooled training rows sees the doubled amounts of a heavy-tailed spend
# feature as moderate only (its PSI is about 0.2)
SWITCHED = {"n_tickets_90d": "significant", "on_tiktok": "significant", "monetary_90d": "moderate"}
RANK = {"stable": 0, "moderate": 1, "significant": 2}
# what no key touches: the customers' attributes
UNTOUCHED = ["region", "age_band", "acquisition_channel"]
CUSTOMER_ID = re.compile(r"\bC\d{4}\b")


SALT = "quick-test-salt-5e1f9a"  # the shared quick world's (checked in the fixture)


def _overrides(root, store, *extra: str) -> list[str]:
    """The quick preset in ``root`` (the shared quick world, or the drifted copy of it)
    with this module's MLflow store."""
    return [
        "experiment=quick",
        f"paths.root_dir={root}",
        f"data.salt={SALT}",
        f"tracking.tracking_uri=sqlite:///{store}/mlflow.db",
        f"tracking.artifact_root={store}/artifacts",
        "train.register=true",
        "task.explain=false",
        "task.value_model=null",
        *extra,
    ]


@pytest.fixture(scope="module")
def champion(quick_world, tmp_path_factory):
    """A churn model trained on the shared (undrifted) quick world as champion; its
    registration logged the reference profile."""
    assert quick_world.salt == SALT
    root, store = quick_world.root, tmp_path_factory.mktemp("monitor_store")
    outcome = train(compose(_overrides(root, store)))
    client = mlflow.MlflowClient()
    assert REFERENCE_FILE in {a.path for a in client.list_artifacts(outcome.run_id)}
    client.set_registered_model_alias(outcome.registered, "champion", outcome.version)
    return root, outcome, store


@pytest.fixture(scope="module")
def undrifted(champion):
    root, _, store = champion
    return run_monitor(compose(_overrides(root, store, f"monitor.as_of={AS_OF}")))


@pytest.fixture(scope="module")
def drifted(champion, tmp_path_factory):
    """The same seed with the drift switch on, monitored with the same champion."""
    _, _, store = champion
    root = tmp_path_factory.mktemp("monitor_drift")
    cfg = compose(_overrides(root, store, *DRIFT, f"monitor.as_of={AS_OF}"))
    run_generate(cfg)
    load.ingest(load.DataSource.from_config(cfg.data))
    return run_monitor(cfg)


def test_the_undrifted_world_raises_no_alarm(undrifted):
    s, table = undrifted["summary"], undrifted["table"].set_index("column")
    assert undrifted["model_version"].endswith("v1") and undrifted["alias"] == "champion"
    assert not s["alarm"] and s["verdict"] != "drift"
    assert s["share_drifted"] < 0.3
    # the model's scores are as in training
    assert s["score_column"] == "probability" and s["score_psi"] < 0.1
    # the features the drift switch moves, and the customers' attributes, are stable
    shown = table.loc[[*SWITCHED, *UNTOUCHED], ["psi", "severity"]]
    assert (shown["severity"] == "stable").all(), shown


def test_the_drift_switch_is_flagged_where_it_acts(undrifted, drifted):
    table = drifted["table"].set_index("column")
    for column, least in SWITCHED.items():
        assert RANK[table.loc[column, "severity"]] >= RANK[least], table.loc[column]
    assert (table.loc[UNTOUCHED, "severity"] == "stable").all(), table.loc[UNTOUCHED]
    # significant in the drifted world only: what the switch did
    before = undrifted["table"].set_index("column")
    was = set(before.index[before["severity"] == "significant"])
    now = set(table.index[table["severity"] == "significant"])
    assert {"n_tickets_90d", "on_tiktok"} <= now - was
    assert drifted["summary"]["n_drifted"] > undrifted["summary"]["n_drifted"]
    assert drifted["summary"]["verdict"] in ("watch", "drift")


def test_realised_performance_is_measured_once_labels_mature(champion, undrifted):
    _, outcome, _ = champion
    assert undrifted["labels_matured"]
    realised = undrifted["realised"].set_index("metric")
    # the monitored cutoff is the training run's test cutoff: the same numbers
    assert realised.loc["roc_auc", "realised"] == pytest.approx(
        outcome.result.metrics["roc_auc"], abs=0.01
    )
    assert realised.loc["roc_auc", "change"] == pytest.approx(0.0, abs=0.01)


def test_the_report_and_the_monitor_run_hold_aggregates_only(champion, undrifted):
    root, _, _ = champion
    text = undrifted["report"].read_text()
    assert undrifted["report"] == root / f"reports/monitor/synthetic_small/churn-{AS_OF}.md"
    for heading in ("## Overall", "## Most drifted features", "## Score drift", "## Realised"):
        assert heading in text
    client = mlflow.MlflowClient()
    run = client.get_run(undrifted["run_id"])
    exp = client.get_experiment(run.info.experiment_id)
    assert exp.name == "socialcrm-churn-monitor-dev"  # the small preset is a dev preset
    assert {"share_drifted", "max_psi", "score_psi", "realised_roc_auc"} <= set(run.data.metrics)
    assert run.data.tags["verdict"] == undrifted["summary"]["verdict"]
    logged = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"drift_table.json", f"churn-{AS_OF}.md"} <= logged
    table = Path(
        mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="drift_table.json"
        )
    ).read_text()
    profile = Path(
        mlflow.artifacts.download_artifacts(run_id=champion[1].run_id, artifact_path=REFERENCE_FILE)
    ).read_text()
    for body in (text, table, profile):
        assert not CUSTOMER_ID.search(body)
    assert json.loads(profile)["n"] > 1000


def test_a_missing_alias_or_profile_is_a_config_error(champion):
    root, outcome, store = champion
    with pytest.raises(ConfigError, match="no version of socialcrm-churn has the alias @nobody"):
        run_monitor(compose(_overrides(root, store, "monitor.alias=nobody")))
    client = mlflow.MlflowClient()
    cfg = compose(_overrides(root, store))
    with start_run(cfg.tracking, "churn-bare") as bare:  # a run without a reference profile
        pass
    mv = client.create_model_version("socialcrm-churn", outcome.model_uri, run_id=bare.info.run_id)
    client.set_registered_model_alias("socialcrm-churn", "bare", mv.version)
    with pytest.raises(ConfigError, match=f"has no {REFERENCE_FILE}"):
        run_monitor(compose(_overrides(root, store, "monitor.alias=bare")))
    # the command line shows the message and exits with the usage code
    result = CliRunner().invoke(app, ["monitor", *_overrides(root, store, "monitor.alias=nobody")])
    assert result.exit_code == 2
    assert "alias @nobody" in result.output

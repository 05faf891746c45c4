"""The promotion gate on real registered models (quick preset, one MLflow store):
the first model is champion only if it passes the floors, a worse one never
replaces it, a better one does, a model of another feature schema or data set is
refused with a message; every decision is a run and version tags; the champion
loads in a fresh process and scores the canonical feature table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import mlflow
import pandas as pd
import pytest

from socialcrm.config import compose
from socialcrm.runner import feature_table_path, train
from socialcrm.tracking.promote import content_sha256, gate_rules, promote, schema_problems

pytestmark = pytest.mark.xdist_group("production")

NAME = "socialcrm-churn"


@pytest.fixture(scope="module")
def story(quick_world, tmp_path_factory):
    """Train and gate, in order: a model held to an impossible floor (refused: no
    champion), the LightGBM model (champion), the recency rule (worse: refused), a
    crm-only model judged on the full feature set (refused), logistic regression
    (better on this world: champion)."""
    base = quick_world.overrides(
        tmp_path_factory.mktemp("gate_store"),
        "train.register=true",
        "task.explain=false",
        "promotion.on_train=true",
    )
    cfg = compose(base)
    steps = {
        "floor": train(compose([*base, "task.gate.floors.roc_auc=0.99"])),
        "first": train(cfg),
        "worse": train(compose([*base, "model=recency_rule"])),
    }
    crm = train(compose([*base, "features=crm", "promotion.on_train=false"]))
    steps["crm"] = crm
    steps["crm_gate"] = promote(cfg)  # judged on features=all, what production scores
    # the same store judged for another data set: the challenger was not trained on it
    steps["other_data"] = promote(compose([*base, "data.name=other_world"]))
    steps["better"] = train(compose([*base, "model=logreg"]))
    return cfg, steps


def champion_version(cfg) -> str | None:
    client = mlflow.MlflowClient(cfg.tracking.tracking_uri)
    try:
        return str(client.get_model_version_by_alias(NAME, "champion").version)
    except mlflow.exceptions.MlflowException:
        return None


def test_a_first_model_below_the_floors_is_not_champion(story):
    _, steps = story
    d = steps["floor"].decision
    assert not d.promoted and d.champion is None
    assert any("threshold" in r and "roc_auc" in r for r in d.reasons), d.reasons


def test_the_first_model_passing_the_floors_becomes_champion(story):
    _, steps = story
    d = steps["first"].decision
    assert d.promoted and d.champion is None, d.reasons
    assert d.challenger.version == steps["first"].version


def test_a_worse_model_never_becomes_champion(story):
    _, steps = story
    d = steps["worse"].decision
    assert not d.promoted
    assert d.challenger.metrics["roc_auc"] < d.champion.metrics["roc_auc"]
    assert any("minimum absolute change" in r for r in d.reasons), d.reasons
    assert any("grade C" in r for r in d.reasons), d.reasons
    assert d.champion.version == steps["first"].version


def test_another_feature_schema_is_refused_with_a_message(story):
    _, steps = story
    d = steps["crm_gate"]
    assert not d.promoted
    text = "; ".join(d.reasons)
    assert "trained on features=crm, not features=all" in text
    assert "input schema differs from the champion's" in text


def test_another_data_set_is_refused(story):
    _, steps = story
    d = steps["other_data"]
    assert not d.promoted
    assert any("trained on data=synthetic_small, not data=other_world" in r for r in d.reasons)


def test_a_better_model_becomes_champion(story):
    cfg, steps = story
    d = steps["better"].decision
    assert d.promoted, d.reasons
    margin = gate_rules(dict(cfg.task.gate), "roc_auc")["margin"]
    assert d.challenger.metrics["roc_auc"] >= d.champion.metrics["roc_auc"] + margin
    assert champion_version(cfg) == steps["better"].version


def test_the_gate_scores_equal_the_training_runs_test_metrics(story):
    _, steps = story
    outcome = steps["first"]
    judged = outcome.decision.challenger.metrics
    for key in ("roc_auc", "pr_auc", "f1", "capture_at_10"):
        assert judged[key] == pytest.approx(outcome.result.metrics[key], abs=1e-9), key


def test_every_decision_is_a_run_and_version_tags(story):
    cfg, steps = story
    client = mlflow.MlflowClient(cfg.tracking.tracking_uri)
    d = steps["worse"].decision
    run = client.get_run(d.run_id)
    assert run.data.tags["decision"] == "refused"
    assert run.data.metrics["challenger_roc_auc"] == pytest.approx(d.challenger.metrics["roc_auc"])
    assert run.data.metrics["champion_roc_auc"] == pytest.approx(d.champion.metrics["roc_auc"])
    assert run.data.tags["eval.sha256"] == d.eval_sha256 and len(d.eval_sha256) == 64
    # both models were evaluated by mlflow.models.evaluate in nested runs on one dataset
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{d.run_id}'"
    )
    assert {c.data.tags["alias"] for c in children} == {"challenger", "champion"}
    # the dataset MLflow logs holds each model's outputs; its name names the evaluation
    # rows by their content hash
    names = {c.inputs.dataset_inputs[0].dataset.name for c in children}
    assert names == {f"churn-evaluation-{d.eval_sha256[:12]}"}
    mv = client.get_model_version(NAME, d.challenger.version)
    assert mv.tags["gate.decision"] == "refused"
    assert "grade C" in mv.tags["gate.reasons"]
    assert mv.tags["gate.champion"] == f"v{d.champion.version}"
    promoted = client.get_model_version(NAME, steps["better"].version)
    assert promoted.tags["gate.decision"] == "promoted"


def test_every_version_says_what_it_is(story):
    cfg, steps = story
    client = mlflow.MlflowClient(cfg.tracking.tracking_uri)
    for key in ("first", "worse", "crm", "better"):
        mv = client.get_model_version(NAME, steps[key].version)
        assert mv.tags["data"] == "synthetic_small"
        assert mv.tags["features"] == ("crm" if key == "crm" else "all")
        assert mv.tags["grade"] == steps[key].result.grade
        assert mv.tags["headline"].startswith("roc_auc ")
        assert float(mv.tags["roc_auc"]) == pytest.approx(
            steps[key].result.metrics["roc_auc"], abs=1e-4
        )
        # the card (linked from the description) and the monitor's reference profile
        assert "model_card/model_card.md" in mv.description
        files = {
            a.path
            for folder in ("", "model_card")
            for a in client.list_artifacts(steps[key].run_id, folder)
        }
        assert {"model_card/model_card.json", "reference_profile.json"} <= files
    mlflow.set_tracking_uri(cfg.tracking.tracking_uri)
    card = json.loads(
        mlflow.artifacts.load_text(f"runs:/{steps['first'].run_id}/model_card/model_card.json")
    )
    assert card["model_details"]["version"] == steps["first"].version
    assert card["quantitative_analysis"]["grade"]["value"] == steps["first"].result.grade


def test_the_evaluation_set_hash_is_the_content():
    a = pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]})
    assert content_sha256(a) == content_sha256(a.copy())
    assert content_sha256(a) != content_sha256(a.assign(x=[1.0, 2.5]))
    assert content_sha256(a) != content_sha256(a.rename(columns={"x": "z"}))


def test_schema_problems_names_added_and_dropped_columns():
    assert schema_problems(["a", "b"], ["b", "a"]) == []
    (msg,) = schema_problems(["a", "c"], ["a", "b"])
    assert "adds 1 (c)" in msg and "drops 1 (b)" in msg


def test_a_zero_margin_is_refused():
    from socialcrm.errors import ConfigError

    with pytest.raises(ConfigError, match="margin must be > 0"):
        gate_rules({"margin": 0}, "roc_auc")


def test_the_champion_loads_and_scores_in_a_fresh_process(story):
    cfg, steps = story
    table = feature_table_path(cfg)
    script = textwrap.dedent(
        f"""
        import json, mlflow, pandas as pd
        rows = pd.read_parquet({str(table)!r})
        rows = rows[rows["split"] == "test"].head(500)
        model = mlflow.pyfunc.load_model("models:/{NAME}@champion")
        out = model.predict(rows)
        print(json.dumps({{"n": len(out), "cols": list(out.columns),
                          "p": out["probability"].round(12).tolist()}}))
        """
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": str(cfg.tracking.tracking_uri)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["n"] == 500 and {"probability", "decision"} <= set(got["cols"])
    rows = pd.read_parquet(table)
    rows = rows[rows["split"] == "test"].head(500)
    expected = steps["better"].result.model.predict(rows)
    assert got["p"] == pytest.approx(list(expected), abs=1e-9)


def test_retrain_trains_a_challenger_and_runs_the_gate(story):
    from typer.testing import CliRunner

    from socialcrm.cli import app
    from socialcrm.config import overrides_of

    cfg, steps = story
    before = champion_version(cfg)
    keep = [o for o in overrides_of(cfg) if not o.startswith(("promotion.", "train.register"))]
    result = CliRunner().invoke(app, ["retrain", *keep])
    assert result.exit_code == 0, result.output[-3000:]
    assert "promotion gate (champion)" in result.output
    client = mlflow.MlflowClient(cfg.tracking.tracking_uri)
    newest = max(int(v.version) for v in client.search_model_versions(f"name='{NAME}'"))
    assert newest > int(steps["better"].version)
    decision = client.get_model_version(NAME, str(newest)).tags["gate.decision"]
    # LightGBM again: below the logistic champion on this world, so refused
    assert decision == "refused" and champion_version(cfg) == before

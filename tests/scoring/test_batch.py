"""Batch scoring on the quick preset: one row per active customer, the registered
model's own scores and reasons, hashed keys and a salt that goes nowhere, atomic
writes, chunking that changes nothing, refusals with a message (a model of another
feature set, a missing alias) and, for next-best-offer, a budget that caps the offers."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from socialcrm.cli import app
from socialcrm.config import compose
from socialcrm.data.privacy import hash_identifiers
from socialcrm.errors import ConfigError, UserError
from socialcrm.features.run import features_as_of
from socialcrm.runner import build_task, train
from socialcrm.scoring import batch
from socialcrm.scoring.run import (
    last_transaction,
    load_model,
    resolve_model,
    run_score,
    write_scores,
)

pytestmark = pytest.mark.xdist_group("production")
SALT = "quick-test-salt-5e1f9a"  # the shared quick world's (checked in the fixture)

REASONS = [f"{d}_{j}" for d in ("raising", "lowering") for j in (1, 2, 3)]


def _overrides(world, *extra: str) -> list[str]:
    """The shared quick world with this module's MLflow store."""
    return world["quick"].overrides(
        world["store"], "train.register=true", "task.explain=false", *extra
    )


@pytest.fixture(scope="module")
def world(quick_world, tmp_path_factory):
    """Churn trained on all features (v1 = champion), churn on crm features only
    (another registered name) and next-best-offer, in one MLflow store on the shared
    quick world; then the churn scores with the defaults (as_of from the data, key
    hash, 3 reasons) in chunks of 300 rows."""
    assert quick_world.salt == SALT
    here = {"quick": quick_world, "store": tmp_path_factory.mktemp("score_store")}
    root = quick_world.root
    cfg = compose(_overrides(here))
    churn = train(cfg)
    mlflow.MlflowClient().set_registered_model_alias("socialcrm-churn", "champion", churn.version)
    train(compose(_overrides(here, "features=crm", "train.registered_model=socialcrm-churn-crm")))
    nbo = train(compose(_overrides(here, "task=nbo")))
    mlflow.MlflowClient().set_registered_model_alias("socialcrm-nbo", "champion", nbo.version)
    scfg = compose(_overrides(here, "score.chunk_rows=300"))
    path = run_score(scfg)
    as_of = batch.month_start_after(last_transaction(cfg.data.interim_dir))
    features = features_as_of(cfg, as_of)
    return here | {"root": root, "cfg": scfg, "path": path, "as_of": as_of, "features": features}


def _ref(cfg):
    return resolve_model(
        "models:/socialcrm-churn@champion",
        "churn",
        {"data": cfg.data.name, "features": cfg.features.name},
    )


def test_one_row_per_active_customer_as_of_the_month_after_the_data(world):
    scores = pd.read_parquet(world["path"])
    frame = world["features"].frame
    assert world["path"].name == f"churn-{world['as_of']:%Y-%m-%d}.parquet"
    assert world["as_of"].day == 1 and world["as_of"] > last_transaction(
        world["cfg"].data.interim_dir
    )
    assert len(scores) == len(frame) > 500
    assert scores.customer_hash.is_unique
    expected = hash_identifiers(frame.customer_id.astype(str), "handle", SALT)
    assert set(scores.customer_hash) == set(expected)
    assert (scores.as_of.astype(str) == f"{world['as_of']:%Y-%m-%d}").all()
    assert set(scores.model) == {"socialcrm-churn"} and set(scores.model_version) == {"1"}
    assert scores.features_sha256.nunique() == 1 and len(scores.features_sha256[0]) == 64
    meta = json.loads(pq.read_schema(world["path"]).metadata[b"socialcrm.scoring"])
    assert meta["model_version"] == "1" and meta["as_of"] == f"{world['as_of']:%Y-%m-%d}"
    # the report and the DVC aggregates beside
    md = world["path"].with_suffix(".md").read_text()
    assert "## Distribution of `probability`" in md and "| p50 |" in md
    assert world["path"].with_suffix(".png").stat().st_size > 1000
    summary = json.loads(
        (
            world["root"] / "reports" / "score" / "synthetic_small" / "churn" / "summary.json"
        ).read_text()
    )
    assert summary["rows"] == len(frame)
    assert sum(d["rows"] for d in summary["decisions"].values()) == len(frame)


def test_scores_and_reasons_are_the_registered_models_own(world):
    scores = pd.read_parquet(world["path"])
    frame = world["features"].frame
    model = mlflow.pyfunc.load_model("models:/socialcrm-churn@champion")
    inputs = batch.model_inputs(frame, model.metadata.get_input_schema().input_names())
    expected = model.predict(inputs, params={"top_reasons": 3})
    # the file's row order is the feature table's
    assert list(scores.customer_hash) == list(
        hash_identifiers(frame.customer_id.astype(str), "handle", SALT)
    )
    np.testing.assert_allclose(scores.probability, expected.probability, rtol=0, atol=1e-12)
    assert (scores.decision == expected.decision).all()
    for col in REASONS:
        assert (scores[col] == expected[col]).all(), col
    assert (scores.raising_1.str.len() > 0).mean() > 0.9
    assert scores.raising_1.str.contains(r" = .*\(\+\d").any()


def test_keys_are_hashed_and_the_salt_goes_nowhere(world):
    cfg, path = world["cfg"], world["path"]
    scores = pd.read_parquet(path)
    ids = set(world["features"].frame.customer_id.astype(str))
    assert "customer_id" not in scores.columns
    assert scores.customer_hash.str.fullmatch(r"[0-9a-f]{32}").all()
    text = scores.astype(str).to_numpy().ravel()
    assert not ids & set(text)
    assert not any(SALT in v for v in text)
    metadata = pq.read_schema(path).metadata
    assert not any(SALT.encode() in v for v in metadata.values())
    assert SALT not in path.with_suffix(".md").read_text()
    # MLflow: the scoring run holds aggregates only; the salt is in no run of the store
    experiment = ["socialcrm-churn-scoring-dev"]
    runs = mlflow.search_runs(experiment_names=experiment, output_format="list")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.metrics["rows"] == len(scores)
    assert {"score_p50", "decision_share_True", "rows_per_second"} <= set(run.data.metrics)
    assert run.data.params["model_version"] == "1"
    db = cfg.tracking.tracking_uri.removeprefix("sqlite:///")
    assert SALT.encode() not in Path(db).read_bytes()
    for f in Path(cfg.tracking.artifact_root).rglob("*"):
        if f.is_file() and f.suffix in {".md", ".json", ".yaml", ".txt", ".csv"}:
            assert SALT not in f.read_text(errors="ignore"), f


def test_raw_ids_on_request_and_no_reasons_with_zero(world):
    root = world["root"]
    cfg = compose(
        [
            *_overrides(world, "score.key=id", "score.top_reasons=0", "score.log_to_mlflow=false"),
            f"score.output_dir={root}/ids",
            f"score.as_of={world['as_of']:%Y-%m-%d}",
        ]
    )
    path = run_score(cfg)
    scores = pd.read_parquet(path)
    assert list(scores.customer_id) == list(world["features"].frame.customer_id.astype(str))
    assert not set(batch.reason_columns(scores.columns))
    assert "customer_hash" not in scores.columns
    hashed = pd.read_parquet(world["path"])
    np.testing.assert_array_equal(scores.probability, hashed.probability)


def _write(world, frame, path, chunk_rows, top_reasons=3):
    cfg = world["cfg"]
    ref = _ref(cfg)
    return write_scores(
        frame,
        load_model(ref),
        build_task(cfg),
        {},
        path,
        ref,
        world["as_of"],
        chunk_rows,
        top_reasons,
        "hash",
        SALT,
    )


def test_chunking_changes_nothing(world, tmp_path):
    frame = world["features"].frame
    one = _write(world, frame, tmp_path / "one.parquet", len(frame))
    many = _write(world, frame, tmp_path / "many.parquet", 97)
    a, b = pd.read_parquet(one.path), pd.read_parquet(many.path)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, pd.read_parquet(world["path"]))
    assert pq.ParquetFile(many.path).metadata.num_row_groups == -(-len(frame) // 97)


def test_a_failure_mid_batch_leaves_no_partial_file(world, tmp_path):
    frame = world["features"].frame.copy()
    target = tmp_path / "scores.parquet"
    good = _write(world, frame, target, 200)
    before = target.read_bytes()
    # a corrupted row in the second chunk: the model refuses it after the first
    # chunk was scored (and its reasons spilled to disk)
    frame.loc[frame.index[250], "recency_days"] = np.inf
    with pytest.raises(UserError, match=r"non_finite .*recency_days \(1 of 200 rows\)"):
        _write(world, frame, target, 200)
    assert target.read_bytes() == before  # the previous complete file, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.parquet"]
    with pytest.raises(UserError):
        _write(world, frame, tmp_path / "fresh.parquet", 200)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.parquet"]
    assert good.rows == len(frame)


def test_no_active_customer_gives_an_empty_table_with_every_column(world, tmp_path):
    frame = world["features"].frame.iloc[:0]
    empty = pd.read_parquet(_write(world, frame, tmp_path / "empty.parquet", 100).path)
    assert len(empty) == 0
    assert list(empty.columns) == list(pd.read_parquet(world["path"]).columns)


def test_a_model_of_another_feature_set_is_refused(world):
    cfg = world["cfg"]
    with pytest.raises(ConfigError, match=r"trained on features=crm, not features=all"):
        resolve_model(
            "models:/socialcrm-churn-crm@challenger",
            "churn",
            {"data": cfg.data.name, "features": cfg.features.name},
        )
    with pytest.raises(ConfigError, match=r"trained for task=nbo, not task=churn"):
        resolve_model("models:/socialcrm-nbo@champion", "churn", {"data": cfg.data.name})


def test_the_cli_refuses_a_missing_alias_without_a_traceback(world):
    result = CliRunner().invoke(
        app,
        ["score", *_overrides(world), "score.model=models:/socialcrm-churn@nosuchalias"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "no model models:/socialcrm-churn@nosuchalias" in result.output
    assert "socialcrm train task=churn" in result.output
    assert "socialcrm promote task=churn" in result.output


def test_a_budget_caps_the_share_of_customers_offered(world):
    root = world["root"]
    cfg = compose(
        [
            *_overrides(world, "task=nbo", "task.budget.share=0.2", "score.log_to_mlflow=false"),
            f"score.as_of={world['as_of']:%Y-%m-%d}",
            "score.top_reasons=0",
        ]
    )
    scores = pd.read_parquet(run_score(cfg))
    assert len(scores) == len(world["features"].frame)
    offered = (scores.decision != "none").mean()
    # unconstrained, each customer's own best action offers to more than the budget
    assert (scores.action != "none").mean() > 0.2
    assert 0 < offered <= 0.2 + 1e-9
    assert {c for c in scores.columns if c.startswith("expected_profit_")}
    summary = json.loads(
        (root / "reports" / "score" / "synthetic_small" / "nbo" / "summary.json").read_text()
    )
    assert summary["score"] == "expected_value"
    assert summary["decisions"]["none"]["share"] == pytest.approx(1 - offered)

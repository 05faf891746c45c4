"""Spark scoring (``mlflow.pyfunc.spark_udf``) of a registered project model gives, row
for row, what pandas scoring (``scoring.batch.predict_outputs`` / ``model.predict``)
gives: scores, decisions and reason codes.

The model is the churn task's kind (``fit_calibrated``: LightGBM, isotonic
calibration, a decision threshold) fitted on 1,500 synthetic feature rows, logged as
the project's pyfunc and registered in a temporary MLflow store: the cheapest real
model (as ``tests/tasks/test_model_door.py`` makes it), no synthetic world needed.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from socialcrm.config import compose
from socialcrm.scoring import batch
from socialcrm.tasks.base import TaskData, fit_calibrated
from socialcrm.tracking import start_run
from socialcrm.tracking.pyfunc import log_scoring_model, set_alias
from spark_session import spark_backend

NUMERIC = ["tenure_days", "recency_days", "monetary_90d", "n_tickets_90d"]
CATEGORICAL = ["plan"]
NAME = "spark-churn"
URI = f"models:/{NAME}@champion"
REASONS = [f"{d}_{j}" for d in ("raising", "lowering") for j in (1, 2, 3)]


def _rows(n: int = 1500, seed: int = 3) -> pd.DataFrame:
    """Feature-table rows: keys, split, label, features (some missing)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:06d}" for i in range(n)],
            "cutoff": pd.Timestamp("2026-01-01"),
            "split": rng.choice(["train", "valid", "test"], n, p=[0.6, 0.2, 0.2]),
            "tenure_days": rng.gamma(2.0, 211.37, n),
            "recency_days": rng.exponential(37.113, n),
            "monetary_90d": rng.lognormal(4.0, 1.0, n),
            "n_tickets_90d": rng.poisson(1.2, n).astype(float),
            "plan": rng.choice(["basic", "plus", "premium"], n),
        }
    )
    frame["cutoff"] = frame["cutoff"].astype("datetime64[us]")
    frame.loc[rng.random(n) < 0.15, "monetary_90d"] = np.nan
    frame.loc[rng.random(n) < 0.05, "plan"] = None
    logit = -1.5 + 0.8 * frame.n_tickets_90d - 0.002 * frame.tenure_days + 0.01 * frame.recency_days
    frame["label_churn"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return frame


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """The churn-like model, registered as ``spark-churn`` (alias ``champion``)."""
    frame = _rows()
    root = tmp_path_factory.mktemp("spark_scoring")
    tracking = {
        "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
        "artifact_root": str(root / "artifacts"),
    }
    data = TaskData(frame, NUMERIC, CATEGORICAL, "label_churn")
    model_cfg = OmegaConf.to_container(compose(["model=lightgbm"]).model, resolve=True)
    model = fit_calibrated(data, data.part("train"), data.part("valid"), model_cfg, "isotonic", 0)
    previous = mlflow.get_tracking_uri()
    with start_run(tracking, "spark-scoring"):
        info = log_scoring_model(model, data.part("test"), NAME)
    set_alias(NAME, "champion", info.registered_model_version)
    rows = frame[frame["split"] == "test"].reset_index(drop=True)
    yield {"rows": rows, "loaded": mlflow.pyfunc.load_model(URI)}
    mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="module")
def spark():
    yield from spark_backend()


@pytest.fixture(scope="module")
def spark_rows(spark, registered):
    """The test rows as a Spark DataFrame (naive timestamps as TIMESTAMP_NTZ)."""
    from socialcrm.features.backends.spark import spark_schema

    rows = registered["rows"]
    return spark.spark.createDataFrame(rows, schema=spark_schema(rows))


def _by_customer(scored) -> pd.DataFrame:
    return scored.toPandas().sort_values("customer_id").reset_index(drop=True)


def _inputs(loaded) -> list[str]:
    return loaded.metadata.get_input_schema().input_names()


def test_spark_udf_scores_equal_pandas_scoring(spark, registered, spark_rows):
    from socialcrm.scoring.spark import score_spark

    rows, loaded = registered["rows"], registered["loaded"]
    scored = score_spark(spark.spark, URI, spark_rows)
    got = _by_customer(scored)
    expected = batch.predict_outputs(loaded, rows, _inputs(loaded))
    order = rows["customer_id"].sort_values().index
    expected = expected.loc[order].reset_index(drop=True)
    assert list(got.columns) == [*rows.columns, "probability", "decision"]
    assert len(got) == len(rows) > 200
    assert list(got.customer_id) == list(rows.customer_id.loc[order])
    np.testing.assert_allclose(got.probability, expected.probability, rtol=1e-9, atol=0)
    assert (got.decision.astype(bool) == expected.decision.astype(bool)).all()
    assert got.decision.astype(bool).any() and not got.decision.astype(bool).all()


def test_reason_codes_and_a_primitive_result_type(spark, registered, spark_rows):
    from socialcrm.scoring.spark import score_spark

    rows, loaded = registered["rows"], registered["loaded"]
    head = rows.head(40)
    part = spark_rows.where(spark_rows.customer_id.isin(list(head.customer_id)))
    got = _by_customer(score_spark(spark.spark, URI, part, top_reasons=3))
    expected = loaded.predict(head[_inputs(loaded)], params={"top_reasons": 3})
    expected = expected.set_index(head.customer_id).sort_index().reset_index(drop=True)
    np.testing.assert_allclose(got.probability, expected.probability, rtol=1e-9, atol=0)
    for col in REASONS:
        assert list(got[col]) == list(expected[col]), col
    assert (got.raising_1.str.len() > 0).any()
    # a primitive result type: MLflow's leftmost numeric output, the probability
    score = _by_customer(score_spark(spark.spark, URI, part, result_type="double"))
    np.testing.assert_allclose(score.score, expected.probability, rtol=1e-9, atol=0)


def test_an_output_column_in_the_frame_is_refused(spark, registered, spark_rows):
    from socialcrm.scoring.spark import score_spark

    with pytest.raises(ValueError, match="probability"):
        score_spark(spark.spark, URI, spark_rows.withColumnRenamed("split", "probability"))

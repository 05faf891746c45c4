"""The registered model at the door of production: loaded by alias, it checks its own
input (short messages that name columns and rules, never values), scores NaN, rejects
infinities, returns an empty typed frame for zero rows and ships no customer's row."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import textwrap

import mlflow
import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from socialcrm.config import compose
from socialcrm.models.calibration import ModelInputError
from socialcrm.tasks.base import TaskData, fit_calibrated
from socialcrm.tracking import start_run
from socialcrm.tracking.pyfunc import log_scoring_model, set_alias

NUMERIC = ["tenure_days", "recency_days", "monetary_90d", "n_tickets_90d"]
CATEGORICAL = ["plan"]
FEATURES = [*NUMERIC, *CATEGORICAL]
CONTINUOUS = ["tenure_days", "recency_days", "monetary_90d"]
NAME = "door-churn"
ID = re.compile(r"C\d{6}")


def _world(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Feature-table rows: identifiers, split, label and features with telling decimals."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:06d}" for i in rng.permutation(900_000)[:n] + 100_000],
            "cutoff": pd.Timestamp("2026-01-01"),
            "split": rng.choice(["train", "valid", "test"], n, p=[0.6, 0.2, 0.2]),
            "tenure_days": rng.gamma(2.0, 211.37, n),
            "recency_days": rng.exponential(37.113, n),
            "monetary_90d": rng.lognormal(4.0, 1.0, n),
            "n_tickets_90d": rng.poisson(1.2, n).astype(float),
            "plan": rng.choice(["basic", "plus", "premium"], n),
        }
    )
    frame.loc[rng.random(n) < 0.15, "monetary_90d"] = np.nan
    logit = -1.5 + 0.8 * frame.n_tickets_90d - 0.002 * frame.tenure_days + 0.01 * frame.recency_days
    frame["label_churn"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return frame


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return _world()


@pytest.fixture(scope="module", params=["lightgbm", "logreg"])
def door(request, frame, tmp_path_factory):
    """A model fitted like the churn task's, logged, registered and loaded by alias."""
    root = tmp_path_factory.mktemp(f"door_{request.param}")
    tracking = {
        "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
        "artifact_root": str(root / "artifacts"),
    }
    data = TaskData(frame, NUMERIC, CATEGORICAL, "label_churn")
    model_cfg = OmegaConf.to_container(compose([f"model={request.param}"]).model, resolve=True)
    model = fit_calibrated(data, data.part("train"), data.part("valid"), model_cfg, "isotonic", 0)
    previous = mlflow.get_tracking_uri()
    with start_run(tracking, "door"):
        info = log_scoring_model(model, data.part("test"), NAME)
    set_alias(NAME, "challenger", info.registered_model_version)
    loaded = mlflow.pyfunc.load_model(f"models:/{NAME}@challenger")
    yield {"model": model, "loaded": loaded, "tracking": tracking, "info": info}
    mlflow.set_tracking_uri(previous)


@pytest.fixture
def test_rows(frame) -> pd.DataFrame:
    return frame[frame["split"] == "test"].head(40).copy()


def _assert_private(message: str, rows: pd.DataFrame) -> None:
    """Short, and nothing of the rows in it: no identifier, no feature value."""
    assert len(message) < 500, message
    assert not ID.search(message), message
    for col in CONTINUOUS:  # (counts such as 3.0 would match "3 of 40 rows")
        for v in rows[col].dropna():
            assert str(v) not in message and f"{v:.4g}" not in message, (col, v, message)


def test_missing_column_is_named_with_its_rule(door, test_rows):
    with pytest.raises(ModelInputError) as err:
        door["loaded"].predict(test_rows.drop(columns=["recency_days", "plan"]))
    message = str(err.value)
    assert "missing_column" in message
    assert "recency_days" in message and "plan" in message
    assert err.value.problems == {"missing_column": {"recency_days": 0, "plan": 0}}
    assert isinstance(err.value, ValueError)
    _assert_private(message, test_rows)


def test_text_in_a_numeric_column_is_named_with_its_rule(door, test_rows):
    rows = test_rows.astype({"tenure_days": object})
    rows.loc[rows.index[:3], "tenure_days"] = "SECRET-TEXT-42"
    with pytest.raises(ModelInputError) as err:
        door["loaded"].predict(rows)
    message = str(err.value)
    assert "not_numeric" in message and "tenure_days" in message
    assert f"3 of {len(rows)} rows" in message
    assert "SECRET-TEXT-42" not in message
    _assert_private(message, test_rows)


def test_infinities_are_rejected_naming_the_columns(door, test_rows):
    rows = test_rows.copy()
    rows.loc[rows.index[:2], "recency_days"] = np.inf
    rows.loc[rows.index[5], "monetary_90d"] = -np.inf
    with pytest.raises(ModelInputError) as err:
        door["loaded"].predict(rows)
    message = str(err.value)
    assert "non_finite" in message
    assert "recency_days (2 of" in message and "monetary_90d (1 of" in message
    assert err.value.problems == {"non_finite": {"recency_days": 2, "monetary_90d": 1}}
    _assert_private(message, test_rows)


def test_missing_values_are_scored(door, test_rows):
    rows = test_rows.copy()
    rows.loc[rows.index[:10], ["recency_days", "monetary_90d"]] = np.nan
    scored = door["loaded"].predict(rows)
    assert len(scored) == len(rows)
    assert scored.probability.between(0, 1).all()
    assert (scored.raising_1.str.len() > 0).any()


def test_zero_rows_give_the_declared_columns_and_dtypes(door, test_rows):
    empty = door["loaded"].predict(test_rows.iloc[:0])
    full = door["loaded"].predict(test_rows)
    outputs = door["loaded"].metadata.get_output_schema()
    assert empty.empty
    assert list(empty.columns) == outputs.input_names() == list(full.columns)
    assert empty.dtypes.to_dict() == full.dtypes.to_dict()
    for spec in outputs.inputs:  # the declared MLflow type accepts the dtype
        kind = {"double": "f", "boolean": "b", "string": "OU"}[spec.type.name]
        dtype = empty[spec.name].dtype
        assert dtype.kind in kind or isinstance(dtype, pd.StringDtype), (spec, dtype)
    quick = door["loaded"].predict(test_rows.iloc[:0], params={"top_reasons": 0})
    assert list(quick.columns) == ["probability", "decision"]


def test_extra_columns_are_ignored(door, test_rows):
    noisy = test_rows.assign(notes="free text", score_v0=np.inf)
    got = door["loaded"].predict(noisy)
    expected = door["loaded"].predict(test_rows[FEATURES])
    pd.testing.assert_frame_equal(got, expected)
    np.testing.assert_allclose(got.probability, door["model"].predict(test_rows), atol=1e-12)


def test_signature_lists_the_features_and_metadata_their_types(door):
    meta = door["loaded"].metadata
    inputs = meta.get_input_schema()
    assert inputs.input_names() == FEATURES
    assert not inputs.required_input_names()  # the model, not MLflow, checks presence
    contract = meta.metadata["input_contract"]
    assert contract["numeric"] == NUMERIC and contract["categorical"] == CATEGORICAL
    assert set(contract["rules"]) >= {"missing_column", "not_numeric", "non_finite"}
    assert meta.get_params_schema().to_dict()[0]["name"] == "top_reasons"


def test_no_customer_row_travels_with_the_model(door, frame):
    def keys(rows: pd.DataFrame) -> set[tuple]:
        return set(rows[FEATURES].astype(object).fillna("<NA>").itertuples(index=False))

    model = door["model"]
    real = keys(model.frame(frame))
    background = model.info["background"]
    assert background is not None and len(background) > 100
    assert not keys(background) & real
    example = door["loaded"].input_example
    assert example is not None and len(example) > 0
    assert not keys(model.frame(example)) & real
    assert not set(example.columns) - set(FEATURES)  # no identifiers either


def test_the_error_stays_short_and_survives_pickling():
    problems = {
        "missing_column": {f"a_rather_long_feature_name_{i}_365d": 0 for i in range(80)},
        "non_finite": {"recency_days": 3},
    }
    err = ModelInputError(problems, 10)
    assert len(str(err)) < 500 and "and 75 more" in str(err)
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.problems == problems


@pytest.mark.parametrize("door", ["lightgbm"], indirect=True)  # one fresh process is enough
def test_a_fresh_process_gets_the_models_own_error(door, test_rows, tmp_path):
    rows_path = tmp_path / "rows.parquet"
    test_rows.to_parquet(rows_path)
    script = textwrap.dedent(
        f"""
        import json, mlflow, numpy as np, pandas as pd
        rows = pd.read_parquet({str(rows_path)!r})
        model = mlflow.pyfunc.load_model("models:/{NAME}@challenger")
        out = {{}}
        for case, data in (
            ("missing", rows.drop(columns=["recency_days"])),
            ("inf", rows.assign(recency_days=np.inf)),
        ):
            try:
                model.predict(data)
            except Exception as e:
                out[case] = [type(e).__module__ + "." + type(e).__name__, str(e),
                             isinstance(e, ValueError)]
        empty = model.predict(rows.iloc[:0])
        out["empty"] = [list(empty.columns), len(empty)]
        print(json.dumps(out))
        """
    )
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": door["tracking"]["tracking_uri"],
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    env.pop("SOCIALCRM_ROOT", None)
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    error = "socialcrm.models.calibration.ModelInputError"
    assert out["missing"][0] == error and out["missing"][2]
    assert "missing_column" in out["missing"][1] and "recency_days" in out["missing"][1]
    assert out["inf"][0] == error and "non_finite" in out["inf"][1]
    with pytest.raises(ModelInputError) as here:
        door["loaded"].predict(test_rows.assign(recency_days=np.inf))
    assert out["inf"][1] == str(here.value)
    assert out["empty"] == [list(door["loaded"].predict(test_rows).columns), 0]
    assert "Failed to enforce schema" not in proc.stderr
    assert not ID.search(proc.stderr)

"""The registered churn model behind the real REST server (``mlflow models serve``,
what ``make serve`` runs): valid requests score like the model in process, malformed
ones get a 4xx that names the problem and shows no row's values, and the server
keeps answering afterwards.

A churn model is trained on the quick preset into a temporary root, given the
``champion`` alias, and served from that store on a free port of 127.0.0.1.
"""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests

from socialcrm.config import compose
from socialcrm.runner import feature_table_path, train
from socialcrm.serving import ModelServer

pytestmark = pytest.mark.xdist_group("production")

NAME = "socialcrm-churn"
MODEL_URI = f"models:/{NAME}@champion"
JSON = {"Content-Type": "application/json"}
#: Planted in every row but the faulty one: no error body may show them.
MARKER_ID = "CUST-SECRET-123"
MARKER_VALUE = 987654.321
MARKER_COLUMN = "monetary_total"
MARKER_TEXTS = (MARKER_ID, "987654", "9.877e+05", "9.87654")
START_SECONDS = 180
TIMEOUT = 120


@pytest.fixture(scope="module")
def trained(quick_world, tmp_path_factory):
    """A churn model trained on the quick preset, registered and aliased ``champion``."""
    root = quick_world.root
    cfg = compose(
        quick_world.overrides(
            tmp_path_factory.mktemp("serve_store"), "train.register=true", "task.explain=false"
        )
    )
    previous = mlflow.get_tracking_uri()
    outcome = train(cfg)
    uri = str(cfg.tracking.tracking_uri)
    mlflow.set_tracking_uri(uri)
    mlflow.MlflowClient().set_registered_model_alias(NAME, "champion", outcome.version)
    frame = pd.read_parquet(feature_table_path(cfg))
    test = frame[frame["split"] == "test"].reset_index(drop=True)
    yield {
        "uri": uri,
        "root": root,
        "rows": test,
        "loaded": mlflow.pyfunc.load_model(MODEL_URI),
    }
    mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="module")
def server(trained):
    """The real scoring server for ``models:/socialcrm-churn@champion``; its base URL."""
    served = ModelServer(
        MODEL_URI, trained["uri"], trained["root"] / "server.log", start_seconds=START_SECONDS
    )
    try:
        served.__enter__()
    except RuntimeError as err:
        pytest.fail(str(err))
    try:
        yield {"url": served.url, "log": served.log_path}
    finally:
        served.stop()


def _plain(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows as JSON-ready Python objects (floats exact, dates as text, missing as null)."""
    out = rows.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d")
    return out.astype(object).where(out.notna(), None)


def records(rows: pd.DataFrame) -> dict:
    return {"dataframe_records": _plain(rows).to_dict(orient="records")}


def split(rows: pd.DataFrame) -> dict:
    plain = _plain(rows)
    return {"dataframe_split": {"columns": list(plain.columns), "data": plain.values.tolist()}}


def post(server, body, headers=None, raw: bool = False) -> requests.Response:
    url = f"{server['url']}/invocations"
    if raw:
        return requests.post(url, data=body, headers=headers or JSON, timeout=TIMEOUT)
    return requests.post(url, json=body, headers=headers or JSON, timeout=TIMEOUT)


def marked(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with the markers planted in all but the first (the one made faulty)."""
    out = rows.copy()
    out.loc[out.index[1:], "customer_id"] = MARKER_ID
    out.loc[out.index[1:], MARKER_COLUMN] = MARKER_VALUE
    return out


def assert_rejected(response: requests.Response, status: int = 400) -> dict | str:
    """A 4xx whose body shows no planted marker; the parsed JSON body when there is one."""
    assert response.status_code == status, response.text[:2000]
    for marker in MARKER_TEXTS:
        assert marker not in response.text, (marker, response.text[:2000])
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()
    return response.text


def assert_door_error(body: dict, rule: str, column: str, n_rows: int) -> None:
    """The model's own error: its short message, structured problems and no stack trace."""
    assert body["error_code"] == "INVALID_PARAMETER_VALUE", body
    assert rule in body["message"] and column in body["message"], body["message"]
    assert "Row values are not shown" in body["message"]
    assert column in body["problems"][rule]
    assert body["n_rows"] == n_rows
    assert "stack_trace" not in body  # (it would show server paths and source lines)
    assert len(body["message"]) < 500


@pytest.fixture(scope="module")
def rows(trained) -> pd.DataFrame:
    return trained["rows"].head(40)


@pytest.fixture(scope="module")
def expected(trained, rows) -> pd.DataFrame:
    return trained["loaded"].predict(rows)


# --- valid requests ------------------------------------------------------------------


@pytest.mark.parametrize("shape", [records, split], ids=["dataframe_records", "dataframe_split"])
def test_valid_rows_score_as_in_process(server, rows, expected, shape):
    response = post(server, shape(rows))
    assert response.status_code == 200, response.text[:2000]
    got = pd.DataFrame(response.json()["predictions"])
    assert len(got) == len(rows)
    assert list(got.columns) == list(expected.columns)
    assert got.probability.between(0, 1).all()
    np.testing.assert_allclose(got.probability, expected.probability, rtol=0, atol=1e-12)
    rest = [c for c in expected.columns if c != "probability"]  # decision and reasons
    pd.testing.assert_frame_equal(got[rest], expected[rest])


def test_params_choose_the_number_of_reasons(server, rows, expected):
    response = post(server, {**split(rows), "params": {"top_reasons": 0}})
    assert response.status_code == 200, response.text[:2000]
    got = pd.DataFrame(response.json()["predictions"])
    assert list(got.columns) == ["probability", "decision"]
    np.testing.assert_allclose(got.probability, expected.probability, rtol=0, atol=1e-12)


def test_ten_thousand_rows_are_scored_in_one_request(server, trained, rows, expected):
    """10,000 valid rows are a valid request: 200 with 10,000 predictions, not a 4xx
    (3 to 8 s with reasons on two busy cores, inside the server's 60 s timeout)."""
    base = trained["rows"]
    big = pd.concat([base] * (10_000 // len(base) + 1), ignore_index=True).head(10_000)
    response = post(server, split(big))
    assert response.status_code == 200, response.text[:2000]
    got = pd.DataFrame(response.json()["predictions"])
    assert len(got) == 10_000
    assert got.probability.between(0, 1).all()
    np.testing.assert_allclose(got.probability[: len(rows)], expected.probability, atol=1e-12)


def test_an_empty_batch_with_its_columns_gives_no_predictions(server, rows):
    """Zero rows in ``dataframe_split`` keep the columns: an empty answer, not an error."""
    response = post(server, split(rows.iloc[:0]))
    assert response.status_code == 200, response.text[:2000]
    assert response.json()["predictions"] == []


# --- malformed requests ----------------------------------------------------------------


def test_a_body_that_is_not_json_is_a_400(server):
    body = assert_rejected(post(server, b"dataframe_records=tenure_days", raw=True))
    assert body["error_code"] == "BAD_REQUEST"
    assert "valid JSON" in body["message"]


def test_a_wrong_content_type_is_a_415(server, rows):
    payload = json.dumps(records(marked(rows)))
    text = assert_rejected(post(server, payload, {"Content-Type": "text/plain"}, raw=True), 415)
    assert "application/json" in text and "text/plain" in text


def test_json_without_a_dataframe_key_is_a_400(server, rows):
    body = assert_rejected(post(server, {"rows": records(marked(rows))["dataframe_records"]}))
    assert "dataframe_records" in body["message"] and "dataframe_split" in body["message"]


@pytest.mark.parametrize("shape", [records, split], ids=["dataframe_records", "dataframe_split"])
def test_a_missing_feature_column_is_named(server, rows, shape):
    body = assert_rejected(post(server, shape(marked(rows).drop(columns=["recency_days"]))))
    assert_door_error(body, "missing_column", "recency_days", len(rows))
    assert body["problems"] == {"missing_column": {"recency_days": 0}}


def test_text_in_a_numeric_column_is_named(server, rows):
    faulty = marked(rows).astype({"tenure_days": object})
    faulty.loc[faulty.index[0], "tenure_days"] = "SECRET-TEXT-42"
    response = post(server, records(faulty))
    assert "SECRET-TEXT-42" not in response.text
    body = assert_rejected(response)
    assert_door_error(body, "not_numeric", "tenure_days", len(rows))
    assert f"tenure_days (1 of {len(rows)} rows)" in body["message"]


def test_an_infinity_is_named(server, rows):
    faulty = marked(rows)
    faulty.loc[faulty.index[0], "recency_days"] = np.inf
    payload = json.dumps(records(faulty))  # Python's JSON writes Infinity, as clients may
    assert "Infinity" in payload
    body = assert_rejected(post(server, payload, raw=True))
    assert_door_error(body, "non_finite", "recency_days", len(rows))


def test_an_empty_list_is_a_400_that_says_zero_rows(server):
    """``"dataframe_records": []`` carries no rows and so no columns: the model cannot
    tell it from a request without its features, and says so."""
    body = assert_rejected(post(server, {"dataframe_records": []}))
    assert_door_error(body, "missing_column", "recency_days", 0)
    assert "(0 rows)" in body["message"]


# --- what MLflow's own server echoes (not the model's to fix) -------------------------


@pytest.mark.xfail(
    strict=True,
    reason="MLflow 3.17's scoring server echoes a body that is not JSON into its error "
    "message (scoring_server._decode_json_input): the client's rows come back to it",
)
def test_a_broken_json_body_is_not_echoed(server, rows):
    payload = json.dumps(records(marked(rows)))[:-20]
    assert_rejected(post(server, payload, raw=True))


@pytest.mark.xfail(
    strict=True,
    reason="MLflow 3.17's scoring server prefixes the message of an MlflowException from "
    "predict with the input frame's repr (scoring_server.invocations), e.g. when MLflow "
    "itself rejects a param; the model's ModelInputError ignores that rewrite",
)
def test_a_bad_param_does_not_echo_the_rows(server, rows):
    assert_rejected(post(server, {**records(marked(rows)), "params": {"top_reasons": "x"}}))


# --- and the server is still there -----------------------------------------------------


def test_the_server_still_answers_after_bad_requests(server, rows, expected):
    faulty = marked(rows).drop(columns=["plan"])
    for payload, headers in (
        (b"{not json", JSON),
        (json.dumps(records(faulty)), JSON),
        (json.dumps({"dataframe_records": []}), JSON),
        (json.dumps(records(rows)), {"Content-Type": "text/plain"}),
    ):
        assert 400 <= post(server, payload, headers, raw=True).status_code < 500
    assert requests.get(f"{server['url']}/ping", timeout=TIMEOUT).status_code == 200
    assert requests.get(f"{server['url']}/health", timeout=TIMEOUT).status_code == 200
    response = post(server, records(rows))
    assert response.status_code == 200
    got = pd.DataFrame(response.json()["predictions"])
    np.testing.assert_allclose(got.probability, expected.probability, rtol=0, atol=1e-12)
    log = server["log"].read_text(errors="ignore")
    assert MARKER_ID not in log and "987654" not in log  # the access log shows no rows either

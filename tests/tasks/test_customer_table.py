"""The customer-table data source (data=telco): loading, its errors, derived features,
and the churn task on it (the real Telco table when ../shared/data is present)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from socialcrm.config import compose
from socialcrm.data.customer_table import (
    CustomerTableError,
    CustomerTableSpec,
    build_customer_table,
    check_customer_table,
    check_task,
    derive_features,
    load_customer_table,
    read_raw,
    validate_customer_table,
)
from socialcrm.data.example_export import telco_like_table
from socialcrm.data.validate import DataContractError
from socialcrm.errors import ConfigError
from socialcrm.runner import build_task, load_features

HEADER = "customerID,gender,tenure,MonthlyCharges,TotalCharges,Contract,Churn"
ROWS = [
    "A-1,Female,1,29.85,29.85,Month-to-month,No",
    "A-2,Male,34,56.95,1889.5,One year,No",
    "A-3,Male,2,53.85,108.15,Month-to-month,Yes",
    "A-4,Female,0,52.55, ,Two year,No",
]


def write(tmp_path: Path, rows: list[str], header: str = HEADER, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text("\r\n".join([header, *rows]) + "\r\n", encoding="utf-8")  # CRLF like telco
    return path


def config(path: Path, **extra) -> dict:
    cfg = {
        "name": "t",
        "path": str(path),
        "id": {"column": "customerID"},
        "target": {"column": "Churn", "positive": ["Yes"], "negative": ["No"]},
        "missing": {"all": [""], "columns": {"TotalCharges": [" "]}},
        "numeric": ["tenure", "MonthlyCharges", "TotalCharges"],
        "categorical": ["gender", "Contract"],
    }
    cfg.update(extra)
    return cfg


def load(path: Path, **extra):
    return load_customer_table(config(path, **extra))


def only(err: pytest.ExceptionInfo, rule: str):
    """The single violation of ``rule`` in the error's report."""
    found = err.value.report.find(rule)
    assert len(found) == 1, err.value.report
    return found[0]


def test_loads_the_task_shape(tmp_path):
    frame, manifest, path = load(write(tmp_path, ROWS))
    assert path.name == "t.csv"
    assert list(frame.columns) == [
        "customer_id",
        "tenure",
        "MonthlyCharges",
        "TotalCharges",
        "gender",
        "Contract",
        "label_churn",
    ]
    assert "split" not in frame.columns
    assert frame.customer_id.tolist() == ["A-1", "A-2", "A-3", "A-4"]
    assert frame.label_churn.tolist() == [0, 0, 1, 0]
    assert frame.tenure.dtype == np.float64
    assert frame.Contract.tolist() == ["Month-to-month", "One year", "Month-to-month", "Two year"]
    by_name = {m["name"]: m for m in manifest}
    assert by_name["tenure"] == {
        "name": "tenure",
        "group": "crm",
        "description": "tenure",
        "dtype": "float",
        "role": "feature",
    }
    assert by_name["Contract"]["dtype"] == "category"
    assert by_name["label_churn"]["role"] == "label"
    assert "customer_id" not in by_name


def test_target_mapping_with_several_values(tmp_path):
    rows = [r.replace(",Yes", ",churned").replace(",No", ",active") for r in ROWS]
    rows[1] = rows[1].replace(",active", ",stayed")
    target = {
        "column": "Churn",
        "positive": ["churned"],
        "negative": ["active", "stayed"],
        "label": "y",
    }
    frame, manifest, _ = load(write(tmp_path, rows), target=target)
    assert frame.y.tolist() == [0, 0, 1, 0]
    assert manifest[-1]["name"] == "y"


def test_blank_declared_missing_is_missing(tmp_path):
    frame, _, _ = load(write(tmp_path, ROWS))
    assert np.isnan(frame.TotalCharges.iloc[3])
    assert frame.TotalCharges.iloc[:3].tolist() == [29.85, 1889.5, 108.15]


def test_blank_not_declared_is_an_error(tmp_path):
    path = write(tmp_path, ROWS)
    with pytest.raises(CustomerTableError) as err:
        load(path, missing={"all": [""]})
    v = only(err, "wrong_type")
    assert (v.file, v.column, v.count, v.examples) == (str(path), "TotalCharges", 1, [(4, "' '")])
    assert v.message.startswith(f"{path}: column 'TotalCharges': value that is not a number")
    assert "data.missing.columns.TotalCharges" in str(err.value)


def test_empty_field_is_missing_by_default(tmp_path):
    rows = [*ROWS[:3], "A-4,Female,0,52.55,,Two year,No"]
    frame, _, _ = load(write(tmp_path, rows), missing=None)
    assert np.isnan(frame.TotalCharges.iloc[3])


@pytest.mark.parametrize(
    ("bad", "rule"),
    [("abc", "wrong_type"), ("1,5", "wrong_type"), ("NaN", "non_finite"), ("inf", "non_finite")],
)
def test_non_numeric_value_is_an_error(tmp_path, bad, rule):
    rows = list(ROWS)
    rows[1] = f'A-2,Male,34,"{bad}",1889.5,One year,No'
    path = write(tmp_path, rows)
    with pytest.raises(CustomerTableError) as err:
        load(path)
    v = only(err, rule)
    assert (v.file, v.column, v.examples) == (str(path), "MonthlyCharges", [(2, repr(bad))])
    assert isinstance(err.value, DataContractError)  # the event tables' error and report


def test_missing_file(tmp_path):
    path = tmp_path / "nope" / "t.csv"
    with pytest.raises(CustomerTableError, match=re.escape(f"{path}: customer table not found")):
        load(path)


@pytest.mark.parametrize(("column", "what"), [("customerID", "id"), ("Churn", "target")])
def test_missing_id_or_target_column(tmp_path, column, what):
    header = HEADER.replace(column, "Other")
    path = write(tmp_path, ROWS, header=header)
    with pytest.raises(CustomerTableError) as err:
        load(path)
    v = only(err, "missing_column")
    assert v.column == column and v.file == str(path)
    assert f"column {column!r} (the {what} column, data.{what}.column) is not in" in v.message


def test_unknown_target_values(tmp_path):
    rows = list(ROWS)
    rows[0] = rows[0].replace(",No", ",Maybe")
    rows[2] = rows[2].replace(",Yes", ",yes")
    with pytest.raises(CustomerTableError) as err:
        load(write(tmp_path, rows))
    v = only(err, "invalid_value")
    assert v.column == "Churn" and v.examples == [(1, "'Maybe'"), (3, "'yes'")]
    assert "expected positive ['Yes'] or negative ['No']" in v.message


def test_missing_target_value(tmp_path):
    rows = list(ROWS)
    rows[1] = rows[1].replace(",No", ",")
    with pytest.raises(CustomerTableError, match="column 'Churn': missing target in 1 row") as err:
        load(write(tmp_path, rows))
    assert only(err, "missing_value").examples == [(2, "''")]


def test_duplicate_ids_are_reported_without_the_ids(tmp_path):
    rows = [*ROWS, ROWS[2].replace("A-3", "A-1")]
    with pytest.raises(CustomerTableError) as err:
        load(write(tmp_path, rows))
    msg = str(err.value)
    v = only(err, "duplicate_key")
    assert [row for row, _ in v.examples] == [1, 5]
    assert "column 'customerID': duplicate id (one row per customer expected) in 2 rows" in msg
    assert "A-1" not in msg  # identifiers never reach messages or logs


def test_missing_id(tmp_path):
    rows = [*ROWS, ",Male,3,20.0,60.0,One year,No"]
    with pytest.raises(CustomerTableError, match="column 'customerID': missing id in 1 row") as err:
        load(write(tmp_path, rows))
    assert only(err, "missing_value").examples == [(5, "<value not shown>")]


def test_every_problem_is_listed_at_once(tmp_path):
    rows = list(ROWS)
    rows[0] = "A-1,Female,one,29.85,29.85,Month-to-month,Maybe"
    with pytest.raises(CustomerTableError) as err:
        load(write(tmp_path, rows))
    assert len(err.value.problems) == 2
    assert err.value.report.rules() == ["invalid_value", "wrong_type"]
    assert "(2 violations)" in str(err.value)


def test_undeclared_columns_are_an_error_unless_inferred(tmp_path):
    path = write(tmp_path, ROWS)
    with pytest.raises(CustomerTableError, match=r"column 'gender' is neither numeric") as err:
        load(path, categorical=["Contract"])
    assert only(err, "undeclared_column").column == "gender"
    _, manifest, _ = load(path, numeric=[], categorical=[], infer_types=True)
    types = {m["name"]: m["dtype"] for m in manifest if m["role"] == "feature"}
    assert types == {
        "gender": "category",
        "tenure": "float",
        "MonthlyCharges": "float",
        "TotalCharges": "float",  # the declared blank is missing, the rest parse
        "Contract": "category",
    }


def test_configured_column_not_in_file(tmp_path):
    with pytest.raises(CustomerTableError) as err:
        load(write(tmp_path, ROWS), numeric=["Tenure", "MonthlyCharges", "TotalCharges"])
    v = only(err, "missing_column")
    assert v.column == "Tenure"
    assert "(configured in data.numeric) is not in the file; did you mean 'tenure'?" in v.message


def test_drop_rename_and_hash(tmp_path):
    frame, _, _ = load(
        write(tmp_path, ROWS),
        drop=["gender"],
        categorical=["Contract"],
        rename={"Contract": "contract"},
        id={"column": "customerID", "hash": True},
        salt="s",
    )
    assert "gender" not in frame.columns
    assert "contract" in frame.columns
    assert all(len(i) == 32 and not i.startswith("A-") for i in frame.customer_id)
    assert frame.customer_id.nunique() == 4


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"data.target.negative is required"):
        CustomerTableSpec.from_config(
            {"path": "x.csv", "id": {"column": "i"}, "target": {"column": "y", "positive": ["1"]}}
        )
    with pytest.raises(ConfigError, match=r"\['tenure'\] are listed as both data.numeric and"):
        CustomerTableSpec.from_config(config(Path("x.csv"), categorical=["tenure"]))
    with pytest.raises(ConfigError, match=r"values \['No'\] are both positive and negative"):
        target = {"column": "Churn", "positive": ["Yes", "No"], "negative": ["No"]}
        CustomerTableSpec.from_config(config(Path("x.csv"), target=target))


def test_header_only_and_one_class_are_rejected_at_load(tmp_path):
    with pytest.raises(CustomerTableError, match="the table has a header but no rows") as err:
        load(write(tmp_path, []))
    assert err.value.report.rules() == ["empty_table"]
    rows = [r.replace(",Yes", ",No") for r in ROWS]
    with pytest.raises(CustomerTableError, match=r"every row is negative \(\['No'\]\)") as err:
        load(write(tmp_path, rows))
    assert err.value.report.rules() == ["single_class"]


def test_check_is_pure_and_validate_uses_the_same_rules(tmp_path):
    rows = [*ROWS, "A-5,Male,3,x,60.0,One year,No"]
    path = write(tmp_path, rows)
    spec = CustomerTableSpec.from_config(config(path))
    report = check_customer_table(read_raw(spec), spec, str(path))
    assert report.rules() == ["wrong_type"] and report.tables == {"customer_table": 5}
    assert validate_customer_table(config(path)).rules() == ["wrong_type"]
    assert validate_customer_table(config(write(tmp_path, ROWS))).ok


def test_check_task_needs_cross_validation():
    check_task({"data": {"source": "customer_table"}, "task": {"evaluation": "cv"}})
    check_task({"data": {"source": "synthetic"}, "task": {"evaluation": "time"}})
    with pytest.raises(ConfigError, match=r"task\.evaluation=cv"):
        check_task({"data": {"source": "customer_table", "name": "t"}, "task": {}})


def test_derived_features():
    table = pd.DataFrame(
        {
            "tenure": [0.0, 1.0, 10.0, np.nan],
            "total": [np.nan, 30.0, 500.0, 10.0],
            "monthly": [20.0, 30.0, 50.0, 70.0],
            "net": ["DSL", "Fiber", "DSL", "No"],
            "a": ["Yes", "No", "Yes", "Yes"],
            "b": ["Yes", "Yes", "No", None],
            "contract": ["M", "M", "Y", "Y"],
        }
    )
    spec = {
        "log_t": {"op": "log1p", "column": "tenure"},
        "per_month": {"op": "ratio", "numerator": "total", "denominator": "tenure"},
        "n_yes": {"op": "count", "columns": ["a", "b"], "value": "Yes"},
        "new": {"op": "indicator", "column": "tenure", "max": 1},
        "dsl_or_no": {"op": "indicator", "column": "net", "equals": ["DSL", "No"]},
        "dsl_monthly": {"op": "masked", "column": "monthly", "where": {"net": "DSL"}},
        "band": {"op": "bins", "column": "tenure", "edges": [0, 1, 12], "group": "bands"},
        "contract_band": {"op": "cross", "columns": ["contract", "band"], "description": "c x b"},
    }
    out, manifest = derive_features(table, spec)
    np.testing.assert_allclose(out.log_t, np.log1p(table.tenure))
    assert np.isnan(out.per_month[0]) and np.isnan(out.per_month[3])  # 0 or missing tenure
    assert out.per_month[2] == 50.0
    assert out.n_yes.tolist() == [2.0, 1.0, 1.0, 1.0]
    assert out.new.tolist()[:3] == [1.0, 1.0, 0.0] and np.isnan(out.new[3])
    assert out.dsl_or_no.tolist() == [1.0, 0.0, 1.0, 1.0]
    assert out.dsl_monthly.tolist() == [20.0, 0.0, 50.0, 0.0]
    assert out.band.tolist()[:3] == ["0-1", "0-1", "1-12"] and pd.isna(out.band[3])
    assert out.contract_band.tolist()[:3] == ["M|0-1", "M|0-1", "Y|1-12"]
    assert pd.isna(out.contract_band[3])
    groups = {m["name"]: (m["group"], m["dtype"]) for m in manifest}
    assert groups["band"] == ("bands", "category")
    assert groups["log_t"] == ("derived", "float")
    assert manifest[-1]["description"] == "c x b"
    # row-wise: a derived value depends on its own row only
    one, _ = derive_features(table.iloc[[2]], spec)
    pd.testing.assert_frame_equal(one, out.iloc[[2]], check_dtype=False)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"x": {"op": "sqrt", "column": "tenure"}}, "derived feature 'x': unknown op 'sqrt'"),
        ({"x": {"op": "ratio", "numerator": "tenure"}}, "needs ['denominator']"),
        ({"x": {"op": "log1p", "column": "tenure", "base": 2}}, "unknown keys ['base']"),
        ({"x": {"op": "log1p", "column": "Tenure"}}, "derived feature 'x': columns ['Tenure'] not"),
        ({"tenure": {"op": "log1p", "column": "tenure"}}, "a column of that name already exists"),
    ],
)
def test_derived_feature_errors(spec, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        derive_features(pd.DataFrame({"tenure": [1.0]}), spec, "t.csv")


def test_build_is_pure_and_reading_is_text(tmp_path):
    spec = CustomerTableSpec.from_config(config(write(tmp_path, ROWS)))
    raw = read_raw(spec)
    assert raw.TotalCharges.tolist()[3] == " "  # read as text: nothing converted yet
    before = raw.copy()
    a, _ = build_customer_table(raw, spec)
    b, _ = build_customer_table(raw, spec)
    pd.testing.assert_frame_equal(raw, before)
    pd.testing.assert_frame_equal(a, b)


# -- the telco config, on a small synthetic copy and on the real table ---------------

TELCO_COLUMNS = (
    "customerID,gender,SeniorCitizen,Partner,Dependents,tenure,PhoneService,MultipleLines,"
    "InternetService,OnlineSecurity,OnlineBackup,DeviceProtection,TechSupport,StreamingTV,"
    "StreamingMovies,Contract,PaperlessBilling,PaymentMethod,MonthlyCharges,TotalCharges,Churn"
)


def fake_telco(path: Path, n: int = 300, seed: int = 0) -> Path:
    """A telco-shaped table where short-tenure month-to-month customers churn more."""
    df = telco_like_table(n, seed)
    assert ",".join(df.columns) == TELCO_COLUMNS
    df.to_csv(path, index=False)
    return path


def test_train_dispatches_on_customer_table_and_runs_cv(tmp_path):
    csv = fake_telco(tmp_path / "telco.csv")
    cfg = compose(["experiment=telco", "model=logreg", "task.explain=false", f"data.path={csv}"])
    frame, manifest, path = load_features(cfg)
    assert path == csv
    assert "split" not in frame.columns and frame.TotalCharges.isna().sum() > 0
    task = build_task(cfg)
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    result = task.fit_evaluate(frame, manifest, list(cfg.features.groups), model_cfg, 42)
    assert len(result.tables["cv_folds"]) == 5
    assert result.metrics["roc_auc"] > 0.6
    assert "roc_auc" in result.baseline_metrics  # the tenure rule
    assert result.scored.customer_id.tolist() == frame.customer_id.tolist()
    assert {"log_tenure", "dsl_monthly_charges", "Contract"} <= set(result.model.features)
    assert "tenure_band" not in result.model.features  # group `bands` is not selected


TELCO = Path(compose([]).paths.shared_data_dir) / "telco_churn"


@pytest.mark.shared_data
def test_real_telco_reaches_the_reference():
    """logreg on raw + derived columns, stratified 5-fold CV seed 42 (a few seconds)."""
    if not (TELCO / "WA_Fn-UseC_-Telco-Customer-Churn.csv").is_file():
        pytest.skip(f"../shared/data/telco_churn not found at {TELCO} (set $SOCIALCRM_SHARED_DATA)")
    cfg = compose(["experiment=telco", "model=logreg", "task.explain=false"])
    frame, manifest, _ = load_features(cfg)
    assert len(frame) == 7043 and frame.customer_id.is_unique
    assert int(frame.TotalCharges.isna().sum()) == 11
    assert frame.label_churn.mean() == pytest.approx(0.2654, abs=1e-4)
    task = build_task(cfg)
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    result = task.fit_evaluate(frame, manifest, list(cfg.features.groups), model_cfg, 42)
    m = result.metrics
    assert m["roc_auc"] >= 0.84, m
    assert m["brier"] <= 0.14, m
    assert m["roc_auc"] > result.baseline_metrics["roc_auc"] + 0.05


def test_tuning_a_cross_validated_task_finishes_and_registers(tmp_path):
    """`tune experiment=telco model=logreg tune.n_trials=2` (it used to crash after the
    study: a customer table has no split column)."""
    import mlflow

    from socialcrm.tuning import tune

    csv = fake_telco(tmp_path / "telco.csv", n=200)
    cfg = compose(
        [
            "experiment=telco",
            "model=logreg",
            "task.explain=false",
            "tune.n_trials=2",
            "tune.register=true",
            f"data.path={csv}",
            f"paths.root_dir={tmp_path}",
        ]
    )
    outcome = tune(cfg)
    assert len(outcome.trials) == 2 and outcome.metric == "valid_roc_auc"
    assert outcome.best_value == max(outcome.trials.value)  # the CV mean ROC-AUC
    assert outcome.version is not None
    version = mlflow.MlflowClient(cfg.tracking.tracking_uri).get_model_version_by_alias(
        outcome.registered, "challenger"
    )
    assert str(version.version) == outcome.version and version.tags["data"] == "telco"

"""The CLI verbs: `validate` reports violations and sets the exit code (it never writes);
user errors end as a message and an exit code, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from typer.testing import CliRunner

from socialcrm.cli import app
from socialcrm.data.validate import DataContractError, ValidationReport, file_violation
from socialcrm.errors import ConfigError, error_text, exit_code_for, one_paragraph

from .conftest import AS_OF, canonical_source


def run_validate(folder: Path, root: Path):
    args = ["validate", "--path", str(folder), f"paths.root_dir={root}", f"data.as_of={AS_OF}"]
    return CliRunner().invoke(app, args, env={"COLUMNS": "200"})


def test_validate_bad_folder_exits_1(tmp_path, root, tables):
    tables["transactions"].loc[4, "customer_id"] = "C999"
    canonical_source(tables, tmp_path / "bad", root, file_format="csv")
    result = run_validate(tmp_path / "bad", root)
    assert result.exit_code == 1, result.output
    assert "foreign_key" in result.output
    assert "transactions.csv: column 'customer_id': unknown customer_id" in result.output
    assert "row 5: 'C999'" in result.output
    assert not (root / "data").exists()


def test_validate_good_folder_exits_0(tmp_path, root, tables):
    canonical_source(tables, tmp_path / "good", root)
    result = run_validate(tmp_path / "good", root)
    assert result.exit_code == 0, result.output
    assert "OK" in result.output and "transactions 6 rows" in result.output
    assert not (root / "data").exists()


# -- user errors: a message and an exit code, no traceback (socialcrm.errors) ----------


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200", **(env or {})})


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("data.salz=x", "there is no key 'data.salz' to override (misspelt?)"),
        ("model=nonexistent", "Could not find 'model/nonexistent'. Available options in 'model':"),
        ("data.path=[", "invalid config: no viable alternative at input '['"),
    ],
)
@pytest.mark.parametrize("verb", ["validate", "ingest", "features", "train"])
def test_config_errors_exit_2_in_one_paragraph(root, verb, override, expected):
    result = invoke(verb, f"paths.root_dir={root}", override)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    first, hint = result.output.strip().splitlines()
    assert first.startswith("error: invalid config: ") and expected in first
    assert hint == "(set SOCIALCRM_DEBUG=1 to see the Python traceback)"
    assert not (root / "data").exists()


def test_debug_switch_shows_the_traceback(root):
    result = invoke(
        "validate", f"paths.root_dir={root}", "data.salz=x", env={"SOCIALCRM_DEBUG": "1"}
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, ConfigCompositionException)  # raised, not handled


def test_missing_params_file_exits_2(root, tmp_path):
    result = invoke("features", "--params", str(tmp_path / "params.yaml"))
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {tmp_path / 'params.yaml'} does not exist")


@pytest.mark.parametrize(
    ("verb", "what"),
    [
        ("ingest", "nothing to ingest"),
        ("features", "nothing to build features from"),
        ("report", "nothing to report on"),
        ("run", "nothing to run the main job on"),
    ],
)
def test_customer_table_verbs_say_what_to_do(root, tmp_path, verb, what):
    table = tmp_path / "t.csv"
    table.write_text("customerID,Churn\nA,Yes\n")
    result = invoke(verb, f"paths.root_dir={root}", "data=telco", f"data.path={table}")
    assert result.exit_code == 2, result.output
    assert f"data=telco is a customer table (data.source: customer_table): there is {what}" in (
        result.output
    )
    assert "socialcrm train data=telco" in result.output and "Traceback" not in result.output
    assert list(root.iterdir()) == []


def test_train_on_a_customer_table_needs_cv(root, tmp_path):
    result = invoke("train", f"paths.root_dir={root}", "data=telco")
    assert result.exit_code == 2, result.output
    assert "task.evaluation=cv" in result.output and "Traceback" not in result.output


def test_validate_customer_table_path_option(root, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("customerID,Churn\nA,Yes\nB,Maybe\n")
    overrides = [f"paths.root_dir={root}", "data=telco", "data.numeric=[]", "data.categorical=[]"]
    overrides += ["data.missing.columns=null", "data.derived=null"]
    result = invoke("validate", *overrides, "--path", str(table))
    assert result.exit_code == 1, result.output
    assert f"{table}: column 'Churn': unknown target value in 1 row" in result.output
    assert "invalid_value" in result.output and "row 2: 'Maybe'" in result.output
    table.write_text("customerID,Churn\nA,Yes\nB,No\n")
    result = invoke("validate", *overrides, "--path", str(table))
    assert result.exit_code == 0, result.output
    assert "OK: every rule holds (customer_table 2 rows)" in result.output
    assert list(root.iterdir()) == []


def test_error_text_is_the_one_place_messages_are_made():
    report = ValidationReport(
        [file_violation(table="t", file="t.csv", rule="empty_table", message="t.csv: no rows")]
    )
    text = error_text(DataContractError(report), width=100)
    assert "empty_table" in text and "- t.csv: no rows" in text
    assert text.endswith("\n(set SOCIALCRM_DEBUG=1 to see the Python traceback)")
    assert error_text(ConfigError("bad")).startswith("error: bad\n")
    assert exit_code_for(DataContractError(report)) == 1
    assert exit_code_for(ConfigError("bad")) == 2
    assert exit_code_for(FileNotFoundError("x")) == 1
    assert exit_code_for(KeyError("x")) is None  # a bug keeps its traceback


def test_one_paragraph_joins_hydra_lists():
    text = (
        "In 'config': Could not find 'model/x'\n\nAvailable options in 'model':\n\ta\n\tb\n"
        "Config search path:\n\tprovider=hydra"
    )
    assert one_paragraph(text) == (
        "In 'config': Could not find 'model/x'. Available options in 'model': a, b"
    )

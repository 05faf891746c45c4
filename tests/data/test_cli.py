"""The `validate` verb reports violations and sets the exit code; it never writes."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from socialcrm.cli import app

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

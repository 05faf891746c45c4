"""Bad inputs on the customer-table path (data=telco): every one ends as the report and
exit code 1 (never a traceback), names file, column and rule, and writes nothing.

Each case writes a small telco-shaped table to tmp_path, breaks it one way, and runs
``socialcrm validate`` and ``socialcrm train`` on it (a few also as
``python -m socialcrm.train``), hashing every file under the project root (the
train outputs, MLflow store, feature and data folders) before and after.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from socialcrm.cli import app
from socialcrm.data.example_export import telco_like_table
from socialcrm.paths import project_root

N_ROWS = 40
TRAIN = ["experiment=telco", "model=logreg", "task.explain=false", "train.register=false"]


def good_table(n: int = N_ROWS) -> pd.DataFrame:
    """A telco-shaped table (the columns conf/data/telco.yaml names) that passes every rule."""
    df = telco_like_table(n, seed=0, id_suffix="SECRET")
    df["Churn"] = np.where(np.arange(n) % 4 == 0, "Yes", "No")  # both classes, always
    return df


def csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode("utf-8")


def with_cell(row: int, column: str, value: str) -> Callable[[pd.DataFrame], bytes]:
    """Set data row ``row`` (1 = first after the header) of ``column`` to ``value``."""

    def make(df: pd.DataFrame) -> bytes:
        df = df.copy()
        df[column] = df[column].astype(object)
        df.loc[row - 1, column] = value
        return csv_bytes(df)

    return make


def header_only(df: pd.DataFrame) -> bytes:
    return csv_bytes(df.iloc[:0])


def duplicate_id(df: pd.DataFrame) -> bytes:
    df = df.copy()
    df.loc[6, "customerID"] = df.loc[2, "customerID"]
    return csv_bytes(df)


def duplicate_header(df: pd.DataFrame) -> bytes:
    header, rest = csv_bytes(df).split(b"\n", 1)
    return header.replace(b"gender", b"tenure", 1) + b"\n" + rest


def ragged_row(df: pd.DataFrame) -> bytes:
    lines = csv_bytes(df).split(b"\n")
    lines[3] += b",extra"
    return b"\n".join(lines)


def latin1_cell(df: pd.DataFrame) -> bytes:
    df = df.copy()
    df.loc[4, "PaymentMethod"] = "Mailed check MARKER"
    return csv_bytes(df).replace(b"MARKER", "chèque".encode("latin-1"))


def single_class(df: pd.DataFrame) -> bytes:
    return csv_bytes(df.assign(Churn="No"))


def drop_column(column: str) -> Callable[[pd.DataFrame], bytes]:
    return lambda df: csv_bytes(df.drop(columns=[column]))


@dataclass(frozen=True)
class Case:
    """A broken table and what the user must read about it."""

    name: str
    make: Callable[[pd.DataFrame], bytes] | None  # None: no file at all
    rule: str
    column: str | None  # None: the rule is about the whole file
    shows: str  # a fragment of the message
    directory: bool = False


CASES = [
    Case("header_only", header_only, "empty_table", None, "the table has a header but no rows"),
    Case("empty_file", lambda df: b"", "empty_table", None, "the file is empty"),
    Case(
        "missing_target_column",
        drop_column("Churn"),
        "missing_column",
        "Churn",
        "column 'Churn' (the target column, data.target.column) is not in the file",
    ),
    Case(
        "missing_id_column",
        drop_column("customerID"),
        "missing_column",
        "customerID",
        "column 'customerID' (the id column, data.id.column) is not in the file",
    ),
    Case(
        "duplicate_id",
        duplicate_id,
        "duplicate_key",
        "customerID",
        "duplicate id (one row per customer expected) in 2 rows",
    ),
    Case(
        "missing_id",
        with_cell(5, "customerID", ""),
        "missing_value",
        "customerID",
        "column 'customerID': missing id in 1 row",
    ),
    Case(
        "unknown_target_label",
        with_cell(3, "Churn", "Maybe"),
        "invalid_value",
        "Churn",
        "unknown target value in 1 row; expected positive ['Yes'] or negative ['No']",
    ),
    Case(
        "missing_target",
        with_cell(2, "Churn", ""),
        "missing_value",
        "Churn",
        "column 'Churn': missing target in 1 row",
    ),
    Case(
        "single_class",
        single_class,
        "single_class",
        "Churn",
        "every row is negative (['No']); a model needs both outcomes",
    ),
    Case(
        "numeric_with_text",
        with_cell(7, "tenure", "twelve"),
        "wrong_type",
        "tenure",
        "column 'tenure': value that is not a number in 1 row",
    ),
    Case(
        "non_finite_number",
        with_cell(8, "MonthlyCharges", "inf"),
        "non_finite",
        "MonthlyCharges",
        "column 'MonthlyCharges': number that is not finite (inf or NaN) in 1 row",
    ),
    Case(
        "duplicate_header",
        duplicate_header,
        "duplicate_column",
        "tenure",
        "column 'tenure' appears 2 times in the header (positions 2, 6)",
    ),
    Case(
        "ragged_row",
        ragged_row,
        "malformed_row",
        None,
        "row 3 has 22 fields where the header has 21 (the first such row;",
    ),
    Case(
        "invalid_utf8",
        latin1_cell,
        "invalid_utf8",
        "PaymentMethod",
        "column 'PaymentMethod': text that is not valid UTF-8 in 1 row",
    ),
    Case(
        "gzip_named_csv",
        lambda df: gzip.compress(csv_bytes(df), mtime=0),
        "unreadable_file",
        None,
        "is gzip-compressed: name it *.gz",
    ),
    Case(
        "utf16",
        lambda df: df.to_csv(index=False).encode("utf-16"),
        "unreadable_file",
        None,
        "is UTF-16 text: re-export it as UTF-8 or set data.read.encoding: utf-16",
    ),
    Case(
        "directory",
        None,
        "unreadable_file",
        None,
        "is a folder, not a file: data.path must name the table",
        directory=True,
    ),
    Case("missing_file", None, "missing_file", None, "customer table not found (data.path"),
]
#: Cases also run through ``python -m socialcrm.train`` (a subprocess each: a few seconds).
HYDRA_CASES = ("header_only", "non_finite_number")


def write_case(case: Case, folder: Path) -> Path:
    path = folder / "customers.csv"
    if case.directory:
        path.mkdir(parents=True)
    elif case.make is not None:
        path.write_bytes(case.make(good_table()))
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A project root holding earlier outputs of every stage, which must survive unchanged."""
    r = tmp_path / "root"
    for rel, text in {
        "reports/train/telco/churn/metrics.json": '{"model": {"roc_auc": 0.8}}\n',
        "data/processed/telco/telco/features.parquet": "earlier features",
        "data/interim/telco/_manifest.json": "{}\n",
        "mlruns/mlflow.db": "an earlier store",
    }.items():
        (r / rel).parent.mkdir(parents=True, exist_ok=True)
        (r / rel).write_text(text)
    return r


def snapshot(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` except Hydra's run logs (``logs/``)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] != "logs"
    }


def flat(text: str) -> str:
    """Output with line wrapping undone (messages are wrapped at the console width)."""
    return " ".join(text.split())


def assert_reported(output: str, case: Case, path: Path) -> None:
    text = flat(output)
    assert "Traceback" not in output
    assert str(path) in text, output  # the file
    assert case.rule in text, output  # the rule (report table)
    if case.column:
        assert f"column {case.column!r}" in text, output  # the column
    assert flat(case.shows) in text, output
    assert "FAILED: fix the input; nothing was written" in text
    assert text.endswith("(set SOCIALCRM_DEBUG=1 to see the Python traceback)")
    assert "SECRET" not in text  # customer ids are never shown


def cli(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_the_good_table_passes(tmp_path, root):
    path = tmp_path / "customers.csv"
    path.write_bytes(csv_bytes(good_table()))
    result = cli("validate", f"paths.root_dir={root}", "data=telco", f"data.path={path}")
    assert result.exit_code == 0, result.output
    assert f"OK: every rule holds (customer_table {N_ROWS} rows)" in result.output


def test_there_are_enough_cases():
    assert len(CASES) >= 10
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_validate_reports_and_writes_nothing(tmp_path, root, case):
    path = write_case(case, tmp_path)
    before = snapshot(root)
    result = cli("validate", f"paths.root_dir={root}", "data=telco", f"data.path={path}")
    assert result.exit_code == 1, result.output
    assert_reported(result.output, case, path)
    assert snapshot(root) == before


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_train_reports_and_writes_nothing(tmp_path, root, case):
    path = write_case(case, tmp_path)
    before = snapshot(root)
    result = cli("train", f"paths.root_dir={root}", *TRAIN, f"data.path={path}")
    assert result.exit_code == 1, result.output
    assert_reported(result.output, case, path)
    assert snapshot(root) == before


@pytest.mark.parametrize("name", HYDRA_CASES)
def test_hydra_entry_point_reports_and_writes_nothing(tmp_path, root, name):
    case = next(c for c in CASES if c.name == name)
    path = write_case(case, tmp_path)
    before = snapshot(root)
    cmd = [sys.executable, "-m", "socialcrm.train", f"paths.root_dir={root}", *TRAIN]
    env = {k: v for k, v in os.environ.items() if k not in ("SOCIALCRM_DEBUG", "HYDRA_FULL_ERROR")}
    proc = subprocess.run(
        [*cmd, f"data.path={path}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=project_root(),
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert_reported(proc.stdout + proc.stderr, case, path)
    assert snapshot(root) == before

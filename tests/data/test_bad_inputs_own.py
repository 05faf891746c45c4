"""Bad inputs on the own-data path, through the real CLI (`validate` and `ingest`).

Every case starts from a valid vendor export (the own.yaml example export, as CSV
or Parquet) whose good version was already ingested into ``data.interim_dir``,
corrupts one thing, and checks that both verbs exit 1 without a traceback, that
the message names the file, the column (where there is one) and the rule, that
no personal value is echoed, and that the interim folder is byte-identical.
"""

from __future__ import annotations

import bz2
import gzip
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from socialcrm.cli import app
from socialcrm.data.example_export import write_example_export

from .conftest import AS_OF, EXPORT_STEMS, SALT, make_tables, parquet_overrides, tree_digest

TRACEBACK = "Traceback (most recent call last)"


# ----------------------------------------------------------------------------------------
# The export under test and the CLI
# ----------------------------------------------------------------------------------------


@dataclass
class Export:
    """A vendor export in ``raw`` (CSV or Parquet), with helpers to corrupt it."""

    raw: Path
    files: dict[str, Path]
    fmt: str

    def path(self, table: str) -> Path:
        return self.files[table]

    def frame(self, table: str) -> pd.DataFrame:
        """The file as the vendor wrote it (CSV as text, Parquet typed)."""
        if self.fmt == "parquet":
            return pd.read_parquet(self.path(table))
        return pd.read_csv(self.path(table), dtype=str, keep_default_na=False)

    def write(self, table: str, df: pd.DataFrame) -> None:
        if self.fmt == "parquet":
            df.to_parquet(self.path(table), index=False)
        else:
            df.to_csv(self.path(table), index=False)

    def set(self, table: str, column: str, row: int, value: object) -> None:
        """Set one cell (0-based row, the vendor's column name)."""
        df = self.frame(table)
        if self.fmt == "parquet" and isinstance(value, str):
            df[column] = df[column].astype("str")  # a text column in the Parquet file
        df.loc[row, column] = value
        self.write(table, df)

    def replace_bytes(self, table: str, old: bytes, new: bytes) -> None:
        data = self.path(table).read_bytes()
        assert data.count(old) == 1, (old, data.count(old))
        self.path(table).write_bytes(data.replace(old, new))


@dataclass(frozen=True)
class Ran:
    exit_code: int
    output: str
    exception: BaseException | None

    @property
    def text(self) -> str:
        """The output with line wrapping undone."""
        return " ".join(self.output.split())


def run_cli(verb: str, raw: Path, interim: Path, root: Path, overrides: Sequence[str] = ()):
    args = [
        verb,
        "data=own",
        f"data.raw_dir={raw}",
        f"data.interim_dir={interim}",
        f"paths.root_dir={root}",
        f"data.salt={SALT}",
        f"data.as_of={AS_OF}",
        *overrides,
    ]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200", "SOCIALCRM_SALT": None})
    return Ran(result.exit_code, result.output, result.exception)


@pytest.fixture(scope="module")
def golden(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """Per format: a valid export and the interim folder a good ingest made of it."""
    out = {}
    for fmt in ("csv", "parquet"):
        base = tmp_path_factory.mktemp(f"golden_{fmt}")
        raw, interim = base / "export", base / "interim"
        write_example_export(make_tables(), raw, file_format=fmt)
        overrides = parquet_overrides() if fmt == "parquet" else []
        ran = run_cli("ingest", raw, interim, base, overrides)
        assert ran.exit_code == 0, ran.output
        out[fmt] = (raw, interim)
    return out


def prepare(golden, tmp_path: Path, fmt: str) -> tuple[Export, Path]:
    """A fresh copy of the golden export and of its previous good ingest."""
    raw, interim = golden[fmt]
    shutil.copytree(raw, tmp_path / "export")
    shutil.copytree(interim, tmp_path / "interim")
    suffix = ".parquet" if fmt == "parquet" else ".csv"
    files = {t: tmp_path / "export" / f"{stem}{suffix}" for t, stem in EXPORT_STEMS.items()}
    return Export(tmp_path / "export", files, fmt), tmp_path / "interim"


# ----------------------------------------------------------------------------------------
# The cases
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One corruption and what the user must be told.

    ``says`` are fragments of the message; ``column`` the column label the message
    carries (``column 'amount' (your column 'Amount')``); ``hidden`` values that must
    never be printed; ``only``: the report holds this one violation and nothing else.
    """

    id: str
    corrupt: Callable[[Export], None]
    file: str
    rule: str
    says: tuple[str, ...] = ()
    column: str | None = None
    fmt: str = "csv"
    overrides: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    only: bool = False


def setter(table: str, column: str, row: int, value: object) -> Callable[[Export], None]:
    return lambda e: e.set(table, column, row, value)


def swap(table: str, old: bytes, new: bytes) -> Callable[[Export], None]:
    return lambda e: e.replace_bytes(table, old, new)


def transform(table: str, fn: Callable[[bytes], bytes]) -> Callable[[Export], None]:
    def run(e: Export) -> None:
        e.path(table).write_bytes(fn(e.path(table).read_bytes()))

    return run


def replace_by_directory(table: str) -> Callable[[Export], None]:
    def run(e: Export) -> None:
        e.path(table).unlink()
        e.path(table).mkdir()
        (e.path(table) / "part-0.parquet").write_bytes(b"")

    return run


def drop_column(table: str, column: str) -> Callable[[Export], None]:
    return lambda e: e.write(table, e.frame(table).drop(columns=[column]))


def rename_header(table: str, old: str, new: str) -> Callable[[Export], None]:
    """Give a column another column's name (the header then repeats ``new``)."""

    def run(e: Export) -> None:
        if e.fmt == "csv":
            data = e.path(table).read_bytes()
            header, rest = data.split(b"\n", 1)
            cells = [new.encode() if c == old.encode() else c for c in header.split(b",")]
            e.path(table).write_bytes(b",".join(cells) + b"\n" + rest)
        else:
            t = pq.read_table(e.path(table))
            pq.write_table(
                t.rename_columns([new if n == old else n for n in t.schema.names]), e.path(table)
            )

    return run


def to_separator(table: str, sep: str, decimal_comma: bool = False) -> Callable[[Export], None]:
    def run(e: Export) -> None:
        df = e.frame(table)
        if decimal_comma:
            df["Amount"] = df["Amount"].str.replace(".", ",", regex=False)
        df.to_csv(e.path(table), index=False, sep=sep)

    return run


def text_timestamps(table: str, column: str, row: int, value: str) -> Callable[[Export], None]:
    """Store a timestamp column as ISO text, with one value replaced."""

    def run(e: Export) -> None:
        df = e.frame(table)
        if e.fmt == "parquet":
            df[column] = df[column].dt.strftime("%Y-%m-%d %H:%M:%S").astype(object)
        df.loc[row, column] = value
        e.write(table, df)

    return run


def invalid_utf8_parquet(e: Export) -> None:
    table = pq.read_table(e.path("posts"))
    raw = [t.encode() for t in table.column("Text").to_pylist()]
    raw[2] = b"Servic\xe9 was slow"
    bad = pa.array(raw, type=pa.binary()).view(pa.string())
    i = table.schema.get_field_index("Text")
    pq.write_table(table.set_column(i, "Text", bad), e.path("posts"))


def empty_rows(table: str) -> Callable[[Export], None]:
    return lambda e: e.write(table, e.frame(table).iloc[:0])


def utf16_without_bom(data: bytes) -> bytes:
    return data.decode("utf-8").encode("utf-16-le")


AMOUNT = "column 'amount' (your column 'Amount')"

CASES = [
    # -- 1. numbers that pass a float parse but break later stages ----------------------
    Case("csv-amount-inf", setter("transactions", "Amount", 1, "inf"), "orders.csv",
         "non_finite", ("not a finite number", "row 2: 'inf'"), AMOUNT),
    Case("csv-amount-minus-inf", setter("transactions", "Amount", 1, "-inf"), "orders.csv",
         "non_finite", ("not a finite number", "row 2: '-inf'"), AMOUNT),
    Case("csv-amount-overflow-1e400", setter("transactions", "Amount", 3, "1e400"),
         "orders.csv", "non_finite", ("not a finite number", "row 4: '1e400'"), AMOUNT),
    Case("csv-amount-1e17", setter("transactions", "Amount", 4, "1e17"), "orders.csv",
         "out_of_range", ("must stay below 1e16", "DECIMAL(18, 2)", "row 5: '1e17'"), AMOUNT),
    Case("parquet-amount-inf", setter("transactions", "Amount", 1, float("inf")),
         "orders.parquet", "non_finite", ("not a finite number", "row 2: inf"), AMOUNT,
         fmt="parquet"),
    Case("parquet-amount-minus-inf", setter("transactions", "Amount", 0, float("-inf")),
         "orders.parquet", "non_finite", ("row 1: -inf",), AMOUNT, fmt="parquet"),
    Case("parquet-amount-1e17", setter("transactions", "Amount", 4, 1e17), "orders.parquet",
         "out_of_range", ("must stay below 1e16", "row 5: 1e+17"), AMOUNT, fmt="parquet"),
    Case("csv-revenue-infinity", setter("offer_log", "Revenue", 0, "Infinity"),
         "campaign_log.csv", "non_finite", ("row 1: 'Infinity'",),
         "column 'revenue' (your column 'Revenue')"),
    Case("csv-resolution-hours-1e15", setter("support_tickets", "ResolutionHours", 0, "1e15"),
         "tickets.csv", "out_of_range", ("must stay below 1e14", "DECIMAL(18, 4)"),
         "column 'resolution_hours' (your column 'ResolutionHours')"),
    Case("csv-quantity-1e400", setter("transactions", "Quantity", 0, "1e400"), "orders.csv",
         "non_finite", ("row 1: '1e400'",), "column 'quantity' (your column 'Quantity')"),
    Case("csv-quantity-beyond-int64", setter("transactions", "Quantity", 0, "1e20"),
         "orders.csv", "out_of_range", ("64-bit integer", "row 1: '1e20'"),
         "column 'quantity' (your column 'Quantity')"),
    Case("parquet-cost-inf", setter("offers", "CostPerContact", 1, float("inf")),
         "offers.parquet", "non_finite", ("row 2: inf",),
         "column 'cost' (your column 'CostPerContact')", fmt="parquet"),
    Case("csv-propensity-inf", setter("offer_log", "Propensity", 2, "inf"), "campaign_log.csv",
         "non_finite", ("row 3: 'inf'",), "column 'propensity' (your column 'Propensity')"),
    Case("csv-amount-implausible-error", setter("transactions", "Amount", 1, "25000"),
         "orders.csv", "implausible_value",
         ("implausible value (plausible: at most 10000, data.plausibility.transactions.amount)",
          "row 2: 25000.0"), AMOUNT,
         overrides=("data.plausibility={transactions: {amount: {max: 10000, severity: error}}}",)),
    # -- 2. control characters in text --------------------------------------------------
    Case("csv-nul-in-region", setter("customers", "Region", 0, "no\x00rth"), "customers.csv",
         "control_character", ("control character", "rejected, not stripped",
                               "row 1: 'no\\x00rth'"), "column 'region' (your column 'Region')"),
    Case("csv-escape-in-category", setter("transactions", "Category", 0, "bo\x1boks"),
         "orders.csv", "control_character", ("row 1",),
         "column 'category' (your column 'Category')"),
    Case("csv-del-in-customer-id", swap("customers", b"\nC003,", b"\nC003\x7f,"),
         "customers.csv", "control_character", ("row 3: 'C003\\x7f'",),
         "column 'customer_id' (your column 'CustomerID')"),
    Case("csv-nul-in-post-text", setter("posts", "Text", 2, "Service\x00was slow"),
         "social_posts.csv", "control_character", ("row 3: <value not shown>",),
         "column 'text' (your column 'Text')", hidden=("Service", "was slow")),
    Case("csv-control-in-email", setter("customers", "Email", 0, "customer_C001@exa\x07mple.com"),
         "customers.csv", "control_character", ("row 1: <value not shown>",),
         "column 'email_hash' (your column 'Email')", hidden=("customer_C001", "mple.com")),
    Case("parquet-nul-in-post-text", setter("posts", "Text", 0, "Love\x00it"),
         "social_posts.parquet", "control_character", ("row 1: <value not shown>",),
         "column 'text' (your column 'Text')", fmt="parquet", hidden=("Love",)),
    Case("parquet-soh-in-channel", setter("transactions", "SalesChannel", 2, "w\x01eb"),
         "orders.parquet", "control_character", ("row 3: 'w\\x01eb'",),
         "column 'channel' (your column 'SalesChannel')", fmt="parquet"),
    # -- 3. naive timestamps mixed with timestamps with an offset -----------------------
    Case("csv-mixed-timezones-offset",
         setter("transactions", "OrderDate", 5, "2024-05-01T00:00:00+02:00"), "orders.csv",
         "mixed_timezones", ("mixed time zones: timestamp with a UTC offset among 5 without one",
                             "row 6: '2024-05-01T00:00:00+02:00'"),
         "column 'timestamp' (your column 'OrderDate')"),
    Case("csv-mixed-timezones-zulu", setter("support_tickets", "OpenedAt", 0, "2024-03-01T09:00Z"),
         "tickets.csv", "mixed_timezones", ("row 1: '2024-03-01T09:00Z'",),
         "column 'timestamp' (your column 'OpenedAt')"),
    Case("parquet-mixed-timezones-as-text",
         text_timestamps("transactions", "OrderDate", 0, "2024-01-05 12:00:00-05:00"),
         "orders.parquet", "mixed_timezones", ("row 1: '2024-01-05 12:00:00-05:00'",),
         "column 'timestamp' (your column 'OrderDate')", fmt="parquet"),
    # -- 4. a header that repeats a column name -----------------------------------------
    Case("csv-repeated-header-amount", rename_header("transactions", "Category", "Amount"),
         "orders.csv", "duplicate_column", ("repeats 'Amount' at columns 4 and 6",), AMOUNT),
    Case("csv-repeated-header-customer-id",
         rename_header("customers", "Region", "CustomerID"), "customers.csv",
         "duplicate_column", ("repeats 'CustomerID' at columns 1 and 3",),
         "column 'customer_id' (your column 'CustomerID')"),
    Case("parquet-repeated-header", rename_header("transactions", "SalesChannel", "Amount"),
         "orders.parquet", "duplicate_column", ("repeats 'Amount' at columns 4 and 7",), AMOUNT,
         fmt="parquet"),
    # -- 5. files that are not what their name says; parser errors ----------------------
    Case("csv-gzip-compressed", transform("transactions", gzip.compress), "orders.csv",
         "unreadable_file", ("gzip-compressed", "rename it to orders.csv.gz",
                             "read: {compression: gzip}")),
    Case("csv-bz2-compressed", transform("transactions", bz2.compress), "orders.csv",
         "unreadable_file", ("bz2-compressed", "read: {compression: bz2}")),
    Case("csv-utf16-with-bom",
         transform("transactions", lambda b: b.decode("utf-8").encode("utf-16")),
         "orders.csv", "unreadable_file", ("UTF-16 text, not UTF-8", "read: {encoding: utf-16}")),
    Case("csv-utf16-without-bom", transform("customers", utf16_without_bom), "customers.csv",
         "unreadable_file", ("UTF-16-LE text", "read: {encoding: utf-16-le}")),
    Case("csv-directory-instead-of-file", replace_by_directory("transactions"), "orders.csv",
         "unreadable_file", ("is a directory, not a file",)),
    Case("parquet-directory-instead-of-file", replace_by_directory("transactions"),
         "orders.parquet", "unreadable_file", ("is a directory", "Spark"), fmt="parquet"),
    Case("csv-parquet-named-csv",
         transform("customers", lambda b: b"PAR1" + b"\x00" * 64 + b"PAR1"), "customers.csv",
         "unreadable_file", ("is a Parquet file, not text",)),
    Case("csv-binary-file", transform("offers", lambda b: b"\x89PNG\r\n\x1a\n" + bytes(range(256))),
         "offers.csv", "unreadable_file", ("is not a text file (binary content)",), only=True),
    Case("csv-semicolon-separated", to_separator("transactions", ";"), "orders.csv",
         "wrong_separator", ("read as one column", "semicolon-separated", 'read: {sep: ";"}')),
    Case("csv-semicolon-decimal-comma", to_separator("transactions", ";", decimal_comma=True),
         "orders.csv", "wrong_separator", ('read: {sep: ";"}',)),
    Case("csv-tab-separated", to_separator("support_tickets", "\t"), "tickets.csv",
         "wrong_separator", ("tab-separated", 'read: {sep: "\\t"}')),
    Case("csv-extra-field", swap("transactions", b",20.0,", b",12,50,"), "orders.csv",
         "malformed_row", ("1 row with more fields than the header (8)", "row 2: 9 fields",
                           "row N = the Nth data row")),
    Case("csv-extra-field-after-multiline-text", swap("posts", b"P3,A2,x,", b"P3,A2,x,x,"),
         "social_posts.csv", "malformed_row", ("row 3: 9 fields",), hidden=("Service",)),
    Case("csv-unclosed-quote", swap("offers", b"O2,retention_call", b'O2,"retention_call'),
         "offers.csv", "malformed_row", ("quoted value starting in row 2 is never closed",),
         only=True),
    # -- the classics ---------------------------------------------------------------------
    Case("csv-missing-file", lambda e: e.path("transactions").unlink(), "orders.csv",
         "missing_file", ("file for table 'transactions' not found",)),
    Case("parquet-missing-file", lambda e: e.path("customers").unlink(), "customers.parquet",
         "missing_file", ("file for table 'customers' not found",), fmt="parquet"),
    Case("csv-missing-column", drop_column("transactions", "OrderDate"), "orders.csv",
         "missing_column", ("required column 'timestamp' (mapped from your column 'OrderDate')",)),
    Case("csv-wrong-type-number", setter("transactions", "Amount", 1, "twenty"), "orders.csv",
         "wrong_type", ("not a number", "row 2: 'twenty'"), AMOUNT),
    Case("parquet-wrong-type-number", setter("transactions", "Amount", 1, "twenty"),
         "orders.parquet", "wrong_type", ("not a number", "row 2: 'twenty'"), AMOUNT,
         fmt="parquet"),
    Case("csv-bad-date", setter("support_tickets", "OpenedAt", 1, "01/06/2024"), "tickets.csv",
         "wrong_type", ("not a date/time", "date_format", "row 2: '01/06/2024'"),
         "column 'timestamp' (your column 'OpenedAt')"),
    Case("csv-bad-boolean", setter("transactions", "IsReturn", 0, "maybe"), "orders.csv",
         "wrong_type", ("not true/false", "row 1: 'maybe'"),
         "column 'is_return' (your column 'IsReturn')"),
    Case("csv-empty-required-value", setter("transactions", "CustomerID", 2, ""), "orders.csv",
         "missing_value", ("may not be null", "row 3: <null>"),
         "column 'customer_id' (your column 'CustomerID')"),
    Case("csv-duplicate-primary-key", setter("transactions", "OrderID", 1, "T1"), "orders.csv",
         "duplicate_key", ("duplicate primary key", "row 1: 'T1'; row 2: 'T1'"),
         "column 'transaction_id' (your column 'OrderID')"),
    Case("parquet-duplicate-primary-key", setter("customers", "CustomerID", 1, "C001"),
         "customers.parquet", "duplicate_key", ("duplicate primary key",),
         "column 'customer_id' (your column 'CustomerID')", fmt="parquet"),
    Case("csv-unknown-customer", setter("transactions", "CustomerID", 4, "C999"), "orders.csv",
         "foreign_key", ("unknown customer_id (not in customers, customers.csv)",
                         "row 5: 'C999'"), "column 'customer_id' (your column 'CustomerID')"),
    Case("csv-event-before-signup",
         setter("transactions", "OrderDate", 3, "2024-01-01 00:00:00"), "orders.csv",
         "before_signup", ("before the customer's signup_date",),
         "column 'timestamp' (your column 'OrderDate')"),
    Case("csv-future-timestamp", setter("transactions", "OrderDate", 5, "2026-01-01"),
         "orders.csv", "future_timestamp", ("in the future (after as_of 2025-06-30",),
         "column 'timestamp' (your column 'OrderDate')"),
    Case("csv-negative-amount-not-a-return", setter("transactions", "IsReturn", 2, "False"),
         "orders.csv", "negative_amount_without_return_flag",
         ("negative amount without the return flag", "row 3: amount=-5.25, is_return=False"),
         AMOUNT),
    Case("csv-unknown-platform", setter("social_accounts", "Network", 1, "myspace"),
         "social_profiles.csv", "unknown_platform", ("row 2: 'myspace'",),
         "column 'platform' (your column 'Network')"),
    Case("csv-empty-table", empty_rows("support_tickets"), "tickets.csv", "empty_table",
         ("table 'support_tickets' has no rows",)),
    Case("csv-empty-file", transform("offers", lambda b: b""), "offers.csv", "empty_table",
         ("the file is empty",), only=True),
    Case("parquet-empty-table", empty_rows("support_tickets"), "tickets.parquet", "empty_table",
         ("has no rows",), fmt="parquet"),
    Case("csv-invalid-utf8", swap("posts", b"Service was slow", b"Servic\xe9 was slow"),
         "social_posts.csv", "invalid_utf8", ("not valid UTF-8", "row 3: <value not shown>"),
         "column 'text' (your column 'Text')", hidden=("was slow",)),
    Case("parquet-invalid-utf8", invalid_utf8_parquet, "social_posts.parquet", "invalid_utf8",
         ("row 3: <value not shown>",), "column 'text' (your column 'Text')", fmt="parquet",
         hidden=("was slow",)),
    Case("csv-missing-salt", lambda e: None, "customers.csv", "missing_salt",
         ("needs a salt", "SOCIALCRM_SALT"), "column 'email_hash' (your column 'Email')",
         overrides=("data.salt=null",)),
]  # fmt: skip


def test_enough_cases():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused(case: Case, golden, tmp_path):
    export, interim = prepare(golden, tmp_path, case.fmt)
    before = tree_digest(interim)
    case.corrupt(export)
    overrides = [*(parquet_overrides() if case.fmt == "parquet" else []), *case.overrides]
    for verb in ("validate", "ingest"):
        ran = run_cli(verb, export.raw, interim, tmp_path, overrides)
        assert ran.exit_code == 1, ran.output
        assert isinstance(ran.exception, SystemExit), ran.exception
        assert TRACEBACK not in ran.output
        text = ran.text
        assert case.rule in text, text
        assert f"- {case.file}: " in text, text
        if case.column:
            assert f"{case.file}: {case.column}: " in text, text
        for fragment in case.says:
            assert fragment in text, (fragment, text)
        for secret in case.hidden:
            assert secret not in ran.output, secret
        assert "FAILED" in text and "nothing was written" in text
        if case.only:
            assert "1 data contract violation(s)" in text, text
    assert tree_digest(interim) == before
    leftovers = [p.name for p in interim.parent.iterdir() if p.name.startswith(".interim")]
    assert not leftovers


# ----------------------------------------------------------------------------------------
# Warnings, and the advice in the messages actually works
# ----------------------------------------------------------------------------------------

WARN_AMOUNT = "data.plausibility={transactions: {amount: {max: 100, severity: warning}}}"


def test_plausibility_warning_lets_ingest_succeed_and_is_shown(golden, tmp_path):
    export, interim = prepare(golden, tmp_path, "csv")
    before = tree_digest(interim)
    export.set("transactions", "Amount", 1, "500")
    checked = run_cli("validate", export.raw, interim, tmp_path, [WARN_AMOUNT])
    assert checked.exit_code == 0, checked.output
    for ran in (checked, run_cli("ingest", export.raw, interim, tmp_path, [WARN_AMOUNT])):
        assert ran.exit_code == 0, ran.output
        text = ran.text
        assert "1 warning(s)" in text and "implausible_value" in text
        assert (
            f"- warning: orders.csv: {AMOUNT}: implausible value (plausible: at most 100, "
            "data.plausibility.transactions.amount) in 1 row; a warning: ingest goes on" in text
        )
        assert "row 2: 500.0" in text and "FAILED" not in text
    assert tree_digest(interim) != before  # the ingest went through
    assert pd.read_parquet(interim / "transactions.parquet")["amount"].iloc[1] == 500


@pytest.mark.parametrize(
    ("corrupt", "fix"),
    [
        (
            transform("transactions", gzip.compress),
            ["+data.tables.transactions.read={compression: gzip}"],
        ),
        (
            transform("transactions", lambda b: b.decode("utf-8").encode("utf-16")),
            ["+data.tables.transactions.read={encoding: utf-16}"],
        ),
        (to_separator("transactions", ";"), ['+data.tables.transactions.read={sep: ";"}']),
        (to_separator("support_tickets", "\t"), ['+data.tables.support_tickets.read={sep: "\\t"}']),
    ],
    ids=["gzip", "utf-16", "semicolon", "tab"],
)
def test_the_advice_works(corrupt, fix, golden, tmp_path):
    export, interim = prepare(golden, tmp_path, "csv")
    corrupt(export)
    assert run_cli("validate", export.raw, interim, tmp_path).exit_code == 1
    ran = run_cli("validate", export.raw, interim, tmp_path, fix)
    assert ran.exit_code == 0, ran.output


def test_renamed_gzip_file_is_read(golden, tmp_path):
    export, interim = prepare(golden, tmp_path, "csv")
    path = export.path("transactions")
    path.with_name("orders.csv.gz").write_bytes(gzip.compress(path.read_bytes()))
    path.unlink()
    ran = run_cli(
        "validate", export.raw, interim, tmp_path, ["data.tables.transactions.file=orders.csv.gz"]
    )
    assert ran.exit_code == 0, ran.output

"""Pure checks of canonical tables against their contracts (DataFrames in, report out).

Every rule is vectorized (pandas/numpy), every violation is reported (not only
the first), and each :class:`Violation` names the file the user knows, the
column, the rule, how many rows break it and a few example rows. Row numbers
are 1-based positions in the table as loaded, which for a file is the data row
(the header is not counted): ``row 1`` is the first record of the file.

File-level rules (missing file, undecodable text, values that do not parse)
are found while reading, in :mod:`socialcrm.data.load`; this module holds the
report types they share and the rules that need only the tables.

Rule ids
--------
``missing_file``, ``unreadable_file``, ``empty_table``, ``missing_column``,
``wrong_type``, ``invalid_utf8``, ``missing_salt``, ``missing_value``,
``invalid_value``, ``unknown_platform``, ``duplicate_key``, ``foreign_key``,
``before_signup``, ``future_timestamp``, ``negative_amount_without_return_flag``,
``return_with_positive_amount``, ``self_referral``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandera.errors import SchemaErrors

from socialcrm.data.schemas import (
    PANDAS_DTYPES,
    PLATFORM_ERROR,
    PLATFORMS,
    TABLES,
    TableSpec,
    pandera_schema,
)

#: How many offending rows a violation shows.
MAX_EXAMPLES = 5
_SURROGATES = "[\ud800-\udfff]"
#: Rules that mean a table's file could not be used at all.
_FILE_RULES = frozenset({"missing_file", "unreadable_file", "empty_table"})
_REDACTED = "<value not shown>"


class DataContractError(ValueError):
    """Input data break the contract; ``.report`` holds every violation."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        n = len(report.violations)
        super().__init__(
            f"the data break the contract ({n} violation{'s' if n != 1 else ''}); "
            f"nothing was written:\n{report}"
        )


@dataclass
class Violation:
    """One broken rule in one table column.

    Parameters
    ----------
    table
        Canonical table name.
    file
        The file the user knows (``transactions.csv``, ``orders.csv``).
    column
        Canonical column, or ``None`` for a table-level rule.
    rule
        Short rule id such as ``foreign_key`` (see the module docstring).
    message
        A sentence naming file, column, problem and row count.
    count
        Number of offending rows (0 for a file-level problem).
    examples
        A few ``(row, value)`` pairs: 1-based data row (``None`` when the
        problem is not about one row) and the offending value as text.
    rows
        0-based positions of every offending row (used to avoid reporting a
        row twice for the same column; not shown).
    """

    table: str
    file: str
    column: str | None
    rule: str
    message: str
    count: int = 0
    examples: list[tuple[int | None, str]] = field(default_factory=list)
    rows: np.ndarray | None = field(default=None, repr=False, compare=False)

    def examples_text(self) -> str:
        """The examples as ``row 3: 'abc'; row 7: 'x'``."""
        parts = []
        for row, value in self.examples:
            parts.append(value if row is None else f"row {row}: {value}")
        return "; ".join(parts)

    def __str__(self) -> str:
        ex = self.examples_text()
        return f"{self.message} (e.g. {ex})" if ex else self.message


@dataclass
class ValidationReport:
    """Every violation found, and the tables that were checked (name -> rows)."""

    violations: list[Violation] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether no rule is broken."""
        return not self.violations

    def rules(self) -> list[str]:
        """The rule id of every violation, in report order."""
        return [v.rule for v in self.violations]

    def find(self, rule: str, table: str | None = None) -> list[Violation]:
        """Violations of ``rule`` (optionally only in ``table``)."""
        return [
            v for v in self.violations if v.rule == rule and (table is None or v.table == table)
        ]

    def merge(self, other: ValidationReport) -> ValidationReport:
        """This report followed by ``other``, without reporting a problem twice.

        A violation of ``other`` with the same table, column and rule as one
        already here is dropped (the reader's message, which names the user's
        own column, wins), and so is a ``missing_file`` for a table whose file was
        found but could not be read; ``missing_value`` rows already reported as
        ``wrong_type`` (values that did not parse became null) are dropped too.
        """
        seen = {(v.table, v.column, v.rule) for v in self.violations}
        unreadable = {v.table for v in self.violations if v.rule in _FILE_RULES}
        bad_type: dict[tuple[str, str | None], np.ndarray] = {}
        for v in self.violations:
            if v.rule in ("wrong_type", "invalid_utf8") and v.rows is not None:
                key = (v.table, v.column)
                bad_type[key] = np.union1d(bad_type.get(key, np.array([], int)), v.rows)
        merged = list(self.violations)
        for v in other.violations:
            if (v.table, v.column, v.rule) in seen:
                continue
            if v.rule == "missing_file" and v.table in unreadable:
                continue  # the table is absent because its file could not be read
            if v.rule == "missing_value" and (v.table, v.column) in bad_type:
                v = _without_rows(v, bad_type[(v.table, v.column)])
                if v is None:
                    continue
            merged.append(v)
        tables = {**self.tables, **other.tables}
        return ValidationReport(merged, tables)

    def __str__(self) -> str:
        if self.ok:
            return f"all rules hold ({_tables_text(self.tables)})"
        return "\n".join(f"- {v}" for v in self.violations)

    def raise_if_failed(self) -> None:
        """Raise :class:`DataContractError` if any rule is broken."""
        if not self.ok:
            raise DataContractError(self)

    def render(self, console: Any = None) -> None:
        """Print the report as a rich table (file, column, rule, count, examples)."""
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        console = console or Console()
        if self.ok:
            console.print(f"[bold green]OK[/]: every rule holds ({_tables_text(self.tables)})")
            return
        table = Table(title=f"{len(self.violations)} data contract violation(s)", show_lines=True)
        table.add_column("file", overflow="fold")
        table.add_column("column", overflow="fold")
        table.add_column("rule", no_wrap=True)
        table.add_column("count", justify="right", no_wrap=True)
        table.add_column("examples", overflow="fold")
        for v in self.violations:
            cells = (v.file, v.column or "", v.rule, f"{v.count:,}", v.examples_text())
            table.add_row(*(escape(c) for c in cells))  # values are data, not markup
        console.print(table)
        for v in self.violations:
            console.print(f"[red]-[/] {escape(v.message)}", highlight=False)
        console.print("[bold red]FAILED[/]: fix the input; nothing was written")


def _tables_text(tables: Mapping[str, int]) -> str:
    if not tables:
        return "no tables"
    return ", ".join(f"{t} {n:,} rows" for t, n in tables.items())


def _without_rows(v: Violation, drop: np.ndarray) -> Violation | None:
    """``v`` without the rows in ``drop`` (``None`` if nothing is left)."""
    if v.rows is None:
        return v
    keep = np.setdiff1d(v.rows, drop)
    if keep.size == 0:
        return None
    kept_rows = set((keep[:MAX_EXAMPLES] + 1).tolist())
    examples = [(r, val) for r, val in v.examples if r in kept_rows]
    message = v.message.replace(f" in {plural(v.count)}", f" in {plural(int(keep.size))}", 1)
    return Violation(v.table, v.file, v.column, v.rule, message, int(keep.size), examples, keep)


# --------------------------------------------------------------------------------------
# Building violations
# --------------------------------------------------------------------------------------


def plural(n: int, word: str = "row") -> str:
    """``'1 row'``, ``'3 rows'``, with thousands separators."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def format_value(value: object, max_len: int = 40) -> str:
    """A short, unambiguous text for one value in a report."""
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return "<null>"
    if value is pd.NA:
        return "<null>"
    if isinstance(value, pd.Timestamp):
        return str(value)
    if isinstance(value, str):
        text = value if len(value) <= max_len else value[: max_len - 1] + "…"
        return repr(text)
    return str(value)


def row_violation(
    mask: np.ndarray | pd.Series,
    *,
    table: str,
    file: str,
    column: str | None,
    rule: str,
    problem: str,
    hint: str = "",
    values: pd.Series | pd.DataFrame | None = None,
    redact: bool = False,
    source_column: str | None = None,
) -> Violation | None:
    """A violation for the rows where ``mask`` is true, or ``None`` if there is none.

    Parameters
    ----------
    mask
        Boolean per row (positional).
    table, file, column, rule
        See :class:`Violation`.
    problem
        What is wrong, completed by ``" in <n> rows"``.
    hint
        How to fix it, appended after a semicolon.
    values
        The values to show for the examples (a Series, or a DataFrame whose
        columns are shown as ``name=value``); default: none.
    redact
        Show row numbers only (free text and personal identifiers are never printed).
    source_column
        The user's column the canonical column was mapped from, if different.
    """
    mask = np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(mask)
    if rows.size == 0:
        return None
    head = rows[:MAX_EXAMPLES]
    examples: list[tuple[int | None, str]] = []
    for i, pos in enumerate(head):
        if redact or values is None:
            text = _REDACTED if redact else ""
        elif isinstance(values, pd.DataFrame):
            text = ", ".join(f"{c}={format_value(values[c].iloc[pos])}" for c in values.columns)
        else:
            text = format_value(values.iloc[pos])
        examples.append((int(head[i]) + 1, text))
    where = column_label(column, source_column)
    message = f"{file}: {where}{problem} in {plural(int(rows.size))}"
    if hint:
        message += f"; {hint}"
    return Violation(table, file, column, rule, message, int(rows.size), examples, rows)


def column_label(column: str | None, source_column: str | None = None) -> str:
    """``"column 'amount' (your column 'Amount'): "`` or ``""`` for table-level rules."""
    if column is None:
        return ""
    if source_column and source_column != column:
        return f"column {column!r} (your column {source_column!r}): "
    return f"column {column!r}: "


def file_violation(
    *, table: str, file: str, rule: str, message: str, column: str | None = None
) -> Violation:
    """A violation about a whole file or column (no offending rows to count)."""
    return Violation(table, file, column, rule, message, 0, [])


# --------------------------------------------------------------------------------------
# Single-table rules
# --------------------------------------------------------------------------------------


def find_invalid_utf8(values: pd.Series) -> np.ndarray:
    """Rows of an object column holding text that was not valid UTF-8.

    Text read with ``encoding_errors="surrogateescape"`` keeps each undecodable
    byte as a lone surrogate code point (U+DC80..U+DCFF); those are found here.
    """
    if values.dtype != object or values.empty:
        return np.zeros(len(values), dtype=bool)
    try:
        found = values.str.contains(_SURROGATES, regex=True, na=False)
    except AttributeError:  # no text at all
        return np.zeros(len(values), dtype=bool)
    return found.to_numpy(dtype=bool)


def check_empty(spec: TableSpec, df: pd.DataFrame, file: str) -> list[Violation]:
    """A table that is present must hold at least one row."""
    if len(df):
        return []
    msg = f"{file}: table {spec.name!r} has no rows (remove it from the config if you have none)"
    return [file_violation(table=spec.name, file=file, rule="empty_table", message=msg)]


def check_columns(spec: TableSpec, df: pd.DataFrame, file: str) -> list[Violation]:
    """Every canonical column must be present (the loader adds the optional ones)."""
    out = []
    for c in spec.columns:
        if c.name not in df.columns:
            kind = "required" if c.required else "canonical"
            msg = f"{file}: {kind} column {c.name!r} is missing"
            out.append(
                file_violation(
                    table=spec.name, file=file, rule="missing_column", message=msg, column=c.name
                )
            )
    return out


def check_text_utf8(spec: TableSpec, df: pd.DataFrame, file: str) -> list[Violation]:
    """String columns must hold valid UTF-8 text (values are never printed)."""
    out = []
    for c in spec.columns:
        if c.dtype != "string" or c.name not in df.columns:
            continue
        bad = find_invalid_utf8(df[c.name])
        v = row_violation(
            bad,
            table=spec.name,
            file=file,
            column=c.name,
            rule="invalid_utf8",
            problem="text that is not valid UTF-8",
            hint="re-export the file as UTF-8",
            redact=True,
        )
        if v:
            out.append(v)
    return out


def check_schema(
    spec: TableSpec, df: pd.DataFrame, file: str, platforms: Sequence[str] | None = PLATFORMS
) -> list[Violation]:
    """Run the table's pandera schema lazily and turn every failure into a violation.

    Types, nulls in non-nullable columns, value ranges, vocabularies (offer
    types, age bands, platforms) are checked here; columns absent from ``df``
    are left to :func:`check_columns`. Text containing undecodable bytes is
    left to :func:`check_text_utf8`.
    """
    present = [c for c in spec.columns if c.name in df.columns]
    if not present or df.empty:
        return []
    schema = pandera_schema(spec, platforms, check_primary_key=False)
    missing = [c.name for c in spec.columns if c.name not in df.columns]
    if missing:
        schema = schema.remove_columns(missing)
    try:
        schema.validate(df, lazy=True, inplace=True)
    except SchemaErrors as err:
        return _schema_failures(spec, df, file, err.failure_cases)
    return []


def _schema_failures(
    spec: TableSpec, df: pd.DataFrame, file: str, cases: pd.DataFrame
) -> list[Violation]:
    out: list[Violation] = []
    cases = cases.copy()
    cases["check"] = cases["check"].astype(str)
    wrong_type = {
        col
        for col, check in zip(cases["column"], cases["check"], strict=True)
        if check.startswith("dtype(")
    }
    redacted = set(spec.text_columns)
    for (column, check), group in cases.groupby(["column", "check"], sort=False):
        column = str(column)
        if check.startswith("dtype("):
            expected = PANDAS_DTYPES[spec.column(column).dtype]
            actual = str(group["failure_case"].iloc[0])
            msg = f"{file}: column {column!r} has type {actual}, expected {expected}"
            out.append(
                Violation(spec.name, file, column, "wrong_type", msg, len(df), [(None, actual)])
            )
            continue
        if column in wrong_type:
            continue  # consequences of the wrong type, already reported
        idx = pd.to_numeric(group["index"], errors="coerce").dropna().astype(np.int64).to_numpy()
        mask = np.zeros(len(df), dtype=bool)
        mask[idx[(idx >= 0) & (idx < len(df))]] = True
        values = df[column] if column in df.columns else None
        if check == "not_nullable":
            rule, problem = "missing_value", "empty value in a column that may not be null"
        elif check.startswith(PLATFORM_ERROR):
            rule = "unknown_platform"
            problem = f"unknown platform: {check} (data.platforms)"
        else:
            rule, problem = "invalid_value", f"value breaking the rule '{check}'"
        v = row_violation(
            mask,
            table=spec.name,
            file=file,
            column=column,
            rule=rule,
            problem=problem,
            values=values,
            redact=column in redacted,
        )
        if v:
            out.append(v)
    return out


def _usable(df: pd.DataFrame, column: str, kind: str) -> bool:
    """Whether ``column`` is present with its canonical dtype (else other rules report it)."""
    if column not in df.columns:
        return False
    dtype = df[column].dtype
    if kind == "timestamp":
        return pd.api.types.is_datetime64_dtype(dtype)
    if kind == "string":
        return pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype)
    if kind == "float":
        return pd.api.types.is_float_dtype(dtype) or pd.api.types.is_integer_dtype(dtype)
    if kind == "bool":
        return pd.api.types.is_bool_dtype(dtype)
    return True


def check_primary_key(spec: TableSpec, df: pd.DataFrame, file: str) -> list[Violation]:
    """The primary key columns must identify each row (all duplicated rows are counted)."""
    key = list(spec.primary_key)
    if not key or not all(c in df.columns for c in key) or df.empty:
        return []
    dup = df.duplicated(subset=key, keep=False).to_numpy()
    label = key[0] if len(key) == 1 else f"({', '.join(key)})"
    v = row_violation(
        dup,
        table=spec.name,
        file=file,
        column=key[0] if len(key) == 1 else None,
        rule="duplicate_key",
        problem=f"duplicate primary key {label}",
        hint="each key must identify one row",
        values=df[key[0]] if len(key) == 1 else df[key],
    )
    return [v] if v else []


def _arrow(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    """The values as an Arrow string array (zero-copy for pandas ``str`` columns)."""
    try:
        return pa.array(values.array) if values.dtype == "str" else pa.array(values.astype("str"))
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError):
        return pa.array(values.astype(object).where(values.notna(), None).astype(str))


def _is_in(values: pd.Series, reference: pd.Series) -> np.ndarray:
    """Whether each value occurs in ``reference`` (Arrow hash join; false for nulls)."""
    found = pc.is_in(_arrow(values), value_set=pc.unique(_arrow(reference.dropna())))
    return np.asarray(found.fill_null(False), dtype=bool)


def _index_in(values: pd.Series, reference: pd.Series) -> np.ndarray:
    """Position of each value in the (unique) ``reference``; -1 when absent or null."""
    pos = pc.index_in(_arrow(values), value_set=_arrow(reference))
    return np.asarray(pos.fill_null(-1), dtype=np.int64)


def check_foreign_keys(
    spec: TableSpec,
    df: pd.DataFrame,
    file: str,
    tables: Mapping[str, pd.DataFrame],
    files: Mapping[str, str],
) -> list[Violation]:
    """Each foreign key value must exist in the referenced table (nulls are allowed
    where the column is nullable; those are reported by the schema otherwise)."""
    out = []
    for fk in spec.foreign_keys:
        if fk.column not in df.columns or df.empty:
            continue
        values = df[fk.column]
        present = values.notna().to_numpy()
        ref = tables.get(fk.ref_table)
        ref_file = files.get(fk.ref_table, f"{fk.ref_table} table")
        if ref is None:
            if TABLES[fk.ref_table].required:
                continue  # the missing required table is reported on its own
            problem = f"{fk.ref_column} of table {fk.ref_table!r}, which is absent"
            hint = "configure its file, or leave the column empty"
            bad = present
        elif fk.ref_column not in ref.columns:
            continue
        else:
            bad = present & ~_is_in(values, ref[fk.ref_column])
            problem = f"unknown {fk.ref_column} (not in {fk.ref_table}, {ref_file})"
            hint = ""
        v = row_violation(
            bad,
            table=spec.name,
            file=file,
            column=fk.column,
            rule="foreign_key",
            problem=problem,
            hint=hint,
            values=values,
        )
        if v:
            out.append(v)
    return out


def check_signup_order(
    spec: TableSpec, df: pd.DataFrame, file: str, customers: pd.DataFrame | None
) -> list[Violation]:
    """``not_before_signup`` timestamps may not precede the customer's ``signup_date``."""
    cust_col = spec.customer_column
    if (
        not spec.not_before_signup
        or cust_col is None
        or customers is None
        or df.empty
        or customers.empty
        or not _usable(customers, "signup_date", "timestamp")
        or "customer_id" not in customers.columns
        or cust_col not in df.columns
    ):
        return []
    if spec.name == "customers":
        signup = df["signup_date"].to_numpy()
    else:
        ref = customers[["customer_id", "signup_date"]].drop_duplicates("customer_id")
        pos = _index_in(df[cust_col], ref["customer_id"])
        signup_all = ref["signup_date"].to_numpy()
        signup = np.where(pos >= 0, signup_all[np.clip(pos, 0, None)], np.datetime64("NaT"))
        signup = signup.astype("datetime64[us]")
    out = []
    for col in spec.not_before_signup:
        if not _usable(df, col, "timestamp"):
            continue
        ts = df[col].to_numpy()
        bad = ~np.isnat(ts) & ~np.isnat(signup) & (ts < signup)
        who = "the customer's" if cust_col == "customer_id" else f"the {cust_col}'s"
        shown = pd.DataFrame({col: df[col], "signup_date": pd.Series(signup, index=df.index)})
        v = row_violation(
            bad,
            table=spec.name,
            file=file,
            column=col,
            rule="before_signup",
            problem=f"{col} before {who} signup_date",
            values=shown if spec.name != "customers" else df[[col, "signup_date"]],
        )
        if v:
            out.append(v)
    return out


def check_future(
    spec: TableSpec, df: pd.DataFrame, file: str, as_of: pd.Timestamp
) -> list[Violation]:
    """No timestamp may lie after ``as_of`` (the moment the data were extracted)."""
    out = []
    for col in spec.timestamp_columns:
        if not _usable(df, col, "timestamp") or df.empty:
            continue
        bad = (df[col] > as_of).to_numpy(dtype=bool)
        v = row_violation(
            bad,
            table=spec.name,
            file=file,
            column=col,
            rule="future_timestamp",
            problem=f"{col} in the future (after as_of {as_of})",
            hint="set data.as_of to the time the data were extracted",
            values=df[col],
        )
        if v:
            out.append(v)
    return out


def check_return_amounts(spec: TableSpec, df: pd.DataFrame, file: str) -> list[Violation]:
    """A negative ``amount`` must be flagged ``is_return``; a flagged return may not be positive."""
    if not (_usable(df, "amount", "float") and _usable(df, "is_return", "bool")) or df.empty:
        return []
    amount = df["amount"].to_numpy(dtype=float, na_value=np.nan)
    is_return = df["is_return"].to_numpy(dtype=bool)
    shown = df[["amount", "is_return"]]
    out = []
    for mask, rule, problem in (
        (
            (amount < 0) & ~is_return,
            "negative_amount_without_return_flag",
            "negative amount without the return flag (is_return is false)",
        ),
        (
            (amount > 0) & is_return,
            "return_with_positive_amount",
            "positive amount flagged as a return (is_return is true)",
        ),
    ):
        v = row_violation(
            mask, table=spec.name, file=file, column="amount", rule=rule, problem=problem,
            values=shown,
        )  # fmt: skip
        if v:
            out.append(v)
    return out


def check_self_referral(spec: TableSpec, df: pd.DataFrame, file: str) -> list[Violation]:
    """A customer cannot refer themselves."""
    if not {"referrer_id", "referred_id"} <= set(df.columns) or df.empty:
        return []
    bad = (df["referrer_id"] == df["referred_id"]).fillna(False).to_numpy(dtype=bool)
    v = row_violation(
        bad,
        table=spec.name,
        file=file,
        column="referred_id",
        rule="self_referral",
        problem="self-referral (referrer_id equals referred_id)",
        values=df["referred_id"],
    )
    return [v] if v else []


# Table-specific rules beyond the TableSpec fields.
_EXTRA_RULES = {
    "transactions": (check_return_amounts,),
    "referrals": (check_self_referral,),
}


def check_required_tables(
    tables: Mapping[str, pd.DataFrame], files: Mapping[str, str]
) -> list[Violation]:
    """Every required table (customers, transactions) must be present."""
    out = []
    for name, spec in TABLES.items():
        if spec.required and name not in tables:
            file = files.get(name, f"{name}.parquet")
            msg = f"{file}: required table {name!r} is missing"
            out.append(file_violation(table=name, file=file, rule="missing_file", message=msg))
    return out


def resolve_as_of(as_of: pd.Timestamp | str | None) -> pd.Timestamp:
    """``as_of`` as a naive UTC timestamp; ``None`` means now."""
    if as_of is None:
        return pd.Timestamp.now(tz="UTC").tz_localize(None)
    ts = pd.Timestamp(as_of)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def validate_tables(
    tables: Mapping[str, pd.DataFrame],
    files: Mapping[str, str] | None = None,
    as_of: pd.Timestamp | str | None = None,
    platforms: Sequence[str] | None = PLATFORMS,
    source_columns: Mapping[str, Mapping[str, str]] | None = None,
) -> ValidationReport:
    """Check canonical tables against every rule of their :class:`TableSpec`.

    Parameters
    ----------
    tables
        Canonical table name -> DataFrame in file row order (absent optional
        tables are simply not in the mapping).
    files
        Table name -> the file name to show in messages (default
        ``<table>.parquet``).
    as_of
        No timestamp may lie after it; ``None`` means now.
    platforms
        Allowed values of the ``platform`` columns (``data.platforms``).
    source_columns
        Table -> {canonical column: the user's column it was mapped from}, so
        that messages also name the column as the user knows it.

    Returns
    -------
    ValidationReport
        Every violation, in canonical table order; ``.ok`` if there is none.
    """
    unknown = set(tables) - set(TABLES)
    if unknown:
        raise ValueError(f"unknown canonical tables {sorted(unknown)}; expected {list(TABLES)}")
    files = {name: (files or {}).get(name, f"{name}.parquet") for name in TABLES}
    as_of_ts = resolve_as_of(as_of)
    report = ValidationReport(tables={n: len(tables[n]) for n in TABLES if n in tables})
    report.violations.extend(check_required_tables(tables, files))
    tables = {name: _positional(df) for name, df in tables.items()}
    customers = tables.get("customers")
    for name, spec in TABLES.items():
        if name not in tables:
            continue
        df = tables[name]
        file = files[name]
        checks = [
            check_empty(spec, df, file),
            check_columns(spec, df, file),
            check_text_utf8(spec, df, file),
            check_schema(spec, df, file, platforms),
            check_primary_key(spec, df, file),
            check_foreign_keys(spec, df, file, tables, files),
            check_signup_order(spec, df, file, customers),
            check_future(spec, df, file, as_of_ts),
            *(rule(spec, df, file) for rule in _EXTRA_RULES.get(name, ())),
        ]
        for found in checks:
            report.violations.extend(found)
    if source_columns:
        report.violations = [_name_source_column(v, source_columns) for v in report.violations]
    return report


def _name_source_column(v: Violation, source_columns: Mapping[str, Mapping[str, str]]) -> Violation:
    """``v`` with its message naming the user's column too (when it was mapped)."""
    theirs = source_columns.get(v.table, {}).get(v.column or "")
    plain = f"{v.file}: {column_label(v.column)}"
    if not theirs or theirs == v.column or not v.message.startswith(plain):
        return v
    message = f"{v.file}: {column_label(v.column, theirs)}" + v.message[len(plain) :]
    return dataclasses.replace(v, message=message)


def _positional(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with a 0..n-1 index, so that index labels are row positions."""
    index = df.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return df
    return df.reset_index(drop=True)

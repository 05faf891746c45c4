"""Pure checks of canonical tables against their contracts (DataFrames in, report out).

Every rule is vectorized (pandas/numpy), every violation is reported (not only
the first), and each :class:`Violation` names the file the user knows, the
column, the rule, how many rows break it and a few example rows.

Rows are counted one way everywhere (:data:`ROW_CONVENTION`): ``row N`` is the
Nth data row of the file, the header not counted, so ``row 1`` is the first
record; a record whose quoted text spans several lines is still one row.
Parser errors, which count file lines, are converted to it by the loader.

File-level rules (missing file, undecodable text, values that do not parse)
are found while reading, in :mod:`socialcrm.data.load`; this module holds the
report types they share and the rules that need only the tables.

Severity
--------
A violation is an ``error`` (the data break the contract: ingest writes
nothing) or a ``warning`` (shown in the report, ingest goes on). Only the
plausibility bounds a user configures (``data.plausibility``, see
:class:`PlausibleRange`) can be warnings; :attr:`ValidationReport.ok` ignores
warnings.

Values that would break a later stage
-------------------------------------
- Numbers must be finite (``inf``, ``-inf``, ``1e400``: ``non_finite``) and stay
  below the magnitude a later stage can represent (``out_of_range``; money is
  summed as DECIMAL(18, 2), so ``|amount| < 1e16``; integers fit int64).
- Text may not contain control characters (C0 other than tab, line feed and
  carriage return, and DEL): such a value is rejected (``control_character``),
  never stripped, because a silently changed id or text would no longer match
  the source. Its rows are named; free text and identifiers are not printed.

Rule ids
--------
``missing_file``, ``unreadable_file``, ``wrong_separator``, ``malformed_row``,
``duplicate_column``, ``empty_table``, ``missing_column``, ``wrong_type``,
``invalid_utf8``, ``control_character``, ``non_finite``, ``out_of_range``,
``mixed_timezones``, ``missing_salt``, ``missing_value``, ``invalid_value``,
``implausible_value`` (error or warning, as configured), ``unknown_platform``,
``duplicate_key``, ``foreign_key``, ``before_signup``, ``future_timestamp``,
``negative_amount_without_return_flag``, ``return_with_positive_amount``,
``self_referral``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
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
#: How every report counts rows (stated under each report).
ROW_CONVENTION = "row N = the Nth data row of the file (the header is not counted)"
ERROR, WARNING = "error", "warning"
SEVERITIES = (ERROR, WARNING)
_SURROGATES = "[\ud800-\udfff]"
#: C0 controls except tab, line feed and carriage return, and DEL.
CONTROL_CHARACTERS = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
#: Rules that mean a table's file could not be used at all.
FILE_RULES = frozenset(
    {"missing_file", "unreadable_file", "empty_table", "wrong_separator", "malformed_row"}
)
#: Rules after which a value is unusable: its rows are not reported again in that column.
_UNUSABLE_VALUE_RULES = ("wrong_type", "invalid_utf8", "non_finite", "out_of_range")
_REDACTED = "<value not shown>"


class DataContractError(ValueError):
    """Input data break the contract; ``.report`` holds every violation."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        n = len(report.errors)
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
    severity
        ``"error"`` (blocks ingest) or ``"warning"`` (reported only).
    """

    table: str
    file: str
    column: str | None
    rule: str
    message: str
    count: int = 0
    examples: list[tuple[int | None, str]] = field(default_factory=list)
    rows: np.ndarray | None = field(default=None, repr=False, compare=False)
    severity: str = ERROR

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    @property
    def is_error(self) -> bool:
        """Whether the violation blocks ingest."""
        return self.severity == ERROR

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
        """Whether no rule is broken (warnings do not count)."""
        return not self.errors

    @property
    def errors(self) -> list[Violation]:
        """The violations that block ingest."""
        return [v for v in self.violations if v.is_error]

    @property
    def warnings(self) -> list[Violation]:
        """The violations that are only reported."""
        return [v for v in self.violations if not v.is_error]

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
        found but could not be read; rows already reported as unusable values
        (``wrong_type``, ``non_finite``, ...: they became null) are not
        reported again in the same column (as ``missing_value`` or otherwise).
        """
        seen = {(v.table, v.column, v.rule) for v in self.violations}
        unreadable = {v.table for v in self.violations if v.rule in FILE_RULES}
        unusable = _unusable_rows(self.violations)
        merged = list(self.violations)
        for v in other.violations:
            if (v.table, v.column, v.rule) in seen:
                continue
            if v.rule == "missing_file" and v.table in unreadable:
                continue  # the table is absent because its file could not be read
            if (v.table, v.column) in unusable:
                v = _without_rows(v, unusable[(v.table, v.column)])
                if v is None:
                    continue
            merged.append(v)
        tables = {**self.tables, **other.tables}
        return ValidationReport(merged, tables)

    def __str__(self) -> str:
        lines = [f"- {v}" for v in self.errors]
        lines += [f"- warning: {v}" for v in self.warnings]
        if self.ok:
            lines.insert(0, f"all rules hold ({_tables_text(self.tables)})")
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        """Raise :class:`DataContractError` if any rule is broken."""
        if not self.ok:
            raise DataContractError(self)

    def render(self, console: Any = None) -> None:
        """Print the report as rich tables (file, column, rule, count, examples): the
        errors, then the warnings, then how rows are counted and the verdict."""
        from rich.console import Console
        from rich.markup import escape

        console = console or Console()
        errors, warnings = self.errors, self.warnings
        if errors:
            console.print(_violation_table(errors, f"{len(errors)} data contract violation(s)"))
        if warnings:
            console.print(_violation_table(warnings, f"{len(warnings)} warning(s)"))
        for v in errors:
            console.print(f"[red]-[/] {escape(v.message)}", highlight=False)
        for v in warnings:
            console.print(f"[yellow]- warning:[/] {escape(v.message)}", highlight=False)
        if any(row is not None for v in self.violations for row, _ in v.examples):
            console.print(f"rows: {ROW_CONVENTION}", highlight=False)
        if errors:
            console.print("[bold red]FAILED[/]: fix the input; nothing was written")
            return
        note = f"; {len(warnings)} warning(s) above" if warnings else ""
        console.print(f"[bold green]OK[/]: every rule holds ({_tables_text(self.tables)}){note}")


def _violation_table(violations: Sequence[Violation], title: str) -> Any:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, show_lines=True)
    table.add_column("file", overflow="fold")
    table.add_column("column", overflow="fold")
    table.add_column("rule", no_wrap=True)
    table.add_column("count", justify="right", no_wrap=True)
    table.add_column("examples", overflow="fold")
    for v in violations:
        cells = (v.file, v.column or "", v.rule, f"{v.count:,}", v.examples_text())
        table.add_row(*(escape(c) for c in cells))  # values are data, not markup
    return table


def _tables_text(tables: Mapping[str, int]) -> str:
    if not tables:
        return "no tables"
    return ", ".join(f"{t} {n:,} rows" for t, n in tables.items())


def _unusable_rows(violations: Sequence[Violation]) -> dict[tuple[str, str | None], np.ndarray]:
    """(table, column) -> 0-based rows whose value was reported as unusable."""
    out: dict[tuple[str, str | None], np.ndarray] = {}
    for v in violations:
        if v.rule in _UNUSABLE_VALUE_RULES and v.rows is not None:
            key = (v.table, v.column)
            out[key] = np.union1d(out.get(key, np.array([], int)), v.rows)
    return out


def _without_rows(v: Violation, drop: np.ndarray) -> Violation | None:
    """``v`` without the rows in ``drop`` (``None`` if nothing is left)."""
    if v.rows is None or v.rule in _UNUSABLE_VALUE_RULES:
        return v
    keep = np.setdiff1d(v.rows, drop)
    if keep.size == len(np.asarray(v.rows)):
        return v
    if keep.size == 0:
        return None
    kept_rows = set((keep[:MAX_EXAMPLES] + 1).tolist())
    examples = [(r, val) for r, val in v.examples if r in kept_rows]
    message = v.message.replace(f" in {plural(v.count)}", f" in {plural(int(keep.size))}", 1)
    return dataclasses.replace(
        v, message=message, count=int(keep.size), examples=examples, rows=keep
    )


def _drop_reported_rows(violations: list[Violation]) -> list[Violation]:
    """``violations`` without the rows of a column already reported as unusable values."""
    unusable = _unusable_rows(violations)
    out = []
    for v in violations:
        if (v.table, v.column) in unusable:
            v = _without_rows(v, unusable[(v.table, v.column)])
        if v is not None:
            out.append(v)
    return out


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
    severity: str = ERROR,
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
    severity
        ``"error"`` or ``"warning"``.
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
    return Violation(table, file, column, rule, message, int(rows.size), examples, rows, severity)


def column_label(column: str | None, source_column: str | None = None) -> str:
    """``"column 'amount' (your column 'Amount'): "`` or ``""`` for table-level rules."""
    if column is None:
        return ""
    if source_column and source_column != column:
        return f"column {column!r} (your column {source_column!r}): "
    return f"column {column!r}: "


def file_violation(
    *,
    table: str,
    file: str,
    rule: str,
    message: str,
    column: str | None = None,
    severity: str = ERROR,
) -> Violation:
    """A violation about a whole file or column (no offending rows to count)."""
    return Violation(table, file, column, rule, message, 0, [], severity=severity)


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


def find_control_characters(values: pd.Series) -> np.ndarray:
    """Rows of a text column holding a control character (:data:`CONTROL_CHARACTERS`)."""
    none = np.zeros(len(values), dtype=bool)
    if values.empty or not (values.dtype == object or pd.api.types.is_string_dtype(values.dtype)):
        return none
    try:
        found = values.str.contains(CONTROL_CHARACTERS, regex=True, na=False)
    except AttributeError:  # no text at all
        return none
    return found.to_numpy(dtype=bool)


def find_non_finite(values: pd.Series) -> np.ndarray:
    """Rows holding ``inf`` or ``-inf`` (nulls are not flagged)."""
    if not pd.api.types.is_float_dtype(values.dtype):
        return np.zeros(len(values), dtype=bool)
    return np.isinf(values.to_numpy(dtype="float64", na_value=np.nan))


def find_out_of_range(values: pd.Series, limit: float) -> np.ndarray:
    """Rows holding a finite number whose magnitude is ``limit`` or more."""
    if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return np.zeros(len(values), dtype=bool)
    x = np.abs(values.to_numpy(dtype="float64", na_value=np.nan))
    return np.isfinite(x) & (x >= limit)


#: What a ``non_finite`` violation says, and how to fix it.
NON_FINITE_PROBLEM = "value that is not a finite number (inf, -inf, or too large such as 1e400)"
NON_FINITE_HINT = "every number must be finite"
CONTROL_PROBLEM = (
    "text with a control character (NUL, ESC, DEL, ...; only tab and line breaks are allowed)"
)
CONTROL_HINT = "such values are rejected, not stripped: remove the characters in the export"


def out_of_range_problem(limit: float, reason: str) -> str:
    """What an ``out_of_range`` violation says (``limit`` from :attr:`ColumnSpec.limit`)."""
    return f"value too large to use (its magnitude must stay below {magnitude(limit)}: {reason})"


def magnitude(x: float) -> str:
    """``1e16``, ``9.22e18``: a limit in short scientific notation."""
    return f"{x:.3g}".replace("e+", "e")


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


def check_control_characters(spec: TableSpec, df: pd.DataFrame, file: str) -> list[Violation]:
    """String columns may not hold control characters (rejected, never stripped).

    Free-text columns are redacted; other values are shown escaped (``'a\\x00b'``).
    """
    out = []
    for c in spec.columns:
        if c.dtype != "string" or c.name not in df.columns:
            continue
        v = row_violation(
            find_control_characters(df[c.name]),
            table=spec.name,
            file=file,
            column=c.name,
            rule="control_character",
            problem=CONTROL_PROBLEM,
            hint=CONTROL_HINT,
            values=df[c.name],
            redact=c.name in spec.text_columns,
        )
        if v:
            out.append(v)
    return out


def check_numbers(spec: TableSpec, df: pd.DataFrame, file: str) -> list[Violation]:
    """Numbers must be finite and below the magnitude later stages can represent."""
    out = []
    for c in spec.columns:
        if not c.is_numeric or c.name not in df.columns:
            continue
        values = df[c.name]
        limit = c.limit
        found = [
            row_violation(
                find_non_finite(values),
                table=spec.name,
                file=file,
                column=c.name,
                rule="non_finite",
                problem=NON_FINITE_PROBLEM,
                hint=NON_FINITE_HINT,
                values=values,
            ),
            None
            if limit is None
            else row_violation(
                find_out_of_range(values, limit[0]),
                table=spec.name,
                file=file,
                column=c.name,
                rule="out_of_range",
                problem=out_of_range_problem(*limit),
                values=values,
            ),
        ]
        out.extend(v for v in found if v)
    return out


@dataclass(frozen=True)
class PlausibleRange:
    """The believable values of one numeric column (``data.plausibility``).

    Parameters
    ----------
    min, max
        Inclusive bounds; ``None`` leaves that side open.
    severity
        ``"warning"`` (reported, ingest goes on; the default) or ``"error"``
        (blocks ingest like any contract violation).
    """

    min: float | None = None
    max: float | None = None
    severity: str = WARNING

    def outside(self, values: pd.Series) -> np.ndarray:
        """Rows whose (non-null) value lies outside the range."""
        x = values.to_numpy(dtype="float64", na_value=np.nan)
        with np.errstate(invalid="ignore"):
            low = x < self.min if self.min is not None else np.zeros(len(x), dtype=bool)
            high = x > self.max if self.max is not None else np.zeros(len(x), dtype=bool)
        return low | high

    def text(self) -> str:
        """``from 0 to 5000``, ``at most 5000``, ``at least 0``."""
        if self.min is not None and self.max is not None:
            return f"from {self.min:g} to {self.max:g}"
        return f"at most {self.max:g}" if self.max is not None else f"at least {self.min:g}"


def plausibility_from_config(
    node: Mapping[str, Any] | None,
) -> dict[str, dict[str, PlausibleRange]]:
    """Parse ``data.plausibility`` (table -> column -> {min, max, severity}), rejecting typos.

    Raises
    ------
    ValueError
        On an unknown table or column, a column that is not numeric, an unknown
        key or severity, a bound that is not a number, or min above max.
    """
    out: dict[str, dict[str, PlausibleRange]] = {}
    for table, columns in (node or {}).items():
        if table not in TABLES:
            raise ValueError(f"data.plausibility: unknown table {table!r}; known: {list(TABLES)}")
        spec = TABLES[table]
        out[table] = {}
        for column, bounds in (columns or {}).items():
            where = f"data.plausibility.{table}.{column}"
            if column not in spec.column_names or not spec.column(column).is_numeric:
                numeric = [c.name for c in spec.columns if c.is_numeric]
                raise ValueError(f"{where}: not a numeric column of {table!r}; numeric: {numeric}")
            out[table][column] = _plausible_range(where, bounds or {})
    return out


def _plausible_range(where: str, bounds: Mapping[str, Any]) -> PlausibleRange:
    unknown = set(bounds) - {"min", "max", "severity"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: min, max, severity")
    severity = str(bounds.get("severity", WARNING))
    if severity not in SEVERITIES:
        raise ValueError(f"{where}.severity must be one of {list(SEVERITIES)}, got {severity!r}")
    values = {}
    for key in ("min", "max"):
        value = bounds.get(key)
        if value is not None:
            try:
                values[key] = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{where}.{key} must be a number, got {value!r}") from None
    if not values:
        raise ValueError(f"{where}: give min, max or both")
    if "min" in values and "max" in values and values["min"] > values["max"]:
        raise ValueError(f"{where}: min {values['min']:g} is above max {values['max']:g}")
    return PlausibleRange(values.get("min"), values.get("max"), severity)


def check_plausibility(
    spec: TableSpec, df: pd.DataFrame, file: str, ranges: Mapping[str, PlausibleRange]
) -> list[Violation]:
    """Values outside the configured believable range, as warnings or errors."""
    out = []
    for column, bounds in ranges.items():
        if not _usable(df, column, "float"):
            continue
        setting = f"data.plausibility.{spec.name}.{column}"
        v = row_violation(
            bounds.outside(df[column]),
            table=spec.name,
            file=file,
            column=column,
            rule="implausible_value",
            problem=f"implausible value (plausible: {bounds.text()}, {setting})",
            hint="a warning: ingest goes on" if bounds.severity == WARNING else "",
            values=df[column],
            severity=bounds.severity,
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
    unreadable: Collection[str] = (),
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
            if TABLES[fk.ref_table].required or fk.ref_table in unreadable:
                continue  # the missing or unreadable table is reported on its own
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
    plausibility: Mapping[str, Mapping[str, PlausibleRange]] | None = None,
    unreadable: Collection[str] = (),
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
    plausibility
        Table -> {column: :class:`PlausibleRange`} (``data.plausibility``);
        values outside are reported with the range's severity.
    unreadable
        Tables whose file is configured but could not be used (already
        reported): references to them are not reported as to an absent table.

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
            check_control_characters(spec, df, file),
            check_numbers(spec, df, file),
            check_schema(spec, df, file, platforms),
            check_primary_key(spec, df, file),
            check_foreign_keys(spec, df, file, tables, files, unreadable),
            check_signup_order(spec, df, file, customers),
            check_future(spec, df, file, as_of_ts),
            *(rule(spec, df, file) for rule in _EXTRA_RULES.get(name, ())),
            check_plausibility(spec, df, file, (plausibility or {}).get(name, {})),
        ]
        report.violations.extend(_drop_reported_rows([v for found in checks for v in found]))
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

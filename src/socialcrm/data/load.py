"""The I/O edge: read a data source into canonical tables, check them, ingest them.

A :class:`DataSource` says where the tables come from:

``synthetic``
    The generated world: ``<raw_dir>/<table>.parquet``. Its ``truth/``
    subfolder (the ground truth) is never read here.
``files``
    A user's own exports: per table a ``file`` (CSV/text or Parquet by
    extension), pandas ``read`` options, a ``columns`` mapping
    ``{their column: canonical column}``, an optional ``date_format`` and
    ``generate_id``. See ``conf/data/own.yaml``.
``canonical``
    Any folder of canonically named ``<table>.parquet`` or ``<table>.csv``
    files (what ``socialcrm validate --path`` checks).

Every column is coerced to its canonical dtype; a value that does not coerce is
a ``wrong_type`` violation (never a silent null). Raw personal identifiers
(``email``, ``phone``, ``handle``) are hashed with the salt as they are read and
the raw column is dropped, so they never reach ``data/interim``.
:func:`ingest` writes only when every rule holds, atomically.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from socialcrm.data import privacy
from socialcrm.data.io import atomic_dir, write_parquet
from socialcrm.data.schemas import PLATFORMS, TABLES, ColumnSpec, TableSpec
from socialcrm.data.validate import (
    _SURROGATES,
    DataContractError,
    ValidationReport,
    Violation,
    column_label,
    file_violation,
    find_invalid_utf8,
    resolve_as_of,
    row_violation,
    validate_tables,
)

__all__ = [
    "MANIFEST",
    "SOURCES",
    "DataContractError",
    "DataSource",
    "TableFile",
    "ValidationReport",
    "coerce_column",
    "derive_customers",
    "empty_column",
    "ingest",
    "load_canonical",
    "load_source",
    "read_manifest",
    "validate_source",
]

SOURCES: tuple[str, ...] = ("synthetic", "files", "canonical")
MANIFEST = "_manifest.json"
PARQUET_SUFFIXES = (".parquet", ".pq")
#: Text that means "no value" in numeric, boolean and date columns of a text file
#: (string columns treat only the empty field as null, so a region "NA" survives).
NULL_TOKENS = ("", "nan", "NaN", "NAN", "NA", "N/A", "n/a", "null", "NULL", "None", "none")
TRUE_TOKENS = ("true", "t", "yes", "y", "1", "1.0")
FALSE_TOKENS = ("false", "f", "no", "n", "0", "0.0")
_TABLE_KEYS = ("file", "read", "columns", "date_format", "generate_id")
_DEFAULT_CSV_OPTIONS: dict[str, Any] = {"keep_default_na": False, "na_values": [""]}


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableFile:
    """How to read one table of a data source.

    Parameters
    ----------
    file
        File name relative to ``raw_dir`` (or an absolute path). ``.parquet``/``.pq``
        is read as Parquet, anything else as delimited text.
    read
        Extra keyword arguments for :func:`pandas.read_csv` (``sep``, ``header``,
        ``names``, ``decimal``, ``encoding``, ...).
    columns
        ``{column in the file: canonical column}``; columns already named
        canonically need no entry, unmapped other columns are ignored. Raw
        identifiers map to ``email``, ``phone`` or ``handle``.
    date_format
        strptime format of the timestamp columns (one for all, or
        ``{canonical column: format}``); default ISO 8601.
    generate_id
        Build the (single-column) primary key from the row order (1-based row
        number, zero-padded) when the file has none.
    """

    file: str
    read: Mapping[str, Any] = field(default_factory=dict)
    columns: Mapping[str, str] = field(default_factory=dict)
    date_format: str | Mapping[str, str] | None = None
    generate_id: bool = False

    @classmethod
    def from_config(cls, table: str, node: Mapping[str, Any]) -> TableFile:
        """Build from one ``data.tables.<table>`` entry, rejecting typos early."""
        spec = TABLES[table]
        if isinstance(node, str):
            node = {"file": node}
        unknown = set(node) - set(_TABLE_KEYS)
        if unknown:
            raise ValueError(
                f"data.tables.{table}: unknown keys {sorted(unknown)}; allowed: {list(_TABLE_KEYS)}"
            )
        if not node.get("file"):
            raise ValueError(f"data.tables.{table}: 'file' is required (or set the table to null)")
        columns = {str(k): str(v) for k, v in (node.get("columns") or {}).items()}
        allowed = set(spec.column_names) | set(spec.identifiers)
        bad = sorted({v for v in columns.values() if v not in allowed})
        if bad:
            raise ValueError(
                f"data.tables.{table}.columns maps to unknown canonical columns {bad}; "
                f"allowed: {sorted(allowed)}"
            )
        targets = list(columns.values())
        dupes = sorted({v for v in targets if targets.count(v) > 1})
        if dupes:
            raise ValueError(f"data.tables.{table}.columns maps several columns onto {dupes}")
        generate_id = bool(node.get("generate_id", False))
        if generate_id and len(spec.primary_key) != 1:
            raise ValueError(f"data.tables.{table}.generate_id needs a single-column primary key")
        date_format = node.get("date_format")
        if isinstance(date_format, Mapping):
            date_format = {str(k): str(v) for k, v in date_format.items()}
        return cls(
            file=str(node["file"]),
            read=dict(node.get("read") or {}),
            columns=columns,
            date_format=date_format,
            generate_id=generate_id,
        )

    def format_for(self, column: str) -> str | None:
        """The date format of one canonical column (``None``: ISO 8601)."""
        if isinstance(self.date_format, Mapping):
            return self.date_format.get(column)
        return self.date_format

    def source_column(self, canonical: str) -> str:
        """The file's column that becomes ``canonical`` (itself when unmapped)."""
        for theirs, ours in self.columns.items():
            if ours == canonical:
                return theirs
        return canonical


@dataclass(frozen=True)
class DataSource:
    """Where a data set's tables come from and how to read them.

    Parameters
    ----------
    name
        Data set name (``data.name``).
    source
        ``synthetic``, ``files`` or ``canonical`` (see the module docstring).
    raw_dir
        Folder holding the input files.
    interim_dir
        Folder :func:`ingest` writes the validated canonical tables to.
    as_of
        The moment the data were extracted: no timestamp may lie after it;
        ``None`` means now.
    salt
        Secret for hashing raw identifiers; ``None`` falls back to ``$SOCIALCRM_SALT``.
    platforms
        Allowed social platforms.
    tables
        For ``files``: table -> :class:`TableFile`, or ``None`` for a table the
        data set does not have.
    derive_customers
        Build ``customers`` from ``transactions`` (transactions-only data sets).
    """

    name: str
    source: str
    raw_dir: Path
    interim_dir: Path
    as_of: pd.Timestamp | None = None
    salt: str | None = field(default=None, repr=False)
    platforms: tuple[str, ...] = PLATFORMS
    tables: Mapping[str, TableFile | None] = field(default_factory=dict)
    derive_customers: bool = False

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"data.source must be one of {list(SOURCES)}, got {self.source!r}")
        unknown = set(self.tables) - set(TABLES)
        if unknown:
            raise ValueError(
                f"data.tables: unknown tables {sorted(unknown)}; known: {list(TABLES)}"
            )
        if self.derive_customers and self.tables.get("customers") is not None:
            raise ValueError(
                "data.derive_customers is true but data.tables.customers is configured; "
                "use one or the other"
            )

    @classmethod
    def from_config(cls, data_cfg: Any) -> DataSource:
        """Build from the composed ``data`` config node (a DictConfig or a plain mapping)."""
        from omegaconf import DictConfig, OmegaConf

        if isinstance(data_cfg, DictConfig):
            cfg = OmegaConf.to_container(data_cfg, resolve=True)
        else:
            cfg = dict(data_cfg)
        assert isinstance(cfg, dict)
        source = str(cfg.get("source", "synthetic"))
        tables: dict[str, TableFile | None] = {}
        if source == "files":
            nodes = cfg.get("tables") or {}
            unknown = set(nodes) - set(TABLES)
            if unknown:
                raise ValueError(
                    f"data.tables: unknown tables {sorted(unknown)}; known: {list(TABLES)}"
                )
            tables = {
                name: None if node is None else TableFile.from_config(name, node)
                for name, node in nodes.items()
            }
        as_of = cfg.get("as_of")
        salt = cfg.get("salt")
        return cls(
            name=str(cfg.get("name", "data")),
            source=source,
            raw_dir=Path(cfg["raw_dir"]),
            interim_dir=Path(cfg["interim_dir"]),
            as_of=None if as_of in (None, "") else resolve_as_of(as_of),
            salt=None if salt in (None, "") else str(salt),
            platforms=tuple(cfg.get("platforms") or PLATFORMS),
            tables=tables,
            derive_customers=bool(cfg.get("derive_customers", False)),
        )

    def with_raw_dir(self, path: str | Path) -> DataSource:
        """The same settings reading a folder of canonically named tables at ``path``.

        Used by ``socialcrm validate --path``: the folder holds ``<table>.parquet``
        or ``<table>.csv`` files with canonical columns, so the source becomes
        ``canonical`` (as_of, salt and platforms are kept).
        """
        return dataclasses.replace(
            self, raw_dir=Path(path), source="canonical", tables={}, derive_customers=False
        )

    def table_files(self) -> dict[str, TableFile | None]:
        """Table -> how to read it, for every canonical table (``None``: not configured)."""
        if self.source == "files":
            return {name: self.tables.get(name) for name in TABLES}
        plan: dict[str, TableFile | None] = {}
        for name in TABLES:
            chosen = f"{name}.parquet"
            if (
                self.source == "canonical"
                and not (self.raw_dir / chosen).is_file()
                and (self.raw_dir / f"{name}.csv").is_file()
            ):
                chosen = f"{name}.csv"
            plan[name] = TableFile(chosen)
        return plan

    def path(self, tf: TableFile) -> Path:
        """Absolute path of a table's file."""
        p = Path(tf.file)
        return p if p.is_absolute() else self.raw_dir / p


# --------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------


def _read_text(path: Path, options: Mapping[str, Any]) -> pd.DataFrame:
    """Read delimited text as strings; undecodable bytes survive as surrogates."""
    kwargs = {**_DEFAULT_CSV_OPTIONS, **options}
    try:
        return pd.read_csv(path, **{"dtype": str, **kwargs})
    except (UnicodeDecodeError, UnicodeEncodeError):
        # Not valid UTF-8: read again keeping each bad byte as a lone surrogate,
        # so that the rows can be named (see validate.find_invalid_utf8).
        kwargs.setdefault("encoding_errors", "surrogateescape")
        return pd.read_csv(path, **{**kwargs, "dtype": object})


def _read_parquet(path: Path) -> pd.DataFrame:
    """Read Parquet; string columns holding invalid UTF-8 come back as object
    columns with surrogates instead of failing the whole read."""
    table = pq.read_table(path)
    broken: dict[str, pd.Series] = {}
    for i, fld in enumerate(table.schema):
        if not (
            pa.types.is_string(fld.type)
            or pa.types.is_large_string(fld.type)
            or pa.types.is_binary(fld.type)
            or pa.types.is_large_binary(fld.type)
        ):
            continue
        column = table.column(i)
        if pa.types.is_string(fld.type) or pa.types.is_large_string(fld.type):
            try:
                column.validate(full=True)
                continue
            except pa.ArrowInvalid:
                pass
        binary_type = pa.large_binary() if "large" in str(fld.type) else pa.binary()
        chunks = [chunk.view(binary_type) for chunk in column.chunks]
        raw = pd.Series(pa.chunked_array(chunks, binary_type).to_numpy(zero_copy_only=False))
        broken[fld.name] = raw.str.decode("utf-8", errors="surrogateescape", dtype=object)
    if not broken:
        return table.to_pandas()
    frame = table.drop_columns(list(broken)).to_pandas()
    for name, values in broken.items():
        frame[name] = pd.Series(values.to_numpy(), index=frame.index, dtype=object)
    return frame[table.schema.names]


def _read_file(path: Path, tf: TableFile) -> pd.DataFrame:
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return _read_parquet(path)
    return _read_text(path, tf.read)


# --------------------------------------------------------------------------------------
# Coercion to canonical dtypes (pure: Series in, Series and violations out)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Where:
    """Where a column came from, for messages."""

    table: str
    file: str
    column: str
    source_column: str
    redact: bool = False

    def violation(
        self,
        mask: np.ndarray | pd.Series,
        rule: str,
        problem: str,
        values: pd.Series,
        hint: str = "",
    ) -> Violation | None:
        return row_violation(
            mask,
            table=self.table,
            file=self.file,
            column=self.column,
            rule=rule,
            problem=problem,
            hint=hint,
            values=values,
            redact=self.redact,
            source_column=self.source_column,
        )


def _repair_utf8(values: pd.Series, where: _Where) -> tuple[pd.Series, list[Violation]]:
    """Report and blank out undecodable text (U+FFFD) so the other checks can run."""
    bad = find_invalid_utf8(values)
    if not bad.any():
        return values, []
    v = row_violation(
        bad,
        table=where.table,
        file=where.file,
        column=where.column,
        rule="invalid_utf8",
        problem="text that is not valid UTF-8",
        hint="re-export the file as UTF-8",
        redact=True,
        source_column=where.source_column,
    )
    repaired = values.copy()
    repaired[bad] = values[bad].str.replace(_SURROGATES, "\ufffd", regex=True)
    return repaired, [v] if v else []


def _is_text(values: pd.Series) -> bool:
    return values.dtype == object or pd.api.types.is_string_dtype(values.dtype)


def _null_tokens(values: pd.Series) -> pd.Series:
    """Text with the usual spellings of "no value" turned into nulls, whitespace stripped."""
    text = values.astype("str").str.strip()
    return text.mask(text.isin(NULL_TOKENS))


def _to_string(values: pd.Series) -> pd.Series:
    if values.dtype == "str":
        return values
    if pd.api.types.is_float_dtype(values.dtype):
        finite = values.dropna()
        if len(finite) and np.all(np.isfinite(finite)) and np.all(finite % 1 == 0):
            return values.astype("Int64").astype("str")
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").astype("str")
    return values.astype("str")


def _to_timestamp(values: pd.Series, fmt: str | None, where: _Where) -> tuple[pd.Series, list]:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert(None).astype("datetime64[us]"), []
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return values.astype("datetime64[us]"), []
    text = _null_tokens(values)
    parsed = pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce", utc=True)
    parsed = parsed.dt.tz_localize(None).astype("datetime64[us]")
    bad = text.notna() & parsed.isna()
    expected = f"format {fmt!r}" if fmt else "ISO 8601 such as 2024-05-31 13:45:00"
    problem = f"value that is not a date/time in {expected}"
    hint = f"set data.tables.{where.table}.date_format"
    v = where.violation(bad, "wrong_type", problem, values, hint)
    return parsed, [v] if v else []


def _to_number(
    values: pd.Series, where: _Where, decimal: str = ".", thousands: str | None = None
) -> tuple[pd.Series, list[Violation]]:
    """Float64 values; text that is not a number is a violation."""
    if pd.api.types.is_bool_dtype(values.dtype) or not (
        _is_text(values) or pd.api.types.is_numeric_dtype(values.dtype)
    ):
        text = values.astype("str")
        bad = values.notna().to_numpy()
        problem = f"value that is not a number (type {values.dtype})"
        v = where.violation(bad, "wrong_type", problem, text)
        return pd.Series(np.nan, index=values.index, dtype="float64"), [v] if v else []
    if pd.api.types.is_numeric_dtype(values.dtype):
        return pd.Series(values.to_numpy(dtype="float64", na_value=np.nan), index=values.index), []
    text = _null_tokens(values)
    if thousands:
        text = text.str.replace(thousands, "", regex=False)
    if decimal != ".":
        text = text.str.replace(decimal, ".", regex=False)
    number = pd.to_numeric(text, errors="coerce")
    number = pd.Series(
        np.asarray(number.to_numpy(dtype="float64", na_value=np.nan)), index=values.index
    )
    bad = text.notna() & number.isna()
    v = where.violation(bad, "wrong_type", "value that is not a number", values)
    return number, [v] if v else []


def _to_integer(
    values: pd.Series, col: ColumnSpec, where: _Where, decimal: str, thousands: str | None
) -> tuple[pd.Series, list[Violation]]:
    if pd.api.types.is_integer_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        out = values.astype("Int64")
        found: list[Violation] = []
    else:
        number, found = _to_number(values, where, decimal, thousands)
        fraction = number.notna() & ~(np.isfinite(number) & (number % 1 == 0))
        v = where.violation(fraction, "wrong_type", "value that is not a whole number", values)
        if v:
            found.append(v)
        out = number.mask(fraction).astype("Int64")
    if col.dtype == "nullable_int":
        return out, found
    return _fill_required(out, col, where, found, placeholder=0, dtype="int64", shown=values)


def _to_bool(values: pd.Series, col: ColumnSpec, where: _Where) -> tuple[pd.Series, list]:
    if pd.api.types.is_bool_dtype(values.dtype) and values.dtype != object:
        out = values.astype("boolean")
        found: list[Violation] = []
    else:
        text = _null_tokens(values).str.lower()
        is_true = text.isin(TRUE_TOKENS)
        is_false = text.isin(FALSE_TOKENS)
        bad = text.notna() & ~is_true & ~is_false
        problem = "value that is not true/false"
        hint = "accepted: true/false, yes/no, y/n, t/f, 1/0"
        v = where.violation(bad, "wrong_type", problem, values, hint)
        found = [v] if v else []
        out = pd.Series(pd.NA, index=values.index, dtype="boolean")
        out[is_true.to_numpy()] = True
        out[is_false.to_numpy()] = False
    return _fill_required(out, col, where, found, placeholder=False, dtype="bool", shown=values)


def _fill_required(
    out: pd.Series,
    col: ColumnSpec,
    where: _Where,
    found: list[Violation],
    *,
    placeholder: object,
    dtype: str,
    shown: pd.Series,
) -> tuple[pd.Series, list[Violation]]:
    """Fill nulls of a non-nullable int/bool column: with the column's default when
    it has one (a blank means the default), else report them."""
    missing = out.isna().to_numpy()
    if missing.any():
        if col.default is not None:
            out = out.fillna(col.default)
        else:
            bad_before = np.zeros(len(out), dtype=bool)
            for v in found:
                if v.rows is not None:
                    bad_before[v.rows] = True
            problem = "empty value in a column that may not be null"
            v = where.violation(missing & ~bad_before, "missing_value", problem, shown)
            if v:
                found.append(v)
            out = out.fillna(placeholder)
    return out.astype(dtype), found


def coerce_column(
    values: pd.Series,
    col: ColumnSpec,
    *,
    table: str,
    file: str,
    source_column: str | None = None,
    date_format: str | None = None,
    decimal: str = ".",
    thousands: str | None = None,
    redact: bool = False,
) -> tuple[pd.Series, list[Violation]]:
    """Convert one column to its canonical dtype, reporting values that do not convert.

    Parameters
    ----------
    values
        The column as read (text from CSV files, typed from Parquet).
    col
        Its canonical column.
    table, file, source_column
        For messages: canonical table, the user's file and column.
    date_format
        strptime format for timestamps (default ISO 8601).
    decimal, thousands
        Decimal and thousands separators of numbers in text (``read`` options).
    redact
        Never print the values (free text, identifiers).

    Returns
    -------
    tuple
        The converted Series (canonical dtype; values that did not convert are
        null) and the violations (``wrong_type``, ``invalid_utf8``, ``missing_value``).
    """
    where = _Where(table, file, col.name, source_column or col.name, redact)
    values, found = _repair_utf8(values, where)
    if found and col.dtype != "string":
        bad = np.zeros(len(values), dtype=bool)
        bad[found[0].rows] = True
        values = values.mask(bad)
    if col.dtype == "string":
        return _to_string(values), found
    if col.dtype == "timestamp":
        out, more = _to_timestamp(values, date_format, where)
    elif col.dtype == "float":
        out, more = _to_number(values, where, decimal, thousands)
    elif col.dtype in ("int", "nullable_int"):
        out, more = _to_integer(values, col, where, decimal, thousands)
    elif col.dtype == "bool":
        out, more = _to_bool(values, col, where)
    else:  # pragma: no cover - guarded by schemas.PANDAS_DTYPES
        raise ValueError(f"unknown logical dtype {col.dtype!r}")
    return out, found + more


def empty_column(col: ColumnSpec, n: int) -> pd.Series:
    """An absent optional column: its default, or all null, in the canonical dtype."""
    if col.default is not None:
        dtype = {"int": "int64", "bool": "bool", "float": "float64"}.get(col.dtype, "object")
        return pd.Series([col.default] * n, dtype=dtype)
    if col.dtype == "string":
        return pd.Series([None] * n, dtype="str")
    if col.dtype == "timestamp":
        return pd.Series(pd.NaT, index=range(n), dtype="datetime64[us]")
    if col.dtype == "float":
        return pd.Series(np.nan, index=range(n), dtype="float64")
    if col.dtype == "nullable_int":
        return pd.Series(pd.NA, index=range(n), dtype="Int64")
    return pd.Series([None] * n, dtype="object")


def derive_customers(transactions: pd.DataFrame) -> pd.DataFrame:
    """A ``customers`` table from transactions: one row per customer id, ``signup_date``
    the first transaction, ``consent_social`` false, everything else null.

    Parameters
    ----------
    transactions
        Canonical transactions (``customer_id``, ``timestamp``).
    """
    first = transactions.groupby("customer_id", sort=True, dropna=True)["timestamp"].min()
    spec = TABLES["customers"]
    data = {
        "customer_id": pd.Series(first.index.to_numpy(), dtype="str"),
        "signup_date": pd.Series(first.to_numpy(), dtype="datetime64[us]"),
    }
    n = len(first)
    return pd.DataFrame(
        {c.name: data[c.name] if c.name in data else empty_column(c, n) for c in spec.columns}
    )


# --------------------------------------------------------------------------------------
# One table: read, map, coerce, hash, complete
# --------------------------------------------------------------------------------------


def _to_canonical(
    raw: pd.DataFrame,
    spec: TableSpec,
    tf: TableFile,
    file: str,
    salt: str | None,
) -> tuple[pd.DataFrame, list[Violation]]:
    """Map, coerce, hash and complete one table as read (pure)."""
    found: list[Violation] = []
    raw = raw.reset_index(drop=True)
    raw.columns = [str(c) for c in raw.columns]
    mapped = {theirs: ours for theirs, ours in tf.columns.items() if theirs in raw.columns}
    # A canonically named column is used unless another column is mapped onto it.
    direct = [
        c
        for c in raw.columns
        if c not in mapped
        and (c in spec.column_names or c in spec.identifiers)
        and c not in mapped.values()
    ]
    frame = raw[list(mapped) + direct].rename(columns=mapped)
    n = len(frame)

    if tf.generate_id:
        key = spec.primary_key[0]
        if key not in frame.columns:
            width = len(str(n))
            ids = pd.Series(np.arange(1, n + 1), dtype="int64").astype("str").str.zfill(width)
            frame[key] = ids

    out: dict[str, pd.Series] = {}
    for col in spec.columns:
        if col.name in frame.columns:
            values, problems = coerce_column(
                frame[col.name],
                col,
                table=spec.name,
                file=file,
                source_column=tf.source_column(col.name),
                date_format=tf.format_for(col.name),
                decimal=str(tf.read.get("decimal") or "."),
                thousands=tf.read.get("thousands"),
                redact=col.name in spec.text_columns,
            )
            out[col.name] = values
            found.extend(problems)
        elif col.required:
            theirs = tf.source_column(col.name)
            hint = f" (mapped from your column {theirs!r})" if theirs != col.name else ""
            found.append(
                file_violation(
                    table=spec.name,
                    file=file,
                    rule="missing_column",
                    column=col.name,
                    message=f"{file}: required column {col.name!r}{hint} is missing "
                    f"(columns found: {list(raw.columns)})",
                )
            )

    for raw_name, hashed in spec.identifiers.items():
        if raw_name not in frame.columns:
            continue
        where = _Where(spec.name, file, hashed, tf.source_column(raw_name), redact=True)
        values, problems = _repair_utf8(frame[raw_name], where)
        found.extend(problems)
        if salt is None:
            found.append(
                file_violation(
                    table=spec.name,
                    file=file,
                    column=hashed,
                    rule="missing_salt",
                    message=f"{file}: {column_label(hashed, where.source_column)}raw "
                    f"{raw_name} values must be hashed, which needs a salt: set data.salt "
                    f"in the config or the ${privacy.SALT_ENV} environment variable",
                )
            )
            out.pop(hashed, None)
            continue
        text = values.astype(object).where(values.notna(), None)
        out[hashed] = pd.Series(
            privacy.hash_identifiers(text.to_numpy(), raw_name, salt), dtype="str"
        )

    for col in spec.columns:
        if col.name not in out and not col.required:
            out[col.name] = empty_column(col, n)
    ordered = {c.name: out[c.name] for c in spec.columns if c.name in out}
    return pd.DataFrame(ordered, index=pd.RangeIndex(n)), found


def _resolve_salt(salt: str | None) -> str | None:
    try:
        return privacy.resolve_salt(salt)
    except ValueError:
        return None


def load_source(
    source: DataSource,
) -> tuple[dict[str, pd.DataFrame], dict[str, str], ValidationReport]:
    """Read every table of a source into canonical form.

    Parameters
    ----------
    source
        Where and how to read.

    Returns
    -------
    tables
        Canonical table name -> DataFrame (canonical columns and dtypes, file
        row order); tables the source does not have are absent.
    files
        Table name -> the file name to name in messages.
    report
        File-level violations found while reading (missing files, undecodable
        text, values that do not convert, missing columns, missing salt). The
        table rules are checked by :func:`validate_source`.
    """
    report = ValidationReport()
    tables: dict[str, pd.DataFrame] = {}
    files: dict[str, str] = {}
    salt = _resolve_salt(source.salt)
    for name, tf in source.table_files().items():
        spec = TABLES[name]
        if tf is None:
            if spec.required and not (name == "customers" and source.derive_customers):
                files[name] = f"{name} (not configured)"
                report.violations.append(
                    file_violation(
                        table=name,
                        file=files[name],
                        rule="missing_file",
                        message=f"no file is configured for the required table {name!r}: "
                        f"set data.tables.{name}.file"
                        + (
                            " (or derive_customers: true for transactions-only data)"
                            if name == "customers"
                            else ""
                        ),
                    )
                )
            continue
        files[name] = tf.file
        path = source.path(tf)
        if not path.is_file():
            if spec.required or source.source == "files":
                hint = " (run `socialcrm generate` first)" if source.source == "synthetic" else ""
                report.violations.append(
                    file_violation(
                        table=name,
                        file=tf.file,
                        rule="missing_file",
                        message=f"{tf.file}: file for table {name!r} not found in "
                        f"{path.parent}{hint}",
                    )
                )
            else:
                files.pop(name)
            continue
        try:
            raw = _read_file(path, tf)
        except pd.errors.EmptyDataError:
            report.violations.append(
                file_violation(
                    table=name,
                    file=tf.file,
                    rule="empty_table",
                    message=f"{tf.file}: the file is empty (no header, no rows)",
                )
            )
            continue
        except Exception as err:  # any reader failure is reported, never half-read
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            report.violations.append(
                file_violation(
                    table=name,
                    file=tf.file,
                    rule="unreadable_file",
                    message=f"{tf.file}: cannot be read as "
                    f"{'Parquet' if path.suffix.lower() in PARQUET_SUFFIXES else 'text'}: "
                    f"{first}",
                )
            )
            continue
        frame, problems = _to_canonical(raw, spec, tf, tf.file, salt)
        report.violations.extend(problems)
        tables[name] = frame
    if source.derive_customers and "customers" not in tables:
        files["customers"] = f"customers derived from {files.get('transactions', 'transactions')}"
        if "transactions" in tables and {"customer_id", "timestamp"} <= set(
            tables["transactions"].columns
        ):
            tables["customers"] = derive_customers(tables["transactions"])
    report.tables = {name: len(df) for name, df in tables.items()}
    return tables, files, report


def _load_checked(
    source: DataSource,
) -> tuple[dict[str, pd.DataFrame], ValidationReport, pd.Timestamp]:
    as_of = resolve_as_of(source.as_of)
    tables, files, report = load_source(source)
    mapped = {
        name: {ours: theirs for theirs, ours in tf.columns.items()}
        for name, tf in source.table_files().items()
        if tf is not None and tf.columns
    }
    checked = validate_tables(tables, files, as_of, source.platforms, mapped)
    return tables, report.merge(checked), as_of


def validate_source(source: DataSource) -> ValidationReport:
    """Read a source and check every rule; never writes anything.

    Parameters
    ----------
    source
        Where and how to read.

    Returns
    -------
    ValidationReport
        File-level problems followed by the table rules' violations.
    """
    return _load_checked(source)[1]


def ingest(source: DataSource) -> dict[str, int]:
    """Validate a source and, only if every rule holds, write its canonical tables.

    Writes ``<interim_dir>/<table>.parquet`` for every present table and
    ``_manifest.json`` (data set name, source, as_of, row counts), atomically:
    the folder appears complete or not at all.

    Parameters
    ----------
    source
        Where and how to read.

    Returns
    -------
    dict
        Table name -> row count.

    Raises
    ------
    DataContractError
        If any rule is broken; nothing is written then.
    """
    tables, report, _ = _load_checked(source)
    report.raise_if_failed()
    rows = {name: len(tables[name]) for name in TABLES if name in tables}
    manifest = {
        "name": source.name,
        "source": source.source,
        # The configured extraction time; null means timestamps were checked against
        # the time of ingest (not recorded, so the same input gives the same bytes).
        "as_of": source.as_of.isoformat() if source.as_of is not None else None,
        "derived_customers": bool(source.derive_customers),
        "tables": rows,
        "hashed_columns": {
            name: [h for h in TABLES[name].identifiers.values() if tables[name][h].notna().any()]
            for name in rows
            if TABLES[name].identifiers
        },
    }
    with atomic_dir(source.interim_dir) as tmp:
        for name in rows:
            table = pa.Table.from_pandas(tables[name], preserve_index=False)
            write_parquet(table, tmp / f"{name}.parquet")
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return rows


def read_manifest(interim_dir: str | Path) -> dict[str, Any]:
    """The ``_manifest.json`` :func:`ingest` wrote (name, source, as_of, tables)."""
    path = Path(interim_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"no ingested data in {interim_dir} ({MANIFEST} missing): run `socialcrm ingest` first"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def load_canonical(interim_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Read the canonical tables :func:`ingest` wrote, for later stages.

    Parameters
    ----------
    interim_dir
        ``data.interim_dir`` of the data set.

    Returns
    -------
    dict
        Table name -> DataFrame, in canonical order; only the tables the data
        set has (for example no social tables for CRM-only data).
    """
    manifest = read_manifest(interim_dir)
    out = {}
    for name in TABLES:
        if name in manifest["tables"]:
            frame = pd.read_parquet(Path(interim_dir) / f"{name}.parquet")
            out[name] = frame[TABLES[name].column_names]
    return out

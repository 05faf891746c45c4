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
a ``wrong_type`` violation (never a silent null), and so are, at the door, the
values that would break a later stage: numbers that are not finite
(``non_finite``) or too large to store (``out_of_range``), text timestamps that
mix values with and without a UTC offset (``mixed_timezones``), raw
identifiers with control characters (``control_character``; the other text
columns are checked in :mod:`socialcrm.data.validate`).

Before a file is parsed it is checked for being what its name says: a folder,
a compressed file under a plain name, UTF-16/32 text or a Parquet file named
``.csv`` is reported with the ``read:`` setting that reads it. While parsing,
a header that repeats a column the config reads is ``duplicate_column``
(pandas would silently rename the second copy), a header read as one column
is ``wrong_separator`` (with the ``sep`` to set), and a parser error becomes
``malformed_row`` naming data rows (the parser counts the header as line 1).

Raw personal identifiers (``email``, ``phone``, ``handle``) are hashed with the
salt as they are read and the raw column is dropped, so they never reach
``data/interim``. :func:`ingest` writes only when every rule holds (warnings
from ``data.plausibility`` do not count), atomically.
"""

from __future__ import annotations

import dataclasses
import json
import re
import warnings
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
from socialcrm.data.schemas import INT64_MAX, PLATFORMS, TABLES, ColumnSpec, TableSpec
from socialcrm.data.validate import (
    _SURROGATES,
    CONTROL_HINT,
    CONTROL_PROBLEM,
    FILE_RULES,
    MAX_EXAMPLES,
    NON_FINITE_HINT,
    NON_FINITE_PROBLEM,
    DataContractError,
    PlausibleRange,
    ValidationReport,
    Violation,
    column_label,
    file_violation,
    find_control_characters,
    find_invalid_utf8,
    find_non_finite,
    find_out_of_range,
    out_of_range_problem,
    plausibility_from_config,
    plural,
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
#: read_csv options that change how a line splits into fields (used to re-read a header).
_TOKENIZER_OPTIONS = frozenset(
    {"sep", "delimiter", "quotechar", "quoting", "escapechar", "doublequote", "comment",
     "skipinitialspace", "lineterminator", "encoding", "encoding_errors", "compression",
     "skiprows", "engine"}
)  # fmt: skip
#: Separators a header line is checked for when a file was read as one column.
_SEPARATORS = {";": "semicolon", "\t": "tab", "|": "pipe", ",": "comma"}
_MANGLED = re.compile(r"^(.+)\.(\d+)$")
_EXPECTED_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_UNCLOSED_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")
_SKIPPED_LINE = re.compile(r"Skipping line (\d+): .*?saw (\d+)")
#: A time of day followed by a UTC offset (``13:45:00+02:00``, ``13:45Z``): ISO 8601 text
#: with an offset. Date-only values (``2024-05-31``) have no time, so no offset.
_UTC_OFFSET = r"\d:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"


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
        read = dict(node.get("read") or {})
        if read.get("sep") == "\\t":  # '\t' in single quotes or on the command line
            read["sep"] = "\t"
        return cls(
            file=str(node["file"]),
            read=read,
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
    plausibility
        Table -> {numeric column: :class:`PlausibleRange`}: believable values;
        those outside are reported as warnings or errors (``data.plausibility``).
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
    plausibility: Mapping[str, Mapping[str, PlausibleRange]] = field(default_factory=dict)

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
            plausibility=plausibility_from_config(cfg.get("plausibility")),
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


def _read_parquet(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """Read Parquet; string columns holding invalid UTF-8 come back as object
    columns with surrogates instead of failing the whole read.

    Returns the frame (a repeated column name renamed ``name.1`` as pandas does
    for text) and the column names as stored in the file.
    """
    # ParquetFile, not read_table: the dataset reader fails on a repeated column name.
    with pq.ParquetFile(path) as parquet:
        table = parquet.read()
    header = list(table.schema.names)
    table = table.rename_columns(_mangle_duplicates(header))
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
        return table.to_pandas(), header
    frame = table.drop_columns(list(broken)).to_pandas()
    for name, values in broken.items():
        frame[name] = pd.Series(values.to_numpy(), index=frame.index, dtype=object)
    return frame[table.schema.names], header


def _mangle_duplicates(names: list[str]) -> list[str]:
    """``[a, b, a]`` -> ``[a, b, a.1]``: unique names, as pandas renames a repeated header."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        k = seen.get(name, 0)
        seen[name] = k + 1
        out.append(name if k == 0 else f"{name}.{k}")
    return out


def _read_file(path: Path, tf: TableFile) -> tuple[pd.DataFrame, list[str]]:
    """The table as read and its header as written in the file (repeats kept)."""
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return _read_parquet(path)
    frame = _read_text(path, tf.read)
    columns = [str(c) for c in frame.columns]
    if _may_be_mangled(columns):
        return frame, _text_header(path, tf.read) or columns
    return frame, columns


def _may_be_mangled(columns: list[str]) -> bool:
    """Whether pandas may have renamed a repeated header name (``a`` and ``a.1``)."""
    names = set(columns)
    return any(m and m.group(1) in names for m in map(_MANGLED.match, columns))


def _text_header(path: Path, options: Mapping[str, Any]) -> list[str] | None:
    """The header cells of a text file as written, or ``None`` when it has no
    single header row (``header: null``, ``names``, several header rows)."""
    if options.get("names") is not None or options.get("header", "infer") not in ("infer", 0):
        return None
    tokenizer = {k: v for k, v in options.items() if k in _TOKENIZER_OPTIONS}
    first = pd.read_csv(
        path,
        **{"encoding_errors": "surrogateescape", **tokenizer},
        header=None,
        nrows=1,
        dtype=str,
        keep_default_na=False,
    )
    return [str(c) for c in first.iloc[0].tolist()] if len(first) else None


# --------------------------------------------------------------------------------------
# Recognising files that are not what their name says (before reading them)
# --------------------------------------------------------------------------------------

#: (leading bytes, compression as pandas names it, the suffix pandas infers it from)
_COMPRESSION_MAGIC = (
    (b"\x1f\x8b", "gzip", ".gz"),
    (b"PK\x03\x04", "zip", ".zip"),
    (b"\xfd7zXZ\x00", "xz", ".xz"),
    (b"\x28\xb5\x2f\xfd", "zstd", ".zst"),
    *((b"BZh" + str(level).encode(), "bz2", ".bz2") for level in range(1, 10)),
)
_COMPRESSED_SUFFIXES = (".gz", ".bz2", ".zip", ".xz", ".zst", ".tar")
#: Byte-order marks of encodings that are not UTF-8 (UTF-32 before UTF-16: FF FE 00 00).
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_SNIFF_BYTES = 4096


def _sniff(path: Path, tf: TableFile, table: str) -> tuple[str, str] | None:
    """``(rule, problem)`` when ``path`` cannot be the text or Parquet file its name
    says (a directory, compressed, UTF-16, Parquet named .csv), else ``None``."""
    setting = f"data.tables.{table}"
    if path.is_dir():
        hint = (
            " (a folder of Parquet part files, as Spark writes: point file at one part "
            "or merge them)"
            if path.suffix.lower() in PARQUET_SUFFIXES
            else ""
        )
        return "unreadable_file", f"is a directory, not a file: set {setting}.file to a file{hint}"
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return None
    if head.startswith(b"PAR1"):
        return (
            "unreadable_file",
            f"is a Parquet file, not text: give it a .parquet name in {setting}.file",
        )
    compression = tf.read.get("compression", "infer")
    named = any(s.lower() in _COMPRESSED_SUFFIXES for s in path.suffixes)
    if compression in (None, "infer") and not named:
        for magic, kind, suffix in _COMPRESSION_MAGIC:
            if head.startswith(magic):
                xlsx = " (an Excel .xlsx workbook is a zip file too: save it as CSV)"
                return "unreadable_file", (
                    f"the file is {kind}-compressed but its name does not end in {suffix}: "
                    f"rename it to {path.name}{suffix}, or set "
                    f"{setting}.read: {{compression: {kind}}}" + (xlsx if kind == "zip" else "")
                )
    if "encoding" in tf.read or (compression not in (None, "infer") or named):
        return None
    encoding = _wide_encoding(head)
    if encoding:
        return "unreadable_file", (
            f"the file is {encoding.upper()} text, not UTF-8: set "
            f"{setting}.read: {{encoding: {encoding}}} (or re-export it as UTF-8)"
        )
    if _looks_binary(head):
        return "unreadable_file", "is not a text file (binary content): is it the right file?"
    return None


def _looks_binary(head: bytes) -> bool:
    """Whether the first bytes are mostly not text (a stray NUL in a value is text:
    the control_character rule names its row)."""
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    return len(head) >= 16 and controls / len(head) > 0.1


def _wide_encoding(head: bytes) -> str | None:
    """``utf-16``/``utf-32`` (or ``utf-16-le``/``-be`` without a byte-order mark)
    when the first bytes look like it, else ``None``."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    sample = head[: len(head) // 2 * 2]
    if len(sample) < 16:
        return None
    even, odd = sample[0::2], sample[1::2]
    # ASCII text in UTF-16 has a NUL in every other byte; a stray NUL in UTF-8 does not.
    nul_even, nul_odd = even.count(0) / len(even), odd.count(0) / len(odd)
    if nul_odd > 0.3 and nul_even < 0.05:
        return "utf-16-le"
    if nul_even > 0.3 and nul_odd < 0.05:
        return "utf-16-be"
    return None


# --------------------------------------------------------------------------------------
# Problems while reading: parser errors, a wrong separator, a repeated header name
# --------------------------------------------------------------------------------------


def _records_before_data(options: Mapping[str, Any]) -> int | None:
    """Records the parser reads before the first data row (header rows, skipped
    rows), or ``None`` when that depends on the content (skiprows as a list)."""
    header = options.get("header", "infer")
    if header == "infer":
        header = None if options.get("names") is not None else 0
    if header is None:
        n = 0
    elif isinstance(header, int):
        n = header + 1
    elif isinstance(header, list | tuple) and header:
        n = max(header) + 1
    else:
        return None
    skip = options.get("skiprows")
    if skip is None:
        return n
    return n + skip if isinstance(skip, int) else None


def _bad_records(path: Path, options: Mapping[str, Any]) -> list[tuple[int, int]]:
    """``(record, fields)`` of every record with more fields than the header, as the
    parser counts records (1-based, the header included)."""
    kwargs = {**_DEFAULT_CSV_OPTIONS, **options, "dtype": str, "on_bad_lines": "warn"}
    kwargs.setdefault("encoding_errors", "surrogateescape")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        try:
            pd.read_csv(path, **kwargs)
        except Exception:  # the first error is already known
            return []
    found = []
    for w in caught:
        for m in _SKIPPED_LINE.finditer(str(w.message)):
            found.append((int(m.group(1)), int(m.group(2))))
    return sorted(set(found))


def _parser_violation(err: Exception, path: Path, tf: TableFile, table: str) -> Violation | None:
    """A parser error as a violation naming data rows, or ``None`` if it is not one
    the parser locates (the caller reports it as it is)."""
    text = str(err)
    offset = _records_before_data(tf.read)
    fields = _EXPECTED_FIELDS.search(text)
    if fields:
        expected = int(fields.group(1))
        if expected == 1:
            wrong_sep = _separator_violation(path, tf, table)
            if wrong_sep:
                return wrong_sep
        bad = _bad_records(path, tf.read) or [(int(fields.group(2)), int(fields.group(3)))]
        if offset is None:
            return None
        rows = np.array([record - offset - 1 for record, _ in bad], dtype=np.int64)
        sep = tf.read.get("sep", tf.read.get("delimiter", ","))
        return Violation(
            table,
            tf.file,
            None,
            "malformed_row",
            f"{tf.file}: {plural(len(bad))} with more fields than the header ({expected}); "
            f"a value holding the separator {sep!r} must be quoted (or set "
            f"data.tables.{table}.read: sep, decimal, quotechar)",
            len(bad),
            [
                (int(r) + 1, f"{n} fields")
                for r, (_, n) in zip(rows[:MAX_EXAMPLES], bad, strict=False)
            ],
            rows,
        )
    quote = _UNCLOSED_QUOTE.search(text)
    if quote and offset is not None:
        row = int(quote.group(1)) - offset + 1
        return Violation(
            table,
            tf.file,
            None,
            "malformed_row",
            f"{tf.file}: a quoted value starting in row {row} is never closed, so the rest "
            "of the file would be one value; fix the quoting (or set "
            f"data.tables.{table}.read: {{quoting: 3}} if quotes are plain characters)",
            1,
            [(row, "unclosed quote")],
            np.array([row - 1]),
        )
    return None


def _separator_violation(path: Path, tf: TableFile, table: str) -> Violation | None:
    """``wrong_separator`` when the header line splits on another separator than the
    configured one (a ``;``-separated file read with ``,``), else ``None``."""
    if tf.read.get("names") is not None or tf.read.get("header", "infer") is None:
        return None  # no header to look at, and the first row is data
    line = _first_line(path, tf.read)
    if not line:
        return None
    sep = tf.read.get("sep", tf.read.get("delimiter", ","))
    counts = {c: line.count(c) for c in _SEPARATORS if c != sep}
    best = max(counts, key=lambda c: counts[c])
    if counts[best] == 0:
        return None
    shown = line if len(line) <= 60 else line[:59] + "…"
    written = '"\\t"' if best == "\t" else f'"{best}"'
    return file_violation(
        table=table,
        file=tf.file,
        rule="wrong_separator",
        message=f"{tf.file}: the header was read as one column ({shown!r}) with separator "
        f"{sep!r}, but it is {_SEPARATORS[best]}-separated: set "
        f"data.tables.{table}.read: {{sep: {written}}}",
    )


def _first_line(path: Path, options: Mapping[str, Any]) -> str | None:
    """The first line of a plain (uncompressed) text file, without its line break."""
    if options.get("compression") not in (None, "infer") or any(
        s.lower() in _COMPRESSED_SUFFIXES for s in path.suffixes
    ):
        return None
    encoding = options.get("encoding") or "utf-8-sig"
    with path.open(encoding=encoding, errors="replace", newline="") as fh:
        return fh.readline().rstrip("\r\n")


def _duplicate_columns(header: list[str], spec: TableSpec, tf: TableFile) -> list[Violation]:
    """A name the config reads that the header repeats (pandas would use the first
    copy and silently rename the others ``name.1``)."""
    used = set(tf.columns) | set(spec.column_names) | set(spec.identifiers)
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(header, start=1):
        positions.setdefault(name, []).append(i)
    out = []
    for name, where in positions.items():
        if len(where) < 2 or name not in used:
            continue
        canonical = tf.columns.get(name, name)
        canonical = spec.identifiers.get(canonical, canonical)
        at = ", ".join(map(str, where[:-1])) + f" and {where[-1]}"
        message = (
            f"{tf.file}: {column_label(canonical, name)}the header repeats {name!r} at "
            f"columns {at} (counted from 1); which one holds the data is ambiguous: rename "
            "or drop the extra copies"
        )
        examples: list[tuple[int | None, str]] = [(None, f"columns {at}")]
        out.append(
            Violation(spec.name, tf.file, canonical, "duplicate_column", message, 0, examples)
        )
    return out


def _read_table(
    path: Path, tf: TableFile, table: str
) -> tuple[pd.DataFrame | None, list[Violation]]:
    """Read one table's file; ``None`` (and why) when it cannot be used at all."""
    kind = "Parquet" if path.suffix.lower() in PARQUET_SUFFIXES else "text"

    def unusable(rule: str, problem: str) -> tuple[None, list[Violation]]:
        message = f"{tf.file}: {problem}"
        return None, [file_violation(table=table, file=tf.file, rule=rule, message=message)]

    sniffed = _sniff(path, tf, table)
    if sniffed:
        return unusable(*sniffed)
    if path.stat().st_size == 0:
        return unusable("empty_table", "the file is empty (no header, no rows)")
    try:
        raw, header = _read_file(path, tf)
    except pd.errors.EmptyDataError:
        return unusable("empty_table", "the file is empty (no header, no rows)")
    except pd.errors.ParserError as err:
        v = _parser_violation(err, path, tf, table)
        return (
            (None, [v])
            if v
            else unusable("unreadable_file", f"cannot be read as {kind}: {_first_error_line(err)}")
        )
    except Exception as err:  # any reader failure is reported, never half-read
        return unusable("unreadable_file", f"cannot be read as {kind}: {_first_error_line(err)}")
    spec = TABLES[table]
    if kind == "text" and raw.shape[1] == 1 and not _has_required_columns(raw, spec, tf):
        v = _separator_violation(path, tf, table)
        if v:
            return None, [v]
    return raw, _duplicate_columns(header, spec, tf)


def _has_required_columns(raw: pd.DataFrame, spec: TableSpec, tf: TableFile) -> bool:
    names = {tf.columns.get(str(c), str(c)) for c in raw.columns}
    generated = {spec.primary_key[0]} if tf.generate_id else set()
    return all(c.name in names | generated for c in spec.columns if c.required)


def _first_error_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


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
    found = [where.violation(bad, "wrong_type", problem, values, hint)]
    if fmt in (None, "ISO8601", "mixed"):
        found.append(_mixed_timezones(text, parsed.notna().to_numpy(), where, values))
    return parsed, [v for v in found if v]


def _mixed_timezones(
    text: pd.Series, parsed: np.ndarray, where: _Where, shown: pd.Series
) -> Violation | None:
    """Values with a UTC offset next to values without: the naive ones would be taken
    as UTC, which is hours off if they are local times. The rarer kind is flagged."""
    offset = text.str.contains(_UTC_OFFSET, regex=True, na=False).to_numpy(dtype=bool) & parsed
    naive = parsed & ~offset
    n_offset, n_naive = int(offset.sum()), int(naive.sum())
    if not (n_offset and n_naive):
        return None
    if n_offset <= n_naive:
        flagged, kind, others = offset, "with a UTC offset", f"{n_naive:,} without one"
    else:
        flagged, kind, others = naive, "without a UTC offset", f"{n_offset:,} with one"
    problem = (
        f"mixed time zones: timestamp {kind} among {others} (a value without an offset "
        "would be taken as UTC)"
    )
    hint = "write every value with its offset, or every value in UTC without one"
    return where.violation(flagged, "mixed_timezones", problem, shown, hint)


def _to_number(
    values: pd.Series,
    where: _Where,
    decimal: str = ".",
    thousands: str | None = None,
    limit: tuple[float, str] | None = None,
) -> tuple[pd.Series, list[Violation]]:
    """Float64 values; text that is not a number, a number that is not finite or one
    at or beyond ``limit`` (magnitude, why) is a violation and becomes null."""
    if pd.api.types.is_bool_dtype(values.dtype) or not (
        _is_text(values) or pd.api.types.is_numeric_dtype(values.dtype)
    ):
        text = values.astype("str")
        bad = values.notna().to_numpy()
        problem = f"value that is not a number (type {values.dtype})"
        v = where.violation(bad, "wrong_type", problem, text)
        return pd.Series(np.nan, index=values.index, dtype="float64"), [v] if v else []
    if pd.api.types.is_numeric_dtype(values.dtype):
        number = pd.Series(values.to_numpy(dtype="float64", na_value=np.nan), index=values.index)
        return _usable_numbers(number, where, values, limit)
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
    number, found = _usable_numbers(number, where, values, limit)
    return number, ([v] if v else []) + found


def _usable_numbers(
    number: pd.Series, where: _Where, shown: pd.Series, limit: tuple[float, str] | None
) -> tuple[pd.Series, list[Violation]]:
    """``number`` with non-finite values and values at or beyond ``limit`` reported
    (showing the value as written) and nulled, so no later rule trips on them."""
    infinite = find_non_finite(number)
    big = (
        np.zeros(len(number), dtype=bool) if limit is None else find_out_of_range(number, limit[0])
    )
    found = [where.violation(infinite, "non_finite", NON_FINITE_PROBLEM, shown, NON_FINITE_HINT)]
    if limit is not None:
        found.append(where.violation(big, "out_of_range", out_of_range_problem(*limit), shown))
    return number.mask(infinite | big), [v for v in found if v]


def _to_integer(
    values: pd.Series, col: ColumnSpec, where: _Where, decimal: str, thousands: str | None
) -> tuple[pd.Series, list[Violation]]:
    found: list[Violation] = []
    if pd.api.types.is_integer_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        big = find_out_of_range(values, INT64_MAX)  # only unsigned 64-bit values can be
        v = where.violation(big, "out_of_range", out_of_range_problem(*col.limit), values)
        found = [v] if v else []
        out = values.astype("UInt64" if big.any() else "Int64").mask(big).astype("Int64")
    else:
        number, found = _to_number(values, where, decimal, thousands, col.limit)
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
        out, more = _to_number(values, where, decimal, thousands, col.limit)
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
        controls = find_control_characters(values)
        v = where.violation(controls, "control_character", CONTROL_PROBLEM, values, CONTROL_HINT)
        if v:
            found.append(v)
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
        if not path.exists():
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
        raw, problems = _read_table(path, tf, name)
        report.violations.extend(problems)
        if raw is None:
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
    unreadable = {v.table for v in report.violations if v.rule in FILE_RULES}
    checked = validate_tables(
        tables,
        files,
        as_of,
        source.platforms,
        mapped,
        plausibility=source.plausibility,
        unreadable=unreadable,
    )
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


def ingest(source: DataSource, console: Any = None) -> dict[str, int]:
    """Validate a source and, only if every rule holds, write its canonical tables.

    Writes ``<interim_dir>/<table>.parquet`` for every present table and
    ``_manifest.json`` (data set name, source, as_of, row counts), atomically:
    the folder appears complete or not at all. Warnings (plausibility bounds
    configured as warnings) do not stop it: they are shown on ``console``.

    Parameters
    ----------
    source
        Where and how to read.
    console
        A rich Console to show warnings on (default: standard error).

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
    if report.warnings:
        _show_warnings(report, console)
    return rows


def _show_warnings(report: ValidationReport, console: Any) -> None:
    if console is None:
        from rich.console import Console

        console = Console(stderr=True)
    report.render(console)


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

"""A ready customer-level table with a target column, mapped into the task pipeline.

Some data sets arrive as one table with one row per customer, feature columns
and the outcome (IBM Telco churn, bank churn, ...), not as event tables to build
point-in-time features from. ``data.source: customer_table`` (see
``conf/data/telco.yaml``) maps such a table onto what the tasks read: a frame
with a ``customer_id`` key, the feature columns and the label (``label_churn``,
0/1), and a feature manifest (name, group, description, dtype, role). There is
no ``split`` column: tasks evaluate these tables by stratified K-fold CV
(``task.evaluation: cv``).

File reading is at the edge (:func:`read_raw`, :func:`load_customer_table`);
everything else is a pure function of the text table and the spec
(:func:`check_customer_table`, :func:`build_customer_table`). Every field is
read as text and parsed here, so that nothing becomes a silent null: a value in
a numeric column that does not parse is an error unless it is declared missing
(``missing.all`` for every column, ``missing.columns.<col>`` per column).

Problems with the data are reported in the same dialect as the event tables'
contracts (:class:`~socialcrm.data.validate.ValidationReport`: file, column,
rule, count, example rows, 1 = the first row after the header; identifiers are
never shown) and raised as :class:`CustomerTableError`, a
:class:`~socialcrm.data.validate.DataContractError`. Problems with the config
raise :class:`~socialcrm.errors.ConfigError`.

Rule ids
--------
``missing_file``, ``unreadable_file``, ``malformed_row``, ``empty_table``, ``duplicate_column``,
``missing_column``, ``undeclared_column``, ``invalid_utf8``, ``missing_value``,
``duplicate_key``, ``invalid_value``, ``single_class``, ``wrong_type``,
``non_finite``.

Derived features (``derived:``) are pure row-wise functions of the columns,
computed before any split; fitted transforms (imputation, scaling, encoding)
belong to the model pipeline (``socialcrm.models.preprocess``) so they stay
inside each CV fold.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from socialcrm.data.privacy import hash_identifiers, resolve_salt
from socialcrm.data.validate import (
    DataContractError,
    ValidationReport,
    Violation,
    file_violation,
    find_invalid_utf8,
    row_violation,
)
from socialcrm.errors import ConfigError

KEY = "customer_id"
#: The table name in reports.
TABLE = "customer_table"
#: Leading bytes of files that are not UTF-8 delimited text, and what to do about them.
_NOT_TEXT: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "is gzip-compressed: name it *.gz (read directly) or set data.read.compression"),
    (b"PK\x03\x04", "is a ZIP archive (an Excel workbook?): export the sheet as CSV"),
    (b"PAR1", "is a Parquet file: export it as CSV"),
    (b"\xff\xfe\x00\x00", "is UTF-32 text: re-export it as UTF-8 or set data.read.encoding"),
    (b"\xff\xfe", "is UTF-16 text: re-export it as UTF-8 or set data.read.encoding: utf-16"),
    (b"\xfe\xff", "is UTF-16 text: re-export it as UTF-8 or set data.read.encoding: utf-16"),
)


class CustomerTableError(DataContractError):
    """The customer table breaks its contract; ``.report`` holds every violation."""

    @property
    def problems(self) -> list[str]:
        """One message per violation."""
        return [v.message for v in self.report.violations]


def _fail(violations: Sequence[Violation], rows: int | None = None) -> CustomerTableError:
    tables = {} if rows is None else {TABLE: rows}
    return CustomerTableError(ValidationReport(list(violations), tables))


@dataclass(frozen=True)
class CustomerTableSpec:
    """How to read one customer table (the ``data`` config node of ``source: customer_table``).

    Attributes
    ----------
    path
        The table (delimited text; every field is read as text).
    id_column
        Column with the customer id; becomes ``customer_id``.
    target_column
        Column with the outcome; becomes ``label``.
    positive, negative
        Target values meaning 1 and 0; any other value is an error.
    label
        Name of the label column in the frame (``label_churn``).
    missing_all, missing_columns
        Text values read as missing in every column / in one column.
    numeric, categorical
        Feature columns by type (file names).
    infer_types
        Infer the type of columns listed in neither (numeric when every
        non-missing value parses); False: such columns are an error.
    drop
        File columns to leave out.
    rename
        ``{file column: feature name}``.
    group
        Feature group of the table's own columns.
    descriptions
        ``{feature name: description}`` for the manifest.
    derived
        ``{feature name: {op: ..., ...}}`` (see :data:`DERIVATIONS`), in order.
    hash_ids, salt
        Replace ids by salted hashes (for personal identifiers).
    read
        Extra ``pandas.read_csv`` options.
    """

    path: Path
    id_column: str
    target_column: str
    positive: tuple[str, ...]
    negative: tuple[str, ...]
    label: str = "label_churn"
    missing_all: tuple[str, ...] = ("",)
    missing_columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    infer_types: bool = False
    drop: tuple[str, ...] = ()
    rename: Mapping[str, str] = field(default_factory=dict)
    group: str = "crm"
    descriptions: Mapping[str, str] = field(default_factory=dict)
    derived: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    hash_ids: bool = False
    salt: str | None = None
    read: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> CustomerTableSpec:
        """Build the spec from the ``data`` config node (a DictConfig or a plain mapping).

        Raises
        ------
        ConfigError
            Listing every missing or contradictory key.
        """
        try:
            from omegaconf import DictConfig, OmegaConf

            if isinstance(cfg, DictConfig):
                cfg = OmegaConf.to_container(cfg, resolve=True)
        except ImportError:  # pragma: no cover - omegaconf ships with hydra
            pass
        name = cfg.get("name", "customer_table")
        problems = config_problems(cfg)
        if problems:
            lines = "\n".join(f"  - {p}" for p in problems)
            raise ConfigError(f"data config {name!r}: {len(problems)} problem(s)\n{lines}")
        target, ident = cfg["target"], cfg["id"]
        missing = cfg.get("missing") or {}
        return cls(
            path=Path(cfg["path"]),
            id_column=str(ident["column"]),
            target_column=str(target["column"]),
            positive=_texts(target["positive"]),
            negative=_texts(target["negative"]),
            label=str(target.get("label") or "label_churn"),
            missing_all=_texts(missing.get("all", [""])),
            missing_columns={k: _texts(v) for k, v in (missing.get("columns") or {}).items()},
            numeric=tuple(cfg.get("numeric") or ()),
            categorical=tuple(cfg.get("categorical") or ()),
            infer_types=bool(cfg.get("infer_types", False)),
            drop=tuple(cfg.get("drop") or ()),
            rename=dict(cfg.get("rename") or {}),
            group=str(cfg.get("group") or "crm"),
            descriptions=dict(cfg.get("descriptions") or {}),
            derived=dict(cfg.get("derived") or {}),
            hash_ids=bool(ident.get("hash", False)),
            salt=cfg.get("salt"),
            read=dict(cfg.get("read") or {}),
        )


def config_problems(cfg: Mapping[str, Any]) -> list[str]:
    """Every missing or contradictory key of a ``source: customer_table`` data config."""
    problems = [f"data.{key} is required" for key in ("path", "id", "target") if not cfg.get(key)]
    ident, target = cfg.get("id"), cfg.get("target")
    for key, node, required in (
        ("id", ident, ("column",)),
        ("target", target, ("column", "positive", "negative")),
    ):
        if not node:
            continue
        if not isinstance(node, Mapping):
            problems.append(f"data.{key} must be a mapping with {', '.join(required)}")
            continue
        problems += [f"data.{key}.{k} is required" for k in required if not node.get(k)]
    if isinstance(target, Mapping) and target.get("positive") and target.get("negative"):
        both = sorted(set(_texts(target["positive"])) & set(_texts(target["negative"])))
        if both:
            problems.append(f"data.target: values {both} are both positive and negative")
    both = sorted(set(cfg.get("numeric") or ()) & set(cfg.get("categorical") or ()))
    if both:
        problems.append(f"columns {both} are listed as both data.numeric and data.categorical")
    return problems


def _texts(values: Any) -> tuple[str, ...]:
    if isinstance(values, str | int | float | bool):
        values = [values]
    return tuple(str(v) for v in values)


# -- the edge: reading --------------------------------------------------------------
def read_raw(spec: CustomerTableSpec) -> pd.DataFrame:
    """Read the file with every field as text (no value is turned into a null here).

    Text that is not valid UTF-8 survives as lone surrogates, so that
    :func:`check_customer_table` can name its rows.

    Raises
    ------
    CustomerTableError
        If the file is missing, a folder, empty, not delimited UTF-8 text, or
        names a column twice in its header.
    ConfigError
        If ``data.read`` holds an option ``pandas.read_csv`` does not take.
    """
    path = Path(spec.path)
    file = str(path)
    if not path.exists():
        raise _file_error(
            file,
            "missing_file",
            "customer table not found (data.path; shared data sets live under "
            "paths.shared_data_dir: set $SOCIALCRM_SHARED_DATA or paths.shared_data_dir=...)",
        )
    if not path.is_file():
        raise _file_error(
            file, "unreadable_file", "is a folder, not a file: data.path must name the table"
        )
    options = {**spec.read, "dtype": str, "keep_default_na": False, "na_filter": False}
    try:
        raw = _read_text(path, options)
        header = _header(path, options)
    except CustomerTableError:
        raise
    except TypeError as e:  # an option read_csv does not take
        raise ConfigError(f"data.read {dict(spec.read)}: {e}") from e
    except pd.errors.EmptyDataError as e:
        raise _file_error(file, "empty_table", "the file is empty (no header, no rows)") from e
    except pd.errors.ParserError as e:
        raise _parser_error(file, e, spec.read) from e
    except (OSError, EOFError, ValueError) as e:  # bad compression, unknown encoding, ...
        raise _file_error(file, "unreadable_file", f"cannot be read ({_first_line(e)})") from e
    duplicates = duplicate_columns(header, file)
    if duplicates:
        raise _fail(duplicates)
    return raw


def _read_text(path: Path, options: Mapping[str, Any]) -> pd.DataFrame:
    try:
        return pd.read_csv(path, **options)
    except UnicodeDecodeError:
        if "encoding" not in options:
            problem = _not_text(path)
            if problem:
                raise _file_error(str(path), "unreadable_file", problem) from None
        # mostly UTF-8 with some bad bytes: keep each as a lone surrogate to name the rows
        # (dtype object: pandas' str conversion would encode the surrogates and fail)
        lenient = {**options, "encoding_errors": "surrogateescape", "dtype": object}
        return pd.read_csv(path, **lenient)


def _header(path: Path, options: Mapping[str, Any]) -> list[str] | None:
    """The header row as written (pandas renames a repeated name ``x`` to ``x.1``)."""
    if "names" in options or "header" in options:
        return None
    lenient = {"encoding_errors": "surrogateescape", "dtype": object}
    first = pd.read_csv(path, **{**options, "header": None, "nrows": 1, **lenient})
    return [str(v) for v in first.iloc[0]] if len(first) else None


def _not_text(path: Path) -> str | None:
    """Why the file is not UTF-8 delimited text, from its first bytes (``None``: it may be)."""
    with path.open("rb") as f:
        head = f.read(8)
    return next((why for magic, why in _NOT_TEXT if head.startswith(magic)), None)


def _parser_error(file: str, err: Exception, read: Mapping[str, Any]) -> CustomerTableError:
    """The tokenizer's complaint as a violation naming the data row (pandas counts the
    header as line 1; with options that skip lines the row is unknown)."""
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(err))
    if found is None or {"skiprows", "header", "comment", "skipfooter"} & set(read):
        return _file_error(
            file,
            "unreadable_file",
            f"cannot be read as a delimited table ({_first_line(err)}); "
            "check the file or data.read (sep, quotechar, ...)",
        )
    expected, line, saw = (int(g) for g in found.groups())
    return _file_error(
        file,
        "malformed_row",
        f"row {line - 1} has {saw} fields where the header has {expected} (the first such row; "
        "an unquoted separator in a value?): fix the file or data.read (sep, quotechar)",
    )


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _file_error(file: str, rule: str, problem: str) -> CustomerTableError:
    return _fail([file_violation(table=TABLE, file=file, rule=rule, message=f"{file}: {problem}")])


def load_customer_table(data_cfg: Mapping[str, Any]) -> tuple[pd.DataFrame, list[dict], Path]:
    """Read and map the customer table of ``data_cfg``: ``(frame, manifest, path)``.

    Raises
    ------
    CustomerTableError
        With the report of every broken rule (nothing is half-loaded).
    ConfigError
        If the config itself is wrong.
    """
    spec = CustomerTableSpec.from_config(data_cfg)
    raw = read_raw(spec)
    frame, manifest = build_customer_table(raw, spec, source=str(spec.path))
    return frame, manifest, Path(spec.path)


def validate_customer_table(data_cfg: Mapping[str, Any]) -> ValidationReport:
    """Check the customer table of ``data_cfg`` exactly as training loads it; writes nothing.

    Returns
    -------
    ValidationReport
        Every violation, or none and the row count.

    Raises
    ------
    ConfigError
        If the config itself is wrong.
    """
    try:
        frame, _, _ = load_customer_table(data_cfg)
    except CustomerTableError as err:
        return err.report
    return ValidationReport(tables={TABLE: len(frame)})


def check_task(cfg: Mapping[str, Any]) -> None:
    """A customer table has no time and no split: only a task evaluated by CV can train on it.

    Parameters
    ----------
    cfg
        The composed root config.

    Raises
    ------
    ConfigError
        For ``data.source: customer_table`` with a task that is not ``evaluation: cv``.
    """
    data, task = cfg["data"], cfg["task"]
    if data.get("source") != "customer_table" or task.get("evaluation") == "cv":
        return
    raise ConfigError(
        f"data={data.get('name')} is one customer table without time, so there are no "
        "cutoffs to split by: train it with a task evaluated by cross-validation "
        "(task=churn task.evaluation=cv; experiment=telco sets it with its feature groups)"
    )


# -- pure checks ----------------------------------------------------------------------
def duplicate_columns(header: Sequence[str] | None, file: str) -> list[Violation]:
    """A column name written more than once in the header (pandas would rename the copies)."""
    if not header:
        return []
    out = []
    for name, n in Counter(header).items():
        if n > 1:
            where = ", ".join(str(i + 1) for i, h in enumerate(header) if h == name)
            message = (
                f"{file}: column {name!r} appears {n} times in the header (positions {where}); "
                "every column needs its own name"
            )
            out.append(
                file_violation(
                    table=TABLE, file=file, rule="duplicate_column", message=message, column=name
                )
            )
    return out


def _configured_columns(spec: CustomerTableSpec) -> dict[str, str]:
    """File column -> the config key that names it (first key wins)."""
    keys: dict[str, str] = {}
    for key, cols in (
        ("data.numeric", spec.numeric),
        ("data.categorical", spec.categorical),
        ("data.drop", spec.drop),
        ("data.rename", spec.rename),
        ("data.missing.columns", spec.missing_columns),
    ):
        for c in cols:
            keys.setdefault(str(c), key)
    return keys


def check_columns(raw: pd.DataFrame, spec: CustomerTableSpec, file: str) -> list[Violation]:
    """The id, the target and every configured column are in the file; none is undeclared."""
    cols = [str(c) for c in raw.columns]
    out = []
    for col, what in (
        (spec.id_column, "the id column, data.id.column"),
        (spec.target_column, "the target column, data.target.column"),
        *((c, f"configured in {key}") for c, key in _configured_columns(spec).items()),
    ):
        if col not in raw.columns:
            close = difflib.get_close_matches(col, cols, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"the file has {cols}"
            message = f"{file}: column {col!r} ({what}) is not in the file; {hint}"
            out.append(
                file_violation(
                    table=TABLE, file=file, rule="missing_column", message=message, column=col
                )
            )
    if not spec.infer_types:
        for col in feature_columns(raw, spec):
            if col not in spec.numeric and col not in spec.categorical:
                message = (
                    f"{file}: column {col!r} is neither numeric nor categorical: list it under "
                    "data.numeric or data.categorical, drop it (data.drop), "
                    "or set data.infer_types: true"
                )
                out.append(
                    file_violation(
                        table=TABLE,
                        file=file,
                        rule="undeclared_column",
                        message=message,
                        column=col,
                    )
                )
    return out


def feature_columns(raw: pd.DataFrame, spec: CustomerTableSpec) -> list[str]:
    """File columns that become features (all but the id, the target and dropped ones)."""
    return [c for c in raw.columns if c not in (spec.id_column, spec.target_column, *spec.drop)]


def check_ids(
    ids: pd.Series, missing: np.ndarray, spec: CustomerTableSpec, file: str
) -> list[Violation]:
    """Every row has an id and no id repeats; ids are never shown."""
    col = spec.id_column
    dup = ids.duplicated(keep=False).to_numpy() & ~missing
    n_ids = ids[dup].nunique()
    found = [
        row_violation(
            missing, table=TABLE, file=file, column=col, rule="missing_value",
            problem="missing id", redact=True,
        ),
        row_violation(
            dup, table=TABLE, file=file, column=col, rule="duplicate_key",
            problem="duplicate id (one row per customer expected)",
            hint=f"{n_ids} id{'s appear' if n_ids != 1 else ' appears'} more than once",
            redact=True,
        ),
    ]  # fmt: skip
    return [v for v in found if v]


def check_target(
    values: pd.Series,
    missing: np.ndarray,
    spec: CustomerTableSpec,
    file: str,
    skip: np.ndarray | None = None,
) -> list[Violation]:
    """Every row has a target value that is one of ``positive`` or ``negative``; both occur.

    Rows in ``skip`` (already reported, e.g. undecodable text) are not checked.
    """
    col = spec.target_column
    pos, neg = set(spec.positive), set(spec.negative)
    skip = np.zeros(len(values), dtype=bool) if skip is None else skip
    missing = missing & ~skip
    unknown = ~values.isin(pos | neg).to_numpy() & ~missing & ~skip
    expected = f"expected positive {sorted(pos)} or negative {sorted(neg)} (data.target)"
    found = [
        row_violation(
            missing, table=TABLE, file=file, column=col, rule="missing_value",
            problem="missing target", hint=expected, values=values,
        ),
        row_violation(
            unknown, table=TABLE, file=file, column=col, rule="invalid_value",
            problem="unknown target value", hint=expected, values=values,
        ),
    ]  # fmt: skip
    out = [v for v in found if v]
    is_pos = values.isin(pos).to_numpy()
    if not out and not skip.any() and len(values) and (is_pos.all() or not is_pos.any()):
        which, seen = ("positive", pos) if is_pos.all() else ("negative", neg)
        message = (
            f"{file}: column {col!r}: every row is {which} ({sorted(seen)}); "
            "a model needs both outcomes to learn from"
        )
        out.append(
            file_violation(table=TABLE, file=file, rule="single_class", message=message, column=col)
        )
    return out


def _to_numbers(values: pd.Series, missing: np.ndarray) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Parsed numbers (NaN where missing or bad), values that are not numbers, non-finite ones."""
    parsed = pd.to_numeric(values.mask(missing), errors="coerce").astype("float64")
    nan_text = values.str.strip().str.lower().str.lstrip("+-").eq("nan").to_numpy()
    number = parsed.to_numpy()
    not_number = ~missing & np.isnan(number) & ~nan_text
    non_finite = ~missing & ~np.isfinite(number) & ~not_number
    return parsed.mask(not_number | non_finite), not_number, non_finite


def _parses_as_numbers(values: pd.Series, missing: np.ndarray) -> bool:
    _, not_number, non_finite = _to_numbers(values, missing)
    return not (not_number | non_finite).any() and not missing.all()


def check_numeric(
    values: pd.Series, missing: np.ndarray, col: str, spec: CustomerTableSpec, file: str
) -> tuple[pd.Series, list[Violation]]:
    """The column parsed as float, and its values that are not finite numbers."""
    parsed, not_number, non_finite = _to_numbers(values, missing)
    declare = (
        f"declare such values missing (data.missing.columns.{col}); "
        f"missing now: {list(_missing_tokens(spec, col))}"
    )
    found = [
        row_violation(
            not_number, table=TABLE, file=file, column=col, rule="wrong_type",
            problem="value that is not a number", hint=f"fix the file or {declare}",
            values=values,
        ),
        row_violation(
            non_finite, table=TABLE, file=file, column=col, rule="non_finite",
            problem="number that is not finite (inf or NaN)",
            hint=f"write an empty field for a missing value or {declare}", values=values,
        ),
    ]  # fmt: skip
    return parsed, [v for v in found if v]


def check_utf8(texts: Mapping[str, pd.Series]) -> dict[str, np.ndarray]:
    """Rows per column holding bytes that were not valid UTF-8 (values are never shown)."""
    return {c: find_invalid_utf8(v) for c, v in texts.items()}


def _utf8_violations(bad: Mapping[str, np.ndarray], file: str) -> list[Violation]:
    found = [
        row_violation(
            mask, table=TABLE, file=file, column=c, rule="invalid_utf8",
            problem="text that is not valid UTF-8",
            hint="re-export the file as UTF-8 or set data.read.encoding", redact=True,
        )
        for c, mask in bad.items()
    ]  # fmt: skip
    return [v for v in found if v]


def check_customer_table(
    raw: pd.DataFrame, spec: CustomerTableSpec, file: str = "customer table"
) -> ValidationReport:
    """Every rule of the customer table on the text table as read (pure).

    Parameters
    ----------
    raw
        The file as read: every field text, nothing converted to null.
    spec
        What the columns are.
    file
        Names the file in messages.

    Returns
    -------
    ValidationReport
        Every violation (``.ok`` if none) and the row count.
    """
    return ValidationReport(_check(raw.reset_index(drop=True), spec, file)[1], {TABLE: len(raw)})


def _check(
    raw: pd.DataFrame, spec: CustomerTableSpec, file: str
) -> tuple[dict[str, Any], list[Violation]]:
    """The parsed pieces (ids, label, numeric and categorical features) and every violation."""
    violations: list[Violation] = []
    if raw.empty:
        message = f"{file}: the table has a header but no rows"
        violations.append(
            file_violation(table=TABLE, file=file, rule="empty_table", message=message)
        )
    violations += check_columns(raw, spec, file)
    # object, not pandas' string dtype: it cannot hold the surrogates of undecodable bytes
    texts = {c: raw[c].astype(object) for c in raw.columns}
    bad_utf8 = check_utf8(texts)
    violations += _utf8_violations(bad_utf8, file)
    # rows with undecodable bytes are reported once, as invalid_utf8
    declared = {c: texts[c].isin(_missing_tokens(spec, c)).to_numpy() for c in texts}
    missing = {c: declared[c] | bad_utf8[c] for c in texts}
    parts: dict[str, Any] = {"texts": texts, "missing": missing, "numeric": {}, "categorical": {}}
    if spec.id_column in texts:
        violations += check_ids(texts[spec.id_column], missing[spec.id_column], spec, file)
    if spec.target_column in texts:
        col = spec.target_column
        violations += check_target(texts[col], declared[col], spec, file, skip=bad_utf8[col])
        parts["label"] = texts[col].isin(spec.positive).to_numpy().astype("int64")
    for c in feature_columns(raw, spec):
        if c in spec.numeric or (
            c not in spec.categorical
            and spec.infer_types
            and _parses_as_numbers(texts[c], missing[c])
        ):
            parts["numeric"][c], found = check_numeric(texts[c], missing[c], c, spec, file)
            violations += found
        elif c in spec.categorical or spec.infer_types:
            parts["categorical"][c] = texts[c].mask(missing[c]).astype(object)
    return parts, violations


# -- pure transformation ------------------------------------------------------------
def build_customer_table(
    raw: pd.DataFrame, spec: CustomerTableSpec, source: str = "customer table"
) -> tuple[pd.DataFrame, list[dict]]:
    """The task frame (``customer_id``, features, label) and its manifest from a text table.

    Parameters
    ----------
    raw
        The file as read: every field text, nothing converted to null.
    spec
        What the columns are.
    source
        Names the file in error messages.

    Raises
    ------
    CustomerTableError
        With every broken rule of :func:`check_customer_table` (and ids that
        hashing would merge).
    ConfigError
        If renamed or derived feature names collide, or a derived feature is
        misconfigured.
    """
    raw = raw.reset_index(drop=True)
    parts, violations = _check(raw, spec, source)
    if violations:
        raise _fail(violations, len(raw))
    numeric, categorical = parts["numeric"], parts["categorical"]
    names = {c: str(spec.rename.get(c, c)) for c in [*numeric, *categorical]}
    clash = sorted(
        {n for n in names.values() if list(names.values()).count(n) > 1}
        | {n for n in names.values() if n in (KEY, spec.label)}
    )
    if clash:
        raise ConfigError(f"data.rename: feature names {clash} collide (or are reserved)")
    table = pd.DataFrame({names[c]: v for c, v in {**numeric, **categorical}.items()})
    manifest = [
        _spec(names[c], spec.group, spec.descriptions.get(names[c], c), "float") for c in numeric
    ] + [
        _spec(names[c], spec.group, spec.descriptions.get(names[c], c), "category")
        for c in categorical
    ]

    derived, derived_manifest = derive_features(table, spec.derived, source)
    reserved = sorted(set(derived.columns) & {KEY, spec.label})
    if reserved:
        raise ConfigError(f"data.derived: features {reserved} use a reserved name")
    ids = parts["texts"][spec.id_column]
    key = _keys(ids, spec, source)
    frame = pd.concat(
        [
            pd.DataFrame({KEY: key}),
            table,
            derived,
            pd.DataFrame({spec.label: parts["label"]}),
        ],
        axis=1,
    )
    manifest += derived_manifest
    manifest.append(
        _spec(
            spec.label,
            "label",
            f"{spec.target_column} in {list(spec.positive)} (1) or {list(spec.negative)} (0)",
            "bool",
            role="label",
        )
    )
    return frame, manifest


def _keys(ids: pd.Series, spec: CustomerTableSpec, file: str) -> np.ndarray:
    """The ``customer_id`` values: the ids, or their salted hashes (which must stay unique)."""
    if not spec.hash_ids:
        return ids.to_numpy(dtype=object)
    key = hash_identifiers(ids, "handle", resolve_salt(spec.salt))
    merged = pd.Series(key).duplicated(keep=False).to_numpy()
    v = row_violation(
        merged, table=TABLE, file=file, column=spec.id_column, rule="duplicate_key",
        problem="ids that differ only in case or a leading '@'",
        hint="hashing (data.id.hash) would merge them", redact=True,
    )  # fmt: skip
    if v:
        raise _fail([v], len(ids))
    return key


def _spec(name: str, group: str, description: str, dtype: str, role: str = "feature") -> dict:
    return {"name": name, "group": group, "description": description, "dtype": dtype, "role": role}


def _missing_tokens(spec: CustomerTableSpec, column: str) -> list[str]:
    return [*spec.missing_all, *spec.missing_columns.get(column, ())]


# -- derived features ---------------------------------------------------------------
def _num(frame: pd.DataFrame, col: str) -> pd.Series:
    return pd.to_numeric(frame[col], errors="coerce").astype("float64")


def _matches(frame: pd.DataFrame, col: str, values: Any) -> pd.Series:
    """Rows where ``col`` takes one of ``values`` (numbers compared as numbers)."""
    wanted = values if isinstance(values, list | tuple) else [values]
    if pd.api.types.is_numeric_dtype(frame[col]):
        return frame[col].isin([float(v) for v in wanted])
    return frame[col].isin([str(v) for v in wanted])


def _log1p(frame, p):
    return np.log1p(_num(frame, p["column"]))


def _ratio(frame, p):
    den = _num(frame, p["denominator"])
    return _num(frame, p["numerator"]) / den.where(den != 0)


def _count(frame, p):
    return sum(_matches(frame, c, p["value"]).astype("float64") for c in p["columns"])


def _indicator(frame, p):
    col = p["column"]
    cond = pd.Series(True, index=frame.index)
    if "equals" in p:
        cond &= _matches(frame, col, p["equals"])
    if "min" in p:
        cond &= _num(frame, col) >= float(p["min"])
    if "max" in p:
        cond &= _num(frame, col) <= float(p["max"])
    return cond.astype("float64").where(frame[col].notna())


def _masked(frame, p):
    cond = pd.Series(True, index=frame.index)
    for col, values in p["where"].items():
        cond &= _matches(frame, col, values)
    return _num(frame, p["column"]).where(cond, 0.0)


def _bins(frame, p):
    edges = [float(e) for e in p["edges"]]
    labels = [f"{lo:g}-{hi:g}" for lo, hi in pairwise(edges)]
    cut = pd.cut(_num(frame, p["column"]), edges, labels=labels, include_lowest=True)
    return cut.astype(object).where(cut.notna(), np.nan)


def _cross(frame, p):
    parts = [frame[c].astype(object) for c in p["columns"]]
    out = parts[0].astype(str)
    for part in parts[1:]:
        out = out + "|" + part.astype(str)
    complete = pd.concat(parts, axis=1).notna().all(axis=1)
    return out.astype(object).where(complete, np.nan)


# op: (function, required keys, column keys, output dtype, optional keys)
DERIVATIONS: dict[str, tuple[Callable, tuple[str, ...], tuple[str, ...], str, tuple[str, ...]]] = {
    "log1p": (_log1p, ("column",), ("column",), "float", ()),
    "ratio": (_ratio, ("numerator", "denominator"), ("numerator", "denominator"), "float", ()),
    "count": (_count, ("columns", "value"), ("columns",), "float", ()),
    "indicator": (_indicator, ("column",), ("column",), "float", ("equals", "min", "max")),
    "masked": (_masked, ("column", "where"), ("column", "where"), "float", ()),
    "bins": (_bins, ("column", "edges"), ("column",), "category", ()),
    "cross": (_cross, ("columns",), ("columns",), "category", ()),
}
"""Derived-feature operations (``derived.<name>.op``) and their keys:

``log1p`` (column)
    ``log(1 + x)``.
``ratio`` (numerator, denominator)
    ``numerator / denominator``; missing where the denominator is 0 or missing.
``count`` (columns, value)
    How many of ``columns`` equal ``value``.
``indicator`` (column; any of equals, min, max)
    1 where the column equals one of ``equals`` and lies in ``[min, max]``, else 0.
``masked`` (column, where: {column: value or list})
    The column where every condition holds, else 0 (an interaction with a level).
``bins`` (column, edges)
    Category ``"lo-hi"`` of the interval holding the value (first edge included).
``cross`` (columns)
    Category ``"a|b"`` combining the levels (missing if any is missing).

Missing values are NaN, in numeric and categorical outputs alike.

Every derivation also takes ``description`` and ``group`` (default ``derived``).
"""


def derive_features(
    table: pd.DataFrame, derived: Mapping[str, Mapping[str, Any]], source: str = "customer table"
) -> tuple[pd.DataFrame, list[dict]]:
    """Compute the derived features in order (each may use earlier ones): frame and manifest.

    Pure and row-wise: no statistic of other rows is used, so computing them on
    the whole table before the CV split leaks nothing.
    """
    work = table.copy()
    out: dict[str, pd.Series] = {}
    manifest: list[dict] = []
    problems: list[str] = []
    for name, params in derived.items():
        params = dict(params)
        op = params.get("op")
        if op not in DERIVATIONS:
            problems.append(
                f"derived feature {name!r}: unknown op {op!r}; one of {list(DERIVATIONS)}"
            )
            continue
        fn, required, column_keys, dtype, optional = DERIVATIONS[op]
        lacking = [k for k in required if k not in params]
        extra = sorted(set(params) - {"op", "description", "group", *required, *optional})
        if lacking or extra:
            problems.append(
                f"derived feature {name!r} ({op}): "
                + (f"needs {lacking}" if lacking else "")
                + ("; " if lacking and extra else "")
                + (f"unknown keys {extra}" if extra else "")
            )
            continue
        referenced = []
        for k in column_keys:
            v = params[k]
            referenced += list(v) if isinstance(v, list | tuple | Mapping) else [v]
        absent = [c for c in referenced if c not in work.columns]
        if absent:
            problems.append(
                f"derived feature {name!r}: columns {absent} not found "
                f"(features and earlier derived features: {list(work.columns)})"
            )
            continue
        if name in work.columns:
            problems.append(f"derived feature {name!r}: a column of that name already exists")
            continue
        values = pd.Series(fn(work, params), index=work.index)
        values = values.astype("float64") if dtype == "float" else values.astype(object)
        work[name] = out[name] = values
        manifest.append(
            _spec(
                name,
                str(params.get("group") or "derived"),
                str(params.get("description") or op),
                dtype,
            )
        )
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"data.derived ({source}): {len(problems)} problem(s)\n{lines}")
    return pd.DataFrame(out, index=table.index), manifest

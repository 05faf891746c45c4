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
(:func:`build_customer_table`). Every field is read as text and parsed here, so
that nothing becomes a silent null: a value in a numeric column that does not
parse is an error unless it is declared missing (``missing.all`` for every
column, ``missing.columns.<col>`` per column). Errors name the file, the column
and the problem, with example rows (1 = the first row after the header); they
never quote identifiers.

Derived features (``derived:``) are pure row-wise functions of the columns,
computed before any split; fitted transforms (imputation, scaling, encoding)
belong to the model pipeline (``socialcrm.models.preprocess``) so they stay
inside each CV fold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from socialcrm.data.privacy import hash_identifiers, resolve_salt

KEY = "customer_id"
MAX_EXAMPLES = 5


class CustomerTableError(ValueError):
    """The customer table (or its config) breaks the contract; the message lists every problem."""

    def __init__(self, source: str, problems: Sequence[str]):
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s)\n{lines}")


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
        """Build the spec from the ``data`` config node (a DictConfig or a plain mapping)."""
        try:
            from omegaconf import DictConfig, OmegaConf

            if isinstance(cfg, DictConfig):
                cfg = OmegaConf.to_container(cfg, resolve=True)
        except ImportError:  # pragma: no cover - omegaconf ships with hydra
            pass
        name = cfg.get("name", "customer_table")
        problems = []
        for key in ("path", "id", "target"):
            if not cfg.get(key):
                problems.append(f"data.{key} is required")
        target = cfg.get("target") or {}
        ident = cfg.get("id") or {}
        if cfg.get("id") and not ident.get("column"):
            problems.append("data.id.column is required")
        if cfg.get("target"):
            for key in ("column", "positive", "negative"):
                if not target.get(key):
                    problems.append(f"data.target.{key} is required")
        if problems:
            raise CustomerTableError(f"data config {name!r}", problems)
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


def _texts(values: Any) -> tuple[str, ...]:
    if isinstance(values, str | int | float | bool):
        values = [values]
    return tuple(str(v) for v in values)


def _rows(mask: pd.Series | np.ndarray) -> str:
    """``rows 3, 8, 11 (of 40)``: 1-based data rows (1 = the first row after the header)."""
    idx = np.flatnonzero(np.asarray(mask)) + 1
    shown = ", ".join(str(i) for i in idx[:MAX_EXAMPLES])
    more = f" (of {len(idx)})" if len(idx) > MAX_EXAMPLES else ""
    return f"row{'s' if len(idx) > 1 else ''} {shown}{more}"


# -- the edge: reading --------------------------------------------------------------
def read_raw(spec: CustomerTableSpec) -> pd.DataFrame:
    """Read the file with every field as text (no value is turned into a null here)."""
    path = Path(spec.path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: customer table not found (data.path; shared data sets live under "
            "paths.shared_data_dir, set $SOCIALCRM_SHARED_DATA or paths.shared_data_dir=...)"
        )
    options = {**spec.read, "dtype": str, "keep_default_na": False, "na_filter": False}
    try:
        return pd.read_csv(path, **options)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise CustomerTableError(str(path), [f"cannot be read as a table: {e}"]) from e


def load_customer_table(data_cfg: Mapping[str, Any]) -> tuple[pd.DataFrame, list[dict], Path]:
    """Read and map the customer table of ``data_cfg``: ``(frame, manifest, path)``."""
    spec = CustomerTableSpec.from_config(data_cfg)
    raw = read_raw(spec)
    frame, manifest = build_customer_table(raw, spec, source=str(spec.path))
    return frame, manifest, Path(spec.path)


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
        Listing every problem: missing id or target column, missing or duplicate
        ids, missing or unknown target values, undeclared columns, values that
        do not parse in a numeric column, bad derived-feature specs.
    """
    raw = raw.reset_index(drop=True)
    cols = list(raw.columns)
    problems: list[str] = []
    for what, col in (("id", spec.id_column), ("target", spec.target_column)):
        if col not in raw.columns:
            problems.append(f"column {col!r}: {what} column not found (columns: {cols})")
    declared = [*spec.numeric, *spec.categorical, *spec.drop, *spec.rename, *spec.missing_columns]
    unknown = [c for c in dict.fromkeys(declared) if c not in raw.columns]
    if unknown:
        problems.append(f"columns {unknown} are configured but not in the file (columns: {cols})")
    both = sorted(set(spec.numeric) & set(spec.categorical))
    if both:
        problems.append(f"columns {both} are listed as both numeric and categorical")
    if problems:
        raise CustomerTableError(source, problems)

    texts = {c: raw[c].astype(str) for c in cols}
    missing = {c: texts[c].isin(_missing_tokens(spec, c)).to_numpy() for c in cols}

    ids = texts[spec.id_column]
    id_missing = missing[spec.id_column]
    if id_missing.any():
        problems.append(f"column {spec.id_column!r}: missing id at {_rows(id_missing)}")
    dup = ids.duplicated(keep=False).to_numpy() & ~id_missing
    if dup.any():
        n = ids[dup].nunique()
        problems.append(
            f"column {spec.id_column!r}: {n} duplicate id(s), one row per customer expected, "
            f"at {_rows(dup)}"
        )

    label = _label(texts[spec.target_column], missing[spec.target_column], spec, problems)

    features = [c for c in cols if c not in (spec.id_column, spec.target_column, *spec.drop)]
    numeric, categorical = [], []
    undeclared = []
    for c in features:
        if c in spec.numeric:
            numeric.append(c)
        elif c in spec.categorical:
            categorical.append(c)
        elif spec.infer_types:
            (numeric if _parses_as_numbers(texts[c], missing[c]) else categorical).append(c)
        else:
            undeclared.append(c)
    if undeclared:
        problems.append(
            f"columns {undeclared} are neither numeric nor categorical: list them under "
            "numeric/categorical, drop them, or set infer_types: true"
        )

    out: dict[str, pd.Series] = {}
    for c in numeric:
        out[c] = _numeric(texts[c], missing[c], c, spec, problems)
    for c in categorical:
        out[c] = texts[c].mask(missing[c]).astype(object)
    if problems:
        raise CustomerTableError(source, problems)

    names = {c: str(spec.rename.get(c, c)) for c in [*numeric, *categorical]}
    clash = sorted(
        {n for n in names.values() if list(names.values()).count(n) > 1}
        | {n for n in names.values() if n in (KEY, spec.label)}
    )
    if clash:
        raise CustomerTableError(source, [f"feature names {clash} collide (check data.rename)"])
    table = pd.DataFrame({names[c]: out[c] for c in [*numeric, *categorical]})
    manifest = [
        _spec(names[c], spec.group, spec.descriptions.get(names[c], c), "float") for c in numeric
    ] + [
        _spec(names[c], spec.group, spec.descriptions.get(names[c], c), "category")
        for c in categorical
    ]

    derived, derived_manifest = derive_features(table, spec.derived, source)
    reserved = sorted(set(derived.columns) & {KEY, spec.label})
    if reserved:
        raise CustomerTableError(source, [f"derived features {reserved} use a reserved name"])
    key = (
        hash_identifiers(ids, "handle", resolve_salt(spec.salt))
        if spec.hash_ids
        else ids.to_numpy(dtype=object)
    )
    if spec.hash_ids and pd.Series(key).duplicated().any():
        raise CustomerTableError(
            source,
            [
                f"column {spec.id_column!r}: ids differ only in case or a leading '@'; "
                "hashing (data.id.hash) would merge them"
            ],
        )
    frame = pd.concat(
        [
            pd.DataFrame({KEY: key}),
            table,
            derived,
            pd.DataFrame({spec.label: label}),
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


def _spec(name: str, group: str, description: str, dtype: str, role: str = "feature") -> dict:
    return {"name": name, "group": group, "description": description, "dtype": dtype, "role": role}


def _missing_tokens(spec: CustomerTableSpec, column: str) -> list[str]:
    return [*spec.missing_all, *spec.missing_columns.get(column, ())]


def _label(
    values: pd.Series, missing: np.ndarray, spec: CustomerTableSpec, problems: list[str]
) -> np.ndarray:
    """Map target values to 1/0; missing or unknown values are problems."""
    col = spec.target_column
    pos, neg = set(spec.positive), set(spec.negative)
    if pos & neg:
        problems.append(
            f"column {col!r}: values {sorted(pos & neg)} are both positive and negative"
        )
    if missing.any():
        problems.append(f"column {col!r}: missing target at {_rows(missing)}")
    unknown = ~values.isin(pos | neg).to_numpy() & ~missing
    if unknown.any():
        seen = list(dict.fromkeys(values[unknown]))[:MAX_EXAMPLES]
        problems.append(
            f"column {col!r}: unknown target values {seen} at {_rows(unknown)}; "
            f"expected positive {sorted(pos)} or negative {sorted(neg)}"
        )
    return values.isin(pos).to_numpy().astype("int64")


def _to_numbers(values: pd.Series, missing: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    """Parsed numbers (NaN where missing) and where a non-missing value failed to parse."""
    parsed = pd.to_numeric(values.mask(missing), errors="coerce").astype("float64")
    bad = (~missing) & ~np.isfinite(parsed.to_numpy())
    return parsed.mask(bad), bad


def _parses_as_numbers(values: pd.Series, missing: np.ndarray) -> bool:
    _, bad = _to_numbers(values, missing)
    return not bad.any() and not missing.all()


def _numeric(
    values: pd.Series, missing: np.ndarray, col: str, spec: CustomerTableSpec, problems: list[str]
) -> pd.Series:
    parsed, bad = _to_numbers(values, missing)
    if bad.any():
        seen = list(dict.fromkeys(values[bad]))[:MAX_EXAMPLES]
        problems.append(
            f"column {col!r}: {int(bad.sum())} non-numeric value(s) {seen} at {_rows(bad)}; "
            f"fix the file or declare them missing (data.missing.columns.{col}); "
            f"missing now: {_missing_tokens(spec, col)}"
        )
    return parsed


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
        raise CustomerTableError(source, problems)
    return pd.DataFrame(out, index=table.index), manifest

"""Distribution drift between a reference profile and current rows (pure functions, no I/O).

The reference (the test cutoff's rows of a registered model, what it was judged on)
is summarised once by :func:`reference_profile` into a JSON-able profile that holds aggregates only:
for every numeric column the deciles as bin edges with the reference share per
bin, the share missing, a 100-point quantile sketch, the IQR and the standard
deviation; for every categorical column the share of each level. No customer
row, identifier or rare level is in it (see :func:`reference_profile`).

:func:`drift_table` compares current rows (and the model's outputs on them) with
the profile, one row per column:

- the population stability index (PSI) on the reference's bins (numeric) or
  levels (categorical), with a separate bin for missing values;
- for numeric columns the Wasserstein-1 distance between the quantile sketches,
  divided by the reference IQR (by its standard deviation when the IQR is 0, as
  for count features that are mostly zero);
- for categorical columns the Jensen-Shannon distance (base 2, so in [0, 1]).

Severity follows the credit-scoring rule of thumb for the PSI (Siddiqi, *Credit
Risk Scorecards*, 2006; the usual reading in model monitoring): below 0.1
stable, 0.1 to 0.25 moderate, 0.25 or more significant. A column is
``drifted`` from the moderate threshold on. :func:`summary` condenses a table
into the share of drifted features, the drift of the scores and the most
drifted features.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

#: Share a bin or level is floored at inside the PSI's logarithm (an empty bin on
#: one side would make the PSI infinite); the shares themselves are not renormalised.
EPSILON = 1e-4
#: Levels of the quantile sketch: the midpoints of 100 equal-mass slices. The
#: minimum and maximum (one customer's value each) are never kept.
SKETCH_LEVELS = tuple(float(x) for x in np.linspace(0.005, 0.995, 100))
#: Categorical levels seen fewer times than this in the reference are pooled.
MIN_LEVEL_COUNT = 10
#: The pooled level: rare reference levels, and current levels the reference lacks.
OTHER = "__other__"
#: Missing values of a categorical column.
MISSING = "__missing__"
#: PSI thresholds (the credit-scoring rule of thumb).
PSI_MODERATE = 0.1
PSI_SIGNIFICANT = 0.25
PROFILE_VERSION = 1
SEVERITIES = ("stable", "moderate", "significant")


# -- profiles ----------------------------------------------------------------------


def as_float(values: pd.Series) -> np.ndarray:
    """A column as floats: booleans as 0/1, text that is no number as NaN."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float).to_numpy()
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def as_text(values: pd.Series) -> pd.Series:
    """A column as strings, missing values as :data:`MISSING`."""
    return values.astype("object").where(values.notna(), MISSING).astype(str)


def quantile_cuts(x: np.ndarray, bins: int) -> list[float]:
    """The inner bin edges: the reference's ``bins``-quantiles, deduplicated.

    The bins are ``(-inf, c1], (c1, c2], ..., (ck, +inf)``: right-closed, so a
    count feature whose deciles are mostly 0 gets a bin of its own for 0.
    """
    if x.size == 0 or bins < 2:
        return []
    levels = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    return [float(c) for c in np.unique(np.quantile(x, levels))]


def bin_shares(x: np.ndarray, cuts: Sequence[float], n: int) -> list[float]:
    """Share of ``n`` rows in each bin of ``cuts`` (``x``: the non-missing values)."""
    if n == 0:
        return [0.0] * (len(cuts) + 1)
    idx = np.searchsorted(np.asarray(cuts, dtype=float), x, side="left")
    return (np.bincount(idx, minlength=len(cuts) + 1) / n).tolist()


def numeric_profile(values: pd.Series, bins: int = 10) -> dict[str, Any]:
    """Deciles as bin edges, the share per bin, the share missing and a quantile sketch.

    Returns
    -------
    dict
        ``type`` (numeric), ``n``, ``missing`` (share), ``cuts`` (inner bin edges,
        see :func:`quantile_cuts`), ``shares`` (of all rows, per bin; with
        ``missing`` they sum to 1), ``quantiles`` (at :data:`SKETCH_LEVELS`),
        ``iqr`` and ``std`` (None without values).
    """
    raw = as_float(values)
    n = int(raw.size)
    x = raw[np.isfinite(raw)]
    cuts = quantile_cuts(x, bins)
    quantiles = np.quantile(x, SKETCH_LEVELS).tolist() if x.size else []
    q25, q75 = (np.quantile(x, [0.25, 0.75]).tolist()) if x.size else (None, None)
    return {
        "type": "numeric",
        "n": n,
        "missing": float((n - x.size) / n) if n else 0.0,
        "cuts": cuts,
        "shares": bin_shares(x, cuts, n),
        "quantiles": quantiles,
        "iqr": None if q25 is None else float(q75 - q25),
        "std": float(np.std(x)) if x.size else None,
    }


def categorical_profile(values: pd.Series, min_count: int = MIN_LEVEL_COUNT) -> dict[str, Any]:
    """The share of each level seen at least ``min_count`` times (rarer ones pooled in
    :data:`OTHER`; missing values are the level :data:`MISSING`).

    Returns
    -------
    dict
        ``type`` (categorical), ``n``, ``missing`` (share), ``levels`` (level -> share).
    """
    text = as_text(values)
    n = int(text.size)
    counts = text.value_counts()
    rare = counts[(counts < min_count) & (counts.index != MISSING)]
    kept = counts.drop(rare.index)
    if rare.sum():
        kept[OTHER] = kept.get(OTHER, 0) + int(rare.sum())
    shares = {str(k): float(v / n) for k, v in sorted(kept.items())} if n else {}
    return {
        "type": "categorical",
        "n": n,
        "missing": shares.get(MISSING, 0.0),
        "levels": shares,
    }


def is_numeric_output(values: pd.Series) -> bool:
    """Whether a model output is profiled as numeric (numbers but not booleans)."""
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def reference_profile(
    rows: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    outputs: pd.DataFrame | None = None,
    bins: int = 10,
    min_count: int = MIN_LEVEL_COUNT,
) -> dict[str, Any]:
    """A JSON-able profile of the reference distribution, without any customer row.

    Only the named columns are read. What the profile guarantees about privacy:
    no identifier (only ``numeric`` and ``categorical`` columns are summarised),
    no categorical level held by fewer than ``min_count`` reference rows, and no
    numeric minimum or maximum (the sketch stops at the 0.5 % and 99.5 %
    quantiles). Bin edges and quantiles are order statistics, or interpolations
    between two neighbouring ones, at least 0.5 % of the rows from either end: a
    value many customers share (0 tickets) can be one; with 201 rows or more, none
    depends on the smallest or the largest value (an outlier's).

    Parameters
    ----------
    rows
        Reference rows (the test cutoff of the feature table).
    numeric, categorical
        The model's input columns by type.
    outputs
        The model's outputs on (a sample of) the reference rows: numeric columns
        are profiled as numeric, the others (``decision``, nbo's ``action``) as
        categorical.
    bins
        Quantile bins per numeric column (fewer when quantiles coincide).
    min_count
        Smallest count of a categorical level kept by name.

    Returns
    -------
    dict
        ``version``, ``n`` (reference rows), ``bins``, ``min_count``, ``features``
        and ``outputs`` (column -> :func:`numeric_profile` or
        :func:`categorical_profile`).

    Raises
    ------
    KeyError
        If a named column is not in ``rows``.
    """
    missing = [c for c in [*numeric, *categorical] if c not in rows.columns]
    if missing:
        raise KeyError(f"the reference rows lack the columns {missing}")
    features: dict[str, Any] = {c: numeric_profile(rows[c], bins) for c in numeric}
    features |= {c: categorical_profile(rows[c], min_count) for c in categorical}
    out: dict[str, Any] = {}
    for c in outputs.columns if outputs is not None else []:
        col = outputs[c]
        out[c] = numeric_profile(col, bins) if is_numeric_output(col) else categorical_profile(col)
    return {
        "version": PROFILE_VERSION,
        "n": len(rows),
        "bins": bins,
        "min_count": min_count,
        "features": features,
        "outputs": out,
    }


# -- comparisons ---------------------------------------------------------------------


def psi(reference: Sequence[float], current: Sequence[float], epsilon: float = EPSILON) -> float:
    """Population stability index ``sum((c - r) * ln(c / r))`` over matching bins.

    Shares are floored at ``epsilon`` inside the logarithm only, so an empty bin
    adds a large but finite term.
    """
    r = np.asarray(reference, dtype=float)
    c = np.asarray(current, dtype=float)
    if r.shape != c.shape:
        raise ValueError(f"bins differ: {r.shape} vs {c.shape}")
    return float(np.sum((c - r) * np.log(np.maximum(c, epsilon) / np.maximum(r, epsilon))))


def severity(
    value: float, moderate: float = PSI_MODERATE, significant: float = PSI_SIGNIFICANT
) -> str:
    """``stable``, ``moderate`` or ``significant`` for a PSI."""
    if not np.isfinite(value):
        return "stable" if np.isnan(value) else "significant"
    if value >= significant:
        return "significant"
    return "moderate" if value >= moderate else "stable"


def normalised_wasserstein(ref: Mapping[str, Any], current_quantiles: Sequence[float]) -> float:
    """Wasserstein-1 distance between two quantile sketches over the reference's scale.

    The sketch is 100 equal-mass quantiles, so the distance between the two sketches
    (as samples) is the mean absolute difference of matching quantiles: the area
    between the quantile functions. The scale is the reference IQR, or its standard
    deviation when the IQR is 0, or 1 when both are 0 (a constant feature).
    """
    if not ref["quantiles"] or not len(current_quantiles):
        return float("nan")
    scale = ref["iqr"] or ref["std"] or 1.0
    return float(wasserstein_distance(ref["quantiles"], current_quantiles) / scale)


def compare_numeric(ref: Mapping[str, Any], values: pd.Series) -> dict[str, float]:
    """PSI (bins and missing), normalised Wasserstein distance and missing shares."""
    cur = numeric_profile_on(ref, values)
    return {
        "psi": psi([*ref["shares"], ref["missing"]], [*cur["shares"], cur["missing"]]),
        "wasserstein": normalised_wasserstein(ref, cur["quantiles"]),
        "js": float("nan"),
        "ref_missing": float(ref["missing"]),
        "cur_missing": cur["missing"],
        "n_cur": float(cur["n"]),
    }


def numeric_profile_on(ref: Mapping[str, Any], values: pd.Series) -> dict[str, Any]:
    """Current values on the reference's bins: shares, missing share, quantile sketch."""
    raw = as_float(values)
    n = int(raw.size)
    x = raw[np.isfinite(raw)]
    return {
        "n": n,
        "missing": float((n - x.size) / n) if n else 0.0,
        "shares": bin_shares(x, ref["cuts"], n),
        "quantiles": np.quantile(x, SKETCH_LEVELS).tolist() if x.size else [],
    }


def level_shares(ref: Mapping[str, Any], values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Reference and current shares over the reference's levels plus :data:`OTHER`
    (current levels the reference does not name) and :data:`MISSING`."""
    levels = list(ref["levels"])
    for extra in (OTHER, MISSING):
        if extra not in levels:
            levels.append(extra)
    text = as_text(values)
    text = text.where(text.isin(levels), OTHER)
    counts = text.value_counts()
    n = max(len(text), 1)
    r = np.array([ref["levels"].get(lv, 0.0) for lv in levels])
    c = np.array([counts.get(lv, 0) / n for lv in levels])
    return r, c


def compare_categorical(ref: Mapping[str, Any], values: pd.Series) -> dict[str, float]:
    """PSI and Jensen-Shannon distance (base 2) over the levels, and missing shares."""
    r, c = level_shares(ref, values)
    js = float(jensenshannon(r, c, base=2)) if r.sum() and c.sum() else float("nan")
    return {
        "psi": psi(r, c),
        "wasserstein": float("nan"),
        "js": js,
        "ref_missing": float(ref["missing"]),
        "cur_missing": float(as_text(values).eq(MISSING).mean()) if len(values) else 0.0,
        "n_cur": float(len(values)),
    }


def compare_column(ref: Mapping[str, Any], values: pd.Series) -> dict[str, float]:
    """:func:`compare_numeric` or :func:`compare_categorical`, by the profile's type."""
    if ref["type"] == "numeric":
        return compare_numeric(ref, values)
    return compare_categorical(ref, values)


TABLE_COLUMNS = [
    "column",
    "kind",
    "type",
    "psi",
    "distance",
    "wasserstein",
    "js",
    "severity",
    "drifted",
    "ref_missing",
    "cur_missing",
    "n_ref",
    "n_cur",
]


def drift_table(
    profile: Mapping[str, Any],
    rows: pd.DataFrame,
    outputs: pd.DataFrame | None = None,
    moderate: float = PSI_MODERATE,
    significant: float = PSI_SIGNIFICANT,
) -> pd.DataFrame:
    """One row per profiled feature (``kind`` feature) and model output (``kind`` score).

    Parameters
    ----------
    profile
        From :func:`reference_profile`.
    rows
        Current rows with every profiled feature column.
    outputs
        The model's outputs on ``rows`` (outputs the profile lacks, such as reason
        columns, are ignored; profiled outputs missing here are skipped).
    moderate, significant
        PSI thresholds of the moderate and significant severities.

    Returns
    -------
    pandas.DataFrame
        ``column, kind, type, psi, distance`` (the normalised Wasserstein distance
        of numeric columns, the Jensen-Shannon distance of categorical ones),
        ``wasserstein, js, severity, drifted`` (PSI at or above ``moderate``),
        ``ref_missing, cur_missing, n_ref, n_cur``: aggregates only. Features
        first, then scores, each by decreasing PSI.

    Raises
    ------
    KeyError
        If ``rows`` lack a profiled feature.
    """
    lacking = [c for c in profile["features"] if c not in rows.columns]
    if lacking:
        raise KeyError(f"the current rows lack the profiled features {lacking}")
    records = []
    sections = [("feature", profile["features"], rows)]
    if outputs is not None:
        sections.append(("score", profile.get("outputs", {}), outputs))
    for kind, refs, frame in sections:
        for name, ref in refs.items():
            if name not in frame.columns:
                continue
            stats = compare_column(ref, frame[name])
            records.append(
                {
                    "column": name,
                    "kind": kind,
                    "type": ref["type"],
                    **stats,
                    "n_ref": float(ref["n"]),
                }
            )
    table = pd.DataFrame(
        records, columns=[c for c in TABLE_COLUMNS if c not in {"severity", "drifted", "distance"}]
    )
    table["distance"] = table["wasserstein"].where(table["type"] == "numeric", table["js"])
    table["severity"] = [severity(v, moderate, significant) for v in table["psi"]]
    table["drifted"] = table["psi"] >= moderate
    order = table.assign(_k=table["kind"].map({"feature": 0, "score": 1}))
    order = order.sort_values(["_k", "psi"], ascending=[True, False], kind="stable")
    return order[TABLE_COLUMNS].reset_index(drop=True)


def summary(
    table: pd.DataFrame,
    alarm_share: float = 0.3,
    top: int = 10,
    significant: float = PSI_SIGNIFICANT,
) -> dict[str, Any]:
    """The drift table in a few numbers, and a verdict.

    Parameters
    ----------
    table
        From :func:`drift_table`.
    alarm_share
        Share of drifted features from which the inputs as a whole have drifted.
    top
        How many of the most drifted features to list.
    significant
        PSI from which one column's drift is significant.

    Returns
    -------
    dict
        ``n_features``, ``n_drifted``, ``share_drifted``, ``n_significant``,
        ``max_psi`` and ``max_psi_feature``; ``score_psi`` (the largest PSI of an
        output column, NaN without outputs), ``score_column`` and ``score_severity``;
        ``top`` (the most drifted features: column, psi, distance, severity);
        ``alarm`` and ``verdict``: ``drift`` (the share of drifted features reaches
        ``alarm_share`` or the scores drifted significantly), ``watch`` (some
        feature or the scores drifted), ``stable`` otherwise.
    """
    feats = table[table["kind"] == "feature"]
    scores = table[table["kind"] == "score"]
    n = len(feats)
    n_drifted = int(feats["drifted"].sum())
    share = n_drifted / n if n else 0.0
    worst = feats.loc[feats["psi"].idxmax()] if n else None
    score = scores.loc[scores["psi"].idxmax()] if len(scores) else None
    score_psi = float(score["psi"]) if score is not None else float("nan")
    score_significant = bool(score_psi >= significant)
    alarm = share >= alarm_share or score_significant
    watch = n_drifted > 0 or bool(len(scores) and scores["drifted"].any())
    cols = ["column", "psi", "distance", "severity"]
    return {
        "n_features": n,
        "n_drifted": n_drifted,
        "share_drifted": share,
        "n_significant": int((feats["severity"] == "significant").sum()),
        "max_psi": float(worst["psi"]) if worst is not None else float("nan"),
        "max_psi_feature": str(worst["column"]) if worst is not None else "",
        "score_psi": score_psi,
        "score_column": str(score["column"]) if score is not None else "",
        "score_severity": str(score["severity"]) if score is not None else "",
        "top": feats.head(top)[cols].to_dict("records"),
        "alarm": bool(alarm),
        "verdict": "drift" if alarm else "watch" if watch else "stable",
    }

"""SHAP explanations of a fitted pipeline, in terms of the original feature columns.

The model's *margin* is explained (log-odds for classifiers, the raw score for
regressors), so ``base_value + contributions.sum(axis=1) == margin`` exactly
(up to float precision): probability calibration is monotone and applied after.
Tree models use ``TreeExplainer`` (LightGBM's and XGBoost's own contribution
code); linear models ``LinearExplainer``. Contributions of preprocessed columns
(one-hot levels, missing-value indicators) are summed back to the column they
came from, so reasons name the customer's features, not encoder outputs.

The baseline that travels with a deployed model (:func:`synthetic_background`)
is made of quantile rows, not of customers' rows.
"""

from __future__ import annotations

import contextlib
import warnings
import weakref
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

LINEAR_MODELS = ("LogisticRegression", "Ridge", "LinearRegression", "ElasticNet", "Lasso")
TREE_MODELS = ("LGBMClassifier", "LGBMRegressor", "XGBClassifier", "XGBRegressor")


@dataclass
class Explanation:
    """Per-row contributions to the model margin.

    Attributes
    ----------
    values
        One column per original feature, one row per explained row.
    base_value
        The margin with no information (expected margin).
    data
        The original feature values of the explained rows.
    margin
        The model's margin for each row.
    """

    values: pd.DataFrame
    base_value: float
    data: pd.DataFrame
    margin: np.ndarray


def explainable(pipeline: Pipeline) -> bool:
    """Whether the pipeline's model can be explained here."""
    name = type(pipeline.named_steps["model"]).__name__
    return name in LINEAR_MODELS or name in TREE_MODELS


def _source_columns(transformed: list[str], original: list[str]) -> list[str]:
    """The original column each transformed column came from."""
    orig = set(original)
    by_length = sorted(original, key=len, reverse=True)
    out = []
    for t in transformed:
        if t in orig:
            out.append(t)
            continue
        name = t.removeprefix("missingindicator_")
        if name in orig:
            out.append(name)
            continue
        match = next((c for c in by_length if t.startswith(c + "_")), None)
        if match is None:
            raise ValueError(f"cannot trace transformed column {t!r} to a feature")
        out.append(match)
    return out


def _margin(model, Xt: pd.DataFrame) -> np.ndarray:
    name = type(model).__name__
    if name.startswith("LGBM"):
        return np.asarray(model.predict(Xt, raw_score=True), dtype=float)
    if name.startswith("XGB"):
        return np.asarray(model.predict(Xt, output_margin=True), dtype=float)
    if hasattr(model, "decision_function"):
        return np.asarray(model.decision_function(Xt), dtype=float)
    return np.asarray(model.predict(Xt), dtype=float)


#: One TreeExplainer per fitted tree model: building it parses every tree, which a
#: served model would otherwise repeat on every request.
_TREE_EXPLAINERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _tree_explainer(model):
    import shap

    try:
        return _TREE_EXPLAINERS[model]
    except (KeyError, TypeError):
        explainer = shap.TreeExplainer(model)
    with contextlib.suppress(TypeError):  # not weakly referenceable: no cache
        _TREE_EXPLAINERS[model] = explainer
    return explainer


def explain(
    pipeline: Pipeline, X: pd.DataFrame, background: pd.DataFrame | None = None
) -> Explanation:
    """SHAP contributions of every original feature for the rows of ``X``.

    Parameters
    ----------
    pipeline
        A fitted ``prep`` + ``model`` pipeline (see :mod:`socialcrm.models`).
    X
        Rows to explain, with the pipeline's input columns.
    background
        Rows defining the baseline for linear models (default: ``X``).
    """
    import shap

    prep, model = pipeline.named_steps["prep"], pipeline.named_steps["model"]
    Xt = prep.transform(X)
    cols = list(Xt.columns)
    name = type(model).__name__
    if name in TREE_MODELS:
        explainer = _tree_explainer(model)
        with warnings.catch_warnings():  # shap notes a LightGBM output-format change we handle
            warnings.filterwarnings("ignore", message=".*TreeExplainer shap values output")
            values = np.asarray(explainer.shap_values(Xt), dtype=float)
        base = float(np.ravel(explainer.expected_value)[0])
    elif name in LINEAR_MODELS:
        bg = prep.transform(background) if background is not None else Xt
        explainer = shap.LinearExplainer(model, bg)
        values = np.asarray(explainer.shap_values(Xt), dtype=float)
        base = float(np.ravel(explainer.expected_value)[0])
    else:
        raise ValueError(f"no SHAP explainer for model type {name}")
    if values.ndim == 3:  # (rows, features, classes): take the positive class
        values = values[:, :, -1]
    source = _source_columns(cols, list(X.columns))
    summed = pd.DataFrame(values, columns=cols, index=X.index).T.groupby(source, sort=False).sum().T
    summed = summed.reindex(columns=list(X.columns), fill_value=0.0)
    return Explanation(values=summed, base_value=base, data=X, margin=_margin(model, Xt))


def _is_number(x: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x)


def _quantile_column(values: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` values: NaN in a random share of rows equal to the column's share of missing
    values, the ``n`` others the quantiles ``(j + 0.5) / n`` of the present values, rising."""
    present = values[~np.isnan(values)]
    out = np.full(k, np.nan)
    n_values = k - round(k * (1 - present.size / values.size))
    if present.size == 0 or n_values == 0:
        return out
    rows = np.sort(rng.permutation(k)[:n_values])
    out[rows] = np.quantile(present, (np.arange(n_values) + 0.5) / n_values)
    return out


def _level_column(values: pd.Series, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` levels in proportion to their frequency (levels rarer than 1 / 2k left out),
    shuffled."""
    shares = values.value_counts(normalize=True, dropna=False)
    position = np.searchsorted(shares.cumsum().to_numpy(), (np.arange(k) + 0.5) / k, side="right")
    levels = shares.index.to_numpy()[np.minimum(position, len(shares) - 1)]
    return rng.permutation(levels)


def synthetic_background(X: pd.DataFrame, k: int = 200, seed: int = 0) -> pd.DataFrame | None:
    """A baseline for explanations that summarises ``X`` without holding any of its rows.

    Row ``i`` holds every numeric feature at its quantile ``(i + 0.5) / k`` among
    the column's non-missing values, except in a random set of rows as large as
    the column's share of missing values, which hold NaN; categorical features
    take their levels in proportion to their frequency, in random order (levels
    rarer than ``1 / 2k`` do not appear). Any row that still equals a row of ``X``
    (a constant or nearly constant table) is dropped.

    Parameters
    ----------
    X
        Feature rows (e.g. :meth:`ScoringModel.frame` of the training rows).
    k
        Rows to build.
    seed
        Seeds the placement of missing values and the order of levels.

    Returns
    -------
    pandas.DataFrame or None
        At most ``k`` rows with the columns of ``X`` (numeric ones as float64, the
        others with their dtype); None when every row would equal a row of ``X``
        (the explained rows are then their own baseline, see :func:`explain`).
    """
    if k < 1 or X.empty:
        raise ValueError(f"a background needs k >= 1 and rows to summarise (k={k}, {len(X)} rows)")
    rng = np.random.default_rng(seed)
    real = X.copy()
    columns = {}
    for c in X.columns:
        if _is_number(X[c]):
            real[c] = X[c].to_numpy(dtype="float64", na_value=np.nan)
            columns[c] = _quantile_column(real[c].to_numpy(), k, rng)
        else:
            columns[c] = pd.Series(_level_column(X[c], k, rng), dtype=X[c].dtype)
    background = pd.DataFrame(columns, columns=X.columns)
    # a hash collision only drops one synthetic row too many, never keeps a real one
    is_real = pd.util.hash_pandas_object(background, index=False).isin(
        pd.util.hash_pandas_object(real, index=False)
    )
    background = background[~is_real.to_numpy()].reset_index(drop=True)
    return background if len(background) else None


def _fmt_value(v: object) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "missing"
    if isinstance(v, float | np.floating):
        return f"{v:.3g}"
    return str(v)


def reason_columns(top: int) -> list[str]:
    """The columns of :func:`reason_codes`: ``raising_1..top`` then ``lowering_1..top``."""
    return [f"{label}_{j + 1}" for label in ("raising", "lowering") for j in range(top)]


def empty_reasons(top: int, index: pd.Index | None = None) -> pd.DataFrame:
    """The (text) reason columns of :func:`reason_codes` for zero rows."""
    index = pd.RangeIndex(0) if index is None else index
    return pd.DataFrame({c: pd.Series([], dtype="str", index=index) for c in reason_columns(top)})


def reason_codes(expl: Explanation, top: int = 3) -> pd.DataFrame:
    """The ``top`` factors raising and lowering each row's score.

    Returns
    -------
    pandas.DataFrame
        ``raising_1..top`` and ``lowering_1..top``: ``"feature = value (+0.42)"``
        (empty when fewer factors push that way), indexed like ``expl.values``.
    """
    v = expl.values.to_numpy()
    names = np.array(expl.values.columns)
    data = expl.data[expl.values.columns]
    order_up = np.argsort(-v, axis=1, kind="stable")[:, :top]
    order_down = np.argsort(v, axis=1, kind="stable")[:, :top]
    out: dict[str, list[str]] = {}
    for label, order, sign in (("raising", order_up, 1), ("lowering", order_down, -1)):
        for j in range(top):
            col = []
            for i, k in enumerate(order[:, j]):
                c = v[i, k]
                if c * sign <= 0:
                    col.append("")
                else:
                    col.append(f"{names[k]} = {_fmt_value(data.iat[i, k])} ({c:+.3f})")
            out[f"{label}_{j + 1}"] = col
    return pd.DataFrame(out, index=expl.values.index)


def global_importance(expl: Explanation, top: int | None = 20) -> pd.DataFrame:
    """Mean absolute contribution per feature, with the direction of the effect.

    ``direction`` says whether higher values of a numeric feature raise or lower
    the score (Spearman correlation between value and contribution beyond
    +-0.1), and for a categorical feature which level raises it most.
    """
    rows = []
    for col in expl.values.columns:
        contrib = expl.values[col]
        x = expl.data[col]
        if pd.api.types.is_numeric_dtype(x):
            ok = x.notna() & contrib.notna()
            rho = (
                pd.Series(x[ok]).rank().corr(pd.Series(contrib[ok]).rank())
                if ok.sum() > 2 and x[ok].nunique() > 1
                else 0.0
            )
            rho = 0.0 if np.isnan(rho) else float(rho)
            direction = (
                "higher raises it" if rho > 0.1 else "higher lowers it" if rho < -0.1 else "mixed"
            )
        else:
            by_level = contrib.groupby(x.astype(str)).mean()
            direction = f"highest for {by_level.idxmax()!r}" if len(by_level) else "mixed"
            rho = float("nan")
        rows.append(
            {
                "feature": col,
                "mean_abs_contribution": float(contrib.abs().mean()),
                "mean_contribution": float(contrib.mean()),
                "direction": direction,
                "value_contribution_correlation": rho,
            }
        )
    table = pd.DataFrame(rows).sort_values(
        "mean_abs_contribution", ascending=False, ignore_index=True
    )
    return table.head(top) if top else table


def group_importance(expl: Explanation, groups: Mapping[str, str]) -> pd.DataFrame:
    """Contribution per feature group (crm, social, graph, ...), largest first.

    ``summed_abs_contribution`` is the sum over the group's features of their mean
    absolute contribution (what the group's bars in the SHAP bar chart add up to);
    ``mean_abs_group_contribution`` the mean absolute value of the group's summed
    contribution per row (contributions of one group that cancel do not count
    twice); ``share`` the group's part of all ``summed_abs_contribution``.

    Parameters
    ----------
    groups
        Feature name -> group (the feature manifest); features it does not name
        are in ``other``.
    """
    names = list(expl.values.columns)
    of = pd.Series([groups.get(c, "other") for c in names], index=names)
    abs_mean = expl.values.abs().mean()
    by_row = expl.values.T.groupby(of).sum().T
    table = pd.DataFrame(
        {
            "summed_abs_contribution": abs_mean.groupby(of).sum(),
            "mean_abs_group_contribution": by_row.abs().mean(),
            "n_features": of.value_counts(),
        }
    ).rename_axis("group")
    table["share"] = table.summed_abs_contribution / table.summed_abs_contribution.sum()
    return table.sort_values("summed_abs_contribution", ascending=False).reset_index()


def group_bar(table: pd.DataFrame, ax=None):
    """Horizontal bars of :func:`group_importance`: does each data source matter?"""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.5 * len(table) + 1.5))
    t = table.iloc[::-1]
    ax.barh(t["group"], t["summed_abs_contribution"], color="#1f77b4")
    for y, row in enumerate(t.itertuples()):
        label = f" {row.share:.0%} ({row.n_features} features)"
        ax.text(row.summed_abs_contribution, y, label, va="center", fontsize=8)
    ax.set_xlim(0, table.summed_abs_contribution.max() * 1.3)
    ax.set_xlabel("sum of the group's mean |SHAP value| (model output scale)")
    ax.set_title("Contribution by feature group")
    return ax


def to_shap_explanation(expl: Explanation, max_rows: int = 5000, seed: int = 0):
    """A ``shap.Explanation`` for shap's beeswarm and bar plots (categories as codes)."""
    import shap

    idx = expl.values.index
    if len(idx) > max_rows:
        idx = pd.Index(np.random.default_rng(seed).choice(idx, size=max_rows, replace=False))
    data = expl.data.loc[idx, expl.values.columns].copy()
    for c in data.columns:
        if not pd.api.types.is_numeric_dtype(data[c]):
            data[c] = data[c].astype("category").cat.codes.astype(float)
    return shap.Explanation(
        values=expl.values.loc[idx].to_numpy(),
        base_values=np.full(len(idx), expl.base_value),
        data=data.to_numpy(dtype=float),
        feature_names=list(expl.values.columns),
    )

"""Column preprocessing that travels with the model (inside its sklearn Pipeline).

- ``linear``: numeric columns median-imputed with missing-value indicators and
  standardised; categorical columns one-hot encoded (unknown levels ignored).
  Nulls carry meaning here (for example no consent to social linkage), so the
  indicators keep that information.
- ``tree``: numeric columns passed through (gradient boosting handles missing
  values natively); categorical columns ordinal-encoded with unknown and
  missing levels as NaN.
- ``none``: the columns as they are (rule baselines).
"""

from __future__ import annotations

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

KINDS = ("linear", "tree", "none")


def _to_float(x):
    return np.asarray(x, dtype=float)


def make_preprocessor(kind: str, numeric: list[str], categorical: list[str]) -> ColumnTransformer:
    """The column transformer for a model family.

    Parameters
    ----------
    kind
        ``linear``, ``tree`` or ``none``.
    numeric, categorical
        Feature columns by type (from the feature manifest).
    """
    if kind not in KINDS:
        raise ValueError(f"model.preprocessing must be one of {KINDS}, got {kind!r}")
    if kind == "none":
        return ColumnTransformer(
            [("all", "passthrough", numeric + categorical)], verbose_feature_names_out=False
        ).set_output(transform="pandas")
    if kind == "linear":
        num = Pipeline(
            [
                (
                    "impute",
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                ),
                ("scale", StandardScaler()),
            ]
        )
        cat = OneHotEncoder(handle_unknown="ignore", sparse_output=False, min_frequency=20)
    else:
        num = FunctionTransformer(_to_float, feature_names_out="one-to-one")
        cat = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
        )
    parts = [("num", num, numeric)]
    if categorical:
        parts.append(("cat", cat, categorical))
    # pandas output keeps column names (SHAP reasons, rule baselines read them)
    return ColumnTransformer(parts, verbose_feature_names_out=False).set_output(transform="pandas")

"""Split strategies shared by every task (pure).

For one table without time, :func:`cv_folds` gives stratified or grouped
K-fold indices. By time, tasks read the feature table's ``split`` column (train / valid / test /
gap, purged: see :func:`socialcrm.features.cutoffs.assign_split`). A
rolling-origin backtest (``split.test_cutoffs: k``) re-splits the same table k
times: origin i takes the i-th of the last k cutoffs as its test cutoff and the
cutoffs before it as train and validation, purged the same way, so every
origin is judged only on data after everything it learnt from. The run edge
fits the task once per origin and reports each origin and the mean with spread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from socialcrm.features.cutoffs import assign_split


def rolling_origins(
    cutoffs: Sequence[pd.Timestamp], horizon_days: int, test_cutoffs: int, valid_cutoffs: int = 1
) -> list[dict[pd.Timestamp, str]]:
    """One ``{cutoff: split}`` map per backtest origin, oldest origin first.

    Parameters
    ----------
    cutoffs
        The feature table's cutoffs.
    horizon_days
        The label horizon (for purging).
    test_cutoffs
        Origins: the last ``test_cutoffs`` cutoffs each serve once as the test cutoff.
    valid_cutoffs
        Validation cutoffs per origin.

    Raises
    ------
    ValueError
        If an origin would have no training or validation cutoff.
    """
    cs = sorted(pd.Timestamp(c) for c in set(cutoffs))
    if test_cutoffs < 1 or test_cutoffs > len(cs):
        raise ValueError(
            f"split.test_cutoffs must be 1 to {len(cs)} (the cutoffs), got {test_cutoffs}"
        )
    maps = []
    for origin in cs[len(cs) - test_cutoffs :]:
        upto = [c for c in cs if c <= origin]
        mapping = dict.fromkeys(cs, "gap") | assign_split(upto, horizon_days, 1, valid_cutoffs)
        for need in ("train", "valid"):
            if need not in mapping.values():
                raise ValueError(
                    f"backtest origin {origin:%Y-%m-%d} has no {need} cutoff (purged by the "
                    f"{horizon_days}-day horizon): lower split.test_cutoffs or add cutoffs"
                )
        maps.append(mapping)
    return maps


def with_split(frame: pd.DataFrame, mapping: Mapping[pd.Timestamp, str]) -> pd.DataFrame:
    """``frame`` with its ``split`` column set from ``{cutoff: split}``."""
    split = pd.to_datetime(frame["cutoff"]).map(dict(mapping)).fillna("gap")
    return frame.assign(split=split.to_numpy())


def test_cutoff(mapping: Mapping[pd.Timestamp, str]) -> pd.Timestamp:
    """The test cutoff of a split map."""
    return max(c for c, s in mapping.items() if s == "test")


def cv_folds(
    y: np.ndarray,
    n_folds: int,
    seed: int,
    groups: np.ndarray | None = None,
    stratify: bool = True,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """K-fold ``(train, test)`` row indices for one-table data, shuffled with ``seed``.

    Parameters
    ----------
    y
        The target (stratified on, for classification).
    n_folds
        Folds.
    groups
        Rows of one group (a household, a company) stay in one fold.
    stratify
        Keep the class shares in every fold (classification targets).
    """
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    X = np.zeros(len(y))
    if groups is not None:
        if stratify:
            folds = StratifiedGroupKFold(n_folds, shuffle=True, random_state=seed)
            return list(folds.split(X, y, groups))
        return list(GroupKFold(n_folds, shuffle=True, random_state=seed).split(X, y, groups))
    if stratify:
        return list(StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(X, y))
    return list(KFold(n_folds, shuffle=True, random_state=seed).split(X, y))


def mean_sd(per_fold: pd.DataFrame, prefix: str = "", mean_suffix: str = "") -> dict[str, float]:
    """The mean (``<prefix><metric><mean_suffix>``) and sample sd (``<prefix><metric>_sd``)
    of every numeric column over folds or backtest origins."""
    out = {}
    for c in per_fold.select_dtypes("number").columns:
        out[f"{prefix}{c}{mean_suffix}"] = float(per_fold[c].mean())
        out[f"{prefix}{c}_sd"] = float(per_fold[c].std(ddof=1)) if len(per_fold) > 1 else 0.0
    return out


def period_split(
    times: pd.Series,
    test_days: int,
    valid_days: int,
    gap_days: int,
    end: pd.Timestamp | None = None,
) -> np.ndarray:
    """``train`` / ``gap`` / ``valid`` / ``gap`` / ``test`` by event time, latest last.

    Test holds the last ``test_days`` before ``end`` (default: the latest time),
    validation the ``valid_days`` before it; ``gap_days`` between the parts purge
    events whose outcome window (say an offer's response window) would overlap the
    next part.
    """
    t = pd.to_datetime(times)
    end = pd.Timestamp(end) if end is not None else t.max()
    test_from = end - pd.Timedelta(days=test_days)
    valid_to = test_from - pd.Timedelta(days=gap_days)
    valid_from = valid_to - pd.Timedelta(days=valid_days)
    train_to = valid_from - pd.Timedelta(days=gap_days)
    return np.select(
        [t > end, t >= test_from, t >= valid_to, t >= valid_from, t >= train_to],
        ["gap", "test", "gap", "valid", "gap"],
        default="train",
    )

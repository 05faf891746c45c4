"""Compare a feature table built by the rewritten queries with the old queries' table
(``tests/features/legacy``): the golden test and ``benchmarks/features_golden.py``."""

from __future__ import annotations

import numpy as np
import pandas as pd


def assert_same_table(old: pd.DataFrame, new: pd.DataFrame, rtol: float = 1e-9) -> None:
    """Column by column: equal keys and counts, floats to ``rtol``, nulls in the same places."""
    assert list(new.columns) == list(old.columns)
    assert len(new) == len(old)
    bad = {}
    for col in old.columns:
        a, b = old[col], new[col]
        if a.dtype.kind in "fiu":
            a, b = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
            same = np.isclose(a, b, rtol=rtol, atol=0.0) | (np.isnan(a) & np.isnan(b))
        else:
            same = ((a == b) | (a.isna() & b.isna())).to_numpy()
        if not same.all():
            bad[col] = int((~same).sum())
    assert not bad, f"columns that differ (rows): {bad}"

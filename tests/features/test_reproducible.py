"""Same data and config give the same feature table, to the bit, with parallel threads."""

from __future__ import annotations

import igraph as ig
import numpy as np
import pandas as pd

from socialcrm.features.graph import pagerank_power

from .conftest import build


def test_two_builds_are_identical(small_tables):
    a = build(small_tables, ["features.cutoffs.every_months=6", "features.duckdb.threads=2"])
    b = build(small_tables, ["features.cutoffs.every_months=6", "features.duckdb.threads=2"])
    pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)


def test_pagerank_agrees_with_igraph():
    rng = np.random.default_rng(3)
    n, m = 500, 3000
    src, dst = rng.integers(0, n, m), rng.integers(0, n, m)
    pairs = np.unique(np.column_stack([src, dst])[src != dst], axis=0)
    w = rng.integers(1, 5, len(pairs)).astype(float)
    g = ig.Graph(n=n, edges=pairs, directed=True)
    g.es["weight"] = w
    expected = np.asarray(g.pagerank(damping=0.85, weights="weight", directed=True))
    got = pagerank_power(n, pairs[:, 0], pairs[:, 1], w, 0.85)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert got.sum() == np.float64(1.0) or abs(got.sum() - 1) < 1e-12

"""Golden test of the scale rewrite (issue 16): the feature queries that read every event
table once give the table the old queries gave, which joined every event to every later
cutoff (kept in ``tests/features/legacy``). Counts must be equal; floats to 1e-9 relative.

The default preset is checked the same way by ``benchmarks/features_golden.py``.
"""

from __future__ import annotations

import pytest

from socialcrm.config import compose
from socialcrm.features import btyd
from socialcrm.features.build import build_features
from socialcrm.features.config import feature_config
from socialcrm.features.engine import connect, register_frames

from .conftest import SCORER
from .golden import assert_same_table
from .legacy import btyd as legacy_btyd
from .legacy import build as legacy


def _build(module, tables, overrides):
    cfg = compose(["data=synthetic_small", *overrides])
    con = connect(threads=2, memory_limit="4GB")
    register_frames(con, tables)
    fc = feature_config(cfg.features)
    return con, module.build_features(con, fc, list(cfg.data.platforms), SCORER).frame


CASES = {
    # every group but the BTYD fit (its input, the RFM summary, is compared below)
    "default": ["features.groups=[crm,social_activity,social_listening,social_graph,referral]"],
    # the other churn definitions change the population, the labels and the graph
    # exposure; customer shards (how DuckDB bounds its memory on large data) change nothing
    "inactivity_shards": [
        "features.groups=[crm,social_graph,referral]",
        "features.churn.definition=either",
        "features.population.active_within_days=120",
        "features.cutoffs.every_months=3",
        "features.duckdb.shard_rows=1500",
    ],
}


@pytest.mark.parametrize("case", list(CASES))
def test_rewritten_features_equal_the_old_queries(small_tables, case):
    _, old = _build(legacy, small_tables, CASES[case])
    _, new = _build(_NewBuild, small_tables, CASES[case])
    assert len(new) > 5_000
    assert_same_table(old, new)


def test_rfm_summary_equals_the_old_query(small_tables):
    con, _ = _build(legacy, small_tables, ["features.groups=[crm]"])
    old = con.execute(legacy_btyd.rfm_query()).df()
    new = con.execute(btyd.rfm_query()).df()
    assert len(new) > 10_000
    assert_same_table(old, new)


def test_comparison_fails_on_a_changed_value(small_tables):
    """The check itself can fail: one count off by one is reported."""
    _, old = _build(legacy, small_tables, ["features.groups=[crm]"])
    new = old.copy()
    new.loc[5, "frequency_total"] += 1
    with pytest.raises(AssertionError, match="frequency_total"):
        assert_same_table(old, new)


class _NewBuild:
    build_features = staticmethod(build_features)

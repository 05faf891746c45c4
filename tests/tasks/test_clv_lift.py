"""The clv-social-lift report: paired Gini gains and oracle gaps against hand computation."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from socialcrm.experiments import lift
from socialcrm.experiments.clv_lift import FEATURE_SETS, SPEC
from socialcrm.experiments.grid import DIMENSIONS, with_comparisons


def test_feature_sets_nest_and_end_with_the_hybrid():
    names = list(FEATURE_SETS)
    assert names == ["crm", "crm+social", "all", "all+btyd"]
    for smaller, larger in itertools.pairwise(names):
        assert set(FEATURE_SETS[smaller]) < set(FEATURE_SETS[larger])
    assert FEATURE_SETS["all+btyd"][-1] == "btyd"


def test_report_pairs_gains_by_seed():
    rows = []
    for seed, shift in ((1, 0.0), (2, 0.02)):
        for features, gini in (
            ("crm", 0.80),
            ("crm+social", 0.81),
            ("all", 0.81),
            ("all+btyd", 0.83),
        ):
            rows.append(
                dict(zip(DIMENSIONS, ("", seed, "lightgbm", "", features), strict=True))
                | {
                    "normalized_gini": gini + shift,
                    "top20_found": 0.6,
                    "spearman": 0.7,
                    "decile_mape": 0.1,
                    "rmse": 100.0,
                    "baseline_normalized_gini": 0.78,
                    "btyd_normalized_gini": 0.79,
                    "oracle_normalized_gini": 0.88 + shift,
                    "oracle_top20_found": 0.7,
                    "n_test": 1000,
                }
            )
    results = with_comparisons(pd.DataFrame(rows), SPEC.metric, SPEC.versus)
    summary, text = lift.report(SPEC, results)
    s = summary.set_index("features")
    assert list(s.index) == ["crm", "crm+social", "all", "all+btyd"]
    # the seed shift cancels in paired gains but not in the means
    assert s.loc["all+btyd", "gain_vs_crm"] == pytest.approx(0.03)
    assert s.loc["all+btyd", "gain_vs_crm_sd"] == pytest.approx(0.0)
    assert s.loc["all+btyd", "gain_vs_previous"] == pytest.approx(0.02)
    assert s.loc["crm+social", "gain_vs_previous"] == pytest.approx(0.01)
    assert pd.isna(s.loc["crm", "gain_vs_previous"])
    assert s.loc["crm", "normalized_gini_sd"] == pytest.approx(0.02 / 2**0.5)
    assert s.loc["all", "oracle_gap"] == pytest.approx(0.07)
    assert "| all+btyd | 0.840 ± 0.014 |" in text
    assert "| crm | 0.810 ± 0.014 | 0.600 ± 0.000 | 0.100 ± 0.000 | 100.0 ± 0.0 | 0.890 |" in text
    assert text.splitlines()[2].endswith("| 0.000 ± 0.000 |  | 0.780 | 0.790 |")

"""The churn-social-lift report: paired gains and oracle gaps against hand computation,
and one small world through the grid."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from socialcrm.experiments import lift
from socialcrm.experiments.churn_lift import SPEC
from socialcrm.experiments.grid import DIMENSIONS, with_comparisons


def test_report_pairs_gains_by_world_and_seed():
    rows = []
    for world, graph_gain in (("contagion on", 0.03), ("contagion off", 0.0)):
        for seed, shift in ((1, 0.00), (2, 0.04)):
            for features, auc in (("crm", 0.60), ("crm+social", 0.62), ("all", 0.62 + graph_gain)):
                rows.append(
                    dict(zip(DIMENSIONS, (world, seed, "lightgbm", "", features), strict=True))
                    | {
                        "roc_auc": auc + shift,
                        "pr_auc": 0.2,
                        "baseline_roc_auc": 0.5,
                        "oracle_roc_auc": 0.75 + shift,
                        "n_test": 1000,
                    }
                )
    results = with_comparisons(pd.DataFrame(rows), SPEC.metric, SPEC.versus)
    summary, text = lift.report(SPEC, results)
    assert list(summary.world.unique()) == ["contagion on", "contagion off"]
    assert list(summary.features[:3]) == ["crm", "crm+social", "all"]
    s = summary.set_index(["world", "features"])
    # the seed shift cancels in paired gains but not in the means
    assert s.loc[("contagion on", "all"), "gain_vs_crm+social"] == pytest.approx(0.03)
    assert s.loc[("contagion on", "all"), "gain_vs_crm+social_sd"] == pytest.approx(0.0)
    assert s.loc[("contagion off", "all"), "gain_vs_crm+social"] == pytest.approx(0.0)
    assert s.loc[("contagion on", "crm+social"), "gain_vs_crm"] == pytest.approx(0.02)
    assert s.loc[("contagion on", "crm"), "roc_auc"] == pytest.approx(0.62)
    assert s.loc[("contagion on", "crm"), "roc_auc_sd"] == pytest.approx(0.04 / 2**0.5)
    assert s.loc[("contagion on", "all"), "oracle_gap"] == pytest.approx(0.10)
    assert "| contagion on | all | 0.670 ± 0.028 | 0.200 ± 0.000 | 0.500 | 0.770 |" in text
    assert text.endswith(
        "Model `lightgbm`, seeds 1, 2; 1,000 customers at the test cutoff on average."
    )


def test_a_small_world_runs_through_the_grid_against_its_oracle():
    spec = dataclasses.replace(SPEC, worlds={"contagion on": ()})
    results = lift.run(spec, [1], ["data=synthetic_small", "features.cutoffs.every_months=3"])
    assert results.features.tolist() == list(spec.feature_sets)
    assert (results.oracle_roc_auc > results.roc_auc).all()  # nothing beats the truth
    assert (results.roc_auc > results.baseline_roc_auc).all()
    assert results.n_test.nunique() == 1 and results.oracle_roc_auc.nunique() == 1
    assert results.gain_vs_crm.iloc[0] == 0.0

"""The churn-social-lift summary: paired gains and oracle gaps against hand computation."""

from __future__ import annotations

import pandas as pd
import pytest

from socialcrm.experiments.churn_lift import markdown_table, summarise


def test_summary_pairs_gains_by_world_and_seed():
    rows = []
    for world, graph_gain in (("contagion on", 0.03), ("contagion off", 0.0)):
        for seed, shift in ((1, 0.00), (2, 0.04)):
            for features, auc in (("crm", 0.60), ("crm+social", 0.62), ("all", 0.62 + graph_gain)):
                rows.append(
                    {
                        "world": world,
                        "seed": seed,
                        "features": features,
                        "roc_auc": auc + shift,
                        "pr_auc": 0.2,
                        "oracle_roc_auc": 0.75 + shift,
                    }
                )
    summary = summarise(pd.DataFrame(rows))
    assert list(summary.world.unique()) == ["contagion on", "contagion off"]
    assert list(summary.features[:3]) == ["crm", "crm+social", "all"]
    s = summary.set_index(["world", "features"])
    # the seed shift cancels in paired gains but not in the means
    assert s.loc[("contagion on", "all"), "gain_vs_ref"] == pytest.approx(0.03)
    assert s.loc[("contagion on", "all"), "gain_vs_ref_sd"] == pytest.approx(0.0)
    assert s.loc[("contagion off", "all"), "gain_vs_ref"] == pytest.approx(0.0)
    assert s.loc[("contagion on", "crm+social"), "gain_vs_crm"] == pytest.approx(0.02)
    assert s.loc[("contagion on", "crm"), "roc_auc"] == pytest.approx(0.62)
    assert s.loc[("contagion on", "crm"), "roc_auc_sd"] == pytest.approx(0.04 / 2**0.5)
    assert s.loc[("contagion on", "all"), "oracle_gap"] == pytest.approx(0.10)
    md = markdown_table(summary)
    assert "| contagion on | all | 0.670 ± 0.028 |" in md

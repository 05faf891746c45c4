"""Charts take an Axes or make their own figure (one shared helper, each module's sizes)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from socialcrm.evaluation import plots
from socialcrm.evaluation.plots import ax_or_new, roc
from socialcrm.reports.plots import platform_shares


def test_ax_or_new_makes_a_figure_only_when_none_is_given():
    ax = ax_or_new(None, (3, 2))
    assert tuple(ax.figure.get_size_inches()) == (3, 2)
    _, given = plt.subplots()
    assert ax_or_new(given) is given
    plt.close("all")


def test_evaluation_and_report_charts_keep_their_default_sizes():
    ax = roc(np.array([0, 1, 0, 1]), {"model": np.array([0.1, 0.9, 0.4, 0.6])})
    assert tuple(ax.figure.get_size_inches()) == (5, 4)
    dist = pd.DataFrame({"platform": ["x", "instagram"], "share_of_customers": [0.2, 0.5]})
    assert tuple(platform_shares(dist).figure.get_size_inches()) == (7, 4)
    plt.close("all")


def test_roc_and_pr_legends_carry_the_area_against_an_independent_formula():
    from sklearn.metrics import average_precision_score, roc_auc_score

    from socialcrm.evaluation.plots import precision_recall

    y = np.array([0, 1, 0, 1, 1, 0, 0, 1])
    s = np.array([0.1, 0.9, 0.4, 0.6, 0.3, 0.2, 0.7, 0.8])
    labels = [t.get_text() for t in roc(y, {"model": s}).get_legend().get_texts()]
    assert labels == [f"model (AUC {roc_auc_score(y, s):.3f})"]
    labels = [t.get_text() for t in precision_recall(y, {"m": s}).get_legend().get_texts()]
    assert labels == [f"m (AP {average_precision_score(y, s):.3f})"]
    lines = roc(y, {"a": s, "b": 1 - s}).get_lines()[1:]
    assert lines[0].get_linestyle() != lines[1].get_linestyle()  # a line on a line shows
    plt.close("all")


def test_each_model_is_set_against_the_actuals_of_its_own_deciles():
    from socialcrm.evaluation.value import decile_table

    rng = np.random.default_rng(0)
    y = rng.gamma(1.0, 100.0, 1000)
    good, reversed_ = y + rng.normal(0, 5, 1000), -y
    tables = {"good": decile_table(y, good), "reversed": decile_table(y, reversed_)}
    ax = plots.deciles(tables)
    marks = [c.get_offsets()[:, 1] for c in ax.collections]
    assert len(marks) == 2
    # the reversed model's top decile holds the customers who spent least
    np.testing.assert_allclose(marks[0], tables["good"].mean_actual)
    np.testing.assert_allclose(marks[1], tables["reversed"].mean_actual)
    assert marks[1][0] < marks[1][-1] and marks[0][0] > marks[0][-1]


def test_policy_values_draw_one_interval_per_policy_with_the_truth():
    table = pd.DataFrame(
        {
            "policy": ["learned", "learned", "random", "logging"],
            "estimator": ["dr", "ipw", "dr", "on-policy"],
            "value": [10.0, 11.0, 5.0, 7.0],
            "lower": [9.0, 9.5, 4.0, 6.5],
            "upper": [11.0, 12.0, 6.0, 7.5],
            "true_value": [10.5, 10.5, 5.2, np.nan],
        }
    )
    ax = plots.policy_values(table, "dr")
    # one row per policy: the dr rows and the logging policy, lowest value first
    assert [t.get_text() for t in ax.get_yticklabels()] == ["random", "logging", "learned"]
    spans = sorted(tuple(line.get_xdata()) for line in ax.get_lines())
    assert spans == [(4.0, 6.0), (6.5, 7.5), (9.0, 11.0)]
    ax = plots.offer_mix(pd.DataFrame({"action": ["A", "none"], "share": [0.7, 0.3]}))
    assert [round(p.get_width(), 2) for p in ax.patches] == [0.7, 0.3]
    plt.close("all")

"""Charts take an Axes or make their own figure (one shared helper, each module's sizes)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

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

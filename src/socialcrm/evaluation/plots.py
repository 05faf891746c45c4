"""Evaluation charts. Each takes ``ax=None`` and returns the Axes; callers save or log them."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)


def ax_or_new(ax: plt.Axes | None, size: tuple[float, float] = (5, 4)) -> plt.Axes:
    """``ax``, or the Axes of a new figure of ``size`` inches when it is None."""
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


# each line its own dash, so that a line lying on another stays visible
_STYLES = ("-", "--", "-.", (0, (1, 1)), (0, (5, 1, 1, 1)))


def _curves(ax, curves: dict[str, tuple], xlabel: str, ylabel: str, title: str) -> plt.Axes:
    for i, (name, (x, y)) in enumerate(curves.items()):
        ax.plot(x, y, label=name, linestyle=_STYLES[i % len(_STYLES)])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def roc(y, scores: dict[str, np.ndarray], ax=None) -> plt.Axes:
    """ROC curves of several scorers on the same labels."""
    ax = ax_or_new(ax)
    ax.plot([0, 1], [0, 1], linestyle=":", color="gray")
    curves = {
        f"{name} (AUC {roc_auc_score(y, s):.3f})": roc_curve(y, s)[:2] for name, s in scores.items()
    }
    return _curves(ax, curves, "false positive rate", "true positive rate", "ROC")


def precision_recall(y, scores: dict[str, np.ndarray], ax=None) -> plt.Axes:
    """Precision-recall curves, with the positive rate as the chance line."""
    ax = ax_or_new(ax)
    ax.axhline(np.mean(y), linestyle=":", color="gray")
    curves = {}
    for name, s in scores.items():
        prec, rec, _ = precision_recall_curve(y, s)
        curves[f"{name} (AP {average_precision_score(y, s):.3f})"] = (rec, prec)
    return _curves(ax, curves, "recall", "precision", "Precision-recall")


def calibration(table: pd.DataFrame, ax=None) -> plt.Axes:
    """Observed rate against mean predicted probability per bin."""
    ax = ax_or_new(ax)
    hi = max(table.mean_predicted.max(), table.observed_rate.max()) * 1.05
    ax.plot([0, hi], [0, hi], linestyle=":", color="gray")
    ax.plot(table.mean_predicted, table.observed_rate, marker="o")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed rate")
    ax.set_title("Calibration")
    return ax


def lift(curves: dict[str, pd.DataFrame], ax=None) -> plt.Axes:
    """The gain chart: cumulative share of churners captured by share contacted (the
    lift at k is its slope from the origin), from :func:`lift_curve` tables."""
    ax = ax_or_new(ax)
    ax.plot([0, 1], [0, 1], linestyle=":", color="gray", label="random")
    for i, (name, c) in enumerate(curves.items()):
        ax.plot(c.share_contacted, c.capture, label=name, linestyle=_STYLES[i % len(_STYLES)])
    ax.set_xlabel("share of customers contacted (highest risk first)")
    ax.set_ylabel("share of churners captured")
    ax.set_title("Gain (cumulative capture)")
    ax.legend(fontsize=8)
    return ax


def profit(curve: pd.DataFrame, cut: dict[str, float], ax=None) -> plt.Axes:
    """Expected (and realised) campaign profit by number contacted, with the best cut."""
    ax = ax_or_new(ax, (6, 4))
    ax.plot(curve.contacted, curve.expected_profit, label="expected")
    if "realised_profit" in curve:
        ax.plot(
            curve.contacted, curve.realised_profit, label="realised on the test cutoff", alpha=0.7
        )
    ax.axvline(cut["contacted"], linestyle="--", color="gray")
    ax.set_xlabel("customers contacted")
    ax.set_ylabel("profit (units of task.saved_value and contact_cost)")
    ax.set_title(f"Retention campaign: best cut {int(cut['contacted']):,} customers")
    ax.legend(fontsize=8)
    return ax


def deciles(tables: dict[str, pd.DataFrame], ax=None) -> plt.Axes:
    """Per model, mean predicted value per decile of its own prediction (bars) against
    the mean actual value of the same customers (black marks), 1 = highest.

    ``tables`` maps a model name to :func:`socialcrm.evaluation.value.decile_table`;
    each model is judged on its own deciles, so a bar reaching its mark is calibrated.
    """
    ax = ax_or_new(ax, (7, 4))
    names = list(tables)
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        t = tables[name]
        x = t["decile"].to_numpy(dtype=float) - 0.4 + width * (i + 0.5)
        ax.bar(x, t["mean_predicted"], width, label=f"{name}: predicted")
        ax.scatter(
            x,
            t["mean_actual"],
            marker="_",
            s=200 * width,
            color="black",
            zorder=3,
            label="actual (same customers)" if i == 0 else None,
        )
    ax.set_xticks(np.arange(1, 11))
    ax.set_xlabel("decile of each model's own prediction (1 = highest value)")
    ax.set_ylabel("mean value per customer")
    ax.set_title("Decile calibration: predicted (bars) vs actual (marks)")
    ax.legend(fontsize=8)
    return ax


def gain(y, scores: dict[str, np.ndarray], ax=None) -> plt.Axes:
    """Cumulative share of actual value by share of customers, ranked by each score
    (the Lorenz / gain curve), with the perfect ranking and a random one."""
    from socialcrm.evaluation.value import gain_curve

    ax = ax_or_new(ax)
    curves = {}
    for name, s in {"perfect": y, **scores}.items():
        g = gain_curve(y, s)
        curves[name] = (g.share_customers, g.share_value)
    ax.plot([0, 1], [0, 1], linestyle=":", color="gray", label="random")
    return _curves(
        ax, curves, "share of customers (highest predicted first)", "share of actual value", "Gain"
    )


def policy_values(table: pd.DataFrame, estimator: str = "dr", ax=None) -> plt.Axes:
    """Each policy's estimated value with its interval (one estimator), the logging
    policy's on-policy value, and the true value where known (marks).

    ``table`` has ``policy, estimator, value, lower, upper`` and optionally ``true_value``.
    """
    rows = table[(table["estimator"] == estimator) | (table["policy"] == "logging")]
    rows = rows.sort_values("value").reset_index(drop=True)
    ax = ax_or_new(ax, (7, 0.35 * len(rows) + 1.5))
    y = np.arange(len(rows))
    colors = [
        "#d62728" if p == "learned" else "#2ca02c" if p == "logging" else "#1f77b4"
        for p in rows["policy"]
    ]
    for i, r in enumerate(rows.itertuples()):
        ax.plot([r.lower, r.upper], [i, i], color=colors[i], linewidth=1.5)
    ax.scatter(
        rows["value"], y, c=colors, zorder=3, label=f"estimate ({estimator}; logging: on-policy)"
    )
    if "true_value" in rows and rows["true_value"].notna().any():
        ax.scatter(rows["true_value"], y, marker="x", color="black", zorder=4, label="true value")
    ax.set_yticks(y)
    ax.set_yticklabels(rows["policy"], fontsize=8)
    ax.set_xlabel("value per contact (reward units), 95% interval")
    ax.set_title("Policy values on the test contacts")
    ax.legend(fontsize=8)
    return ax


def offer_mix(table: pd.DataFrame, ax=None) -> plt.Axes:
    """Share of contacts the policy gives each action (``action, share``)."""
    ax = ax_or_new(ax, (6, 3.5))
    ax.barh(table["action"], table["share"])
    ax.invert_yaxis()
    ax.set_xlabel("share of contacts")
    ax.set_title("The learned policy's offer mix")
    return ax

"""Charts of the insight report. Each takes ``ax=None`` and returns the Axes;
the caller saves or logs the figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandas as pd

from socialcrm.evaluation.plots import ax_or_new
from socialcrm.reports.insights import ENGAGEMENT_ORDER, SEGMENT_ORDER


def platform_shares(dist: pd.DataFrame, ax: plt.Axes | None = None) -> plt.Axes:
    """Horizontal bars: share of consenting customers on each platform."""
    ax = ax_or_new(ax, (7, 4))
    d = dist.sort_values("share_of_customers")
    ax.barh(d["platform"], d["share_of_customers"] * 100, color="tab:blue")
    for y, v in enumerate(d["share_of_customers"]):
        ax.text(v * 100 + 0.5, y, f"{v:.0%}", va="center", fontsize=8)
    ax.set_xlabel("% of consenting customers with an account")
    ax.set_title("Customers on each social platform")
    return ax


def platform_combinations(combos: pd.DataFrame, ax: plt.Axes | None = None) -> plt.Axes:
    """UpSet-style bars: the most common sets of platforms used together."""
    ax = ax_or_new(ax, (8, 4.5))
    d = combos.iloc[::-1]
    ax.barh(d["combination"], d["share"] * 100, color="tab:purple")
    ax.set_xlabel("% of consenting customers")
    ax.set_title("Platforms used together (most common combinations)")
    ax.tick_params(axis="y", labelsize=8)
    return ax


def value_deciles(deciles: pd.DataFrame, ax: plt.Axes | None = None) -> plt.Axes:
    """Social presence and activity (left axis) and sentiment (right) by value decile."""
    ax = ax_or_new(ax, (8, 4.5))
    x = deciles["decile"]
    ax.plot(x, deciles["on_social"] * 100, marker="o", label="on social media")
    ax.plot(x, deciles["posting"] * 100, marker="s", label="posted in the last year")
    ax.set_xlabel("past 12-month value decile (10 = best customers)")
    ax.set_ylabel("% of consenting customers")
    ax.set_xticks(range(1, 11))
    ax.set_ylim(0, 100)
    right = ax.twinx()
    right.plot(x, deciles["sentiment"], color="tab:red", marker="^", label="mean post sentiment")
    right.set_ylabel("mean post sentiment (-1..1)", color="tab:red")
    lo, hi = deciles["sentiment"].min(), deciles["sentiment"].max()
    if np.isfinite(lo) and np.isfinite(hi):
        mid, half = (lo + hi) / 2, max((hi - lo) / 2 + 0.05, 0.25)  # do not magnify noise
        right.set_ylim(mid - half, mid + half)
    lines = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="lower right", fontsize=8)
    ax.set_title("Do our best customers use social media?")
    return ax


def segments(seg: pd.DataFrame, ax: plt.Axes | None = None) -> plt.Axes:
    """Stacked bars: customers per RFM segment, split by social engagement."""
    ax = ax_or_new(ax, (8, 4.5))
    table = (
        seg.pivot_table(index="segment", columns="social", values="customers", observed=False)
        .reindex(index=SEGMENT_ORDER, columns=ENGAGEMENT_ORDER)
        .fillna(0)
    )
    bottom = np.zeros(len(table))
    colors = ["tab:green", "tab:olive", "tab:gray", "lightgray"]
    for col, color in zip(table.columns, colors, strict=True):
        ax.bar(table.index.astype(str), table[col], bottom=bottom, label=col, color=color)
        bottom += table[col].to_numpy()
    ax.set_ylabel("customers")
    ax.set_title("RFM segments by social engagement")
    ax.tick_params(axis="x", rotation=30, labelsize=8)
    ax.legend(fontsize=8)
    return ax


def latent_customers(latent: pd.DataFrame, ax: plt.Axes | None = None) -> plt.Axes:
    """Bars: engaged non-customer accounts per platform."""
    ax = ax_or_new(ax, (7, 4))
    ax.bar(latent["platform"], latent["engaged"], color="tab:orange", label="engage with the brand")
    ax.bar(
        latent["platform"],
        latent["tied_to_customers"],
        color="none",
        edgecolor="black",
        hatch="//",
        label="connected to a customer",
    )
    ax.set_ylabel("non-customer accounts")
    ax.set_title("Latent customers: engaged with the brand, never bought")
    ax.legend(fontsize=8)
    return ax


def degree_distribution(degrees: pd.Series, ax: plt.Axes | None = None) -> plt.Axes:
    """Log-log complementary CDF of node degree."""
    ax = ax_or_new(ax, (5, 4))
    d = np.sort(degrees.to_numpy())
    ccdf = 1.0 - np.arange(len(d)) / len(d)
    ax.loglog(d, ccdf, marker=".", linestyle="none", markersize=3)
    ax.set_xlabel("degree")
    ax.set_ylabel("share of nodes with at least this degree")
    ax.set_title("Degree distribution")
    return ax


def community_sizes(sizes: pd.Series, ax: plt.Axes | None = None) -> plt.Axes:
    """Histogram of community sizes (log bins)."""
    ax = ax_or_new(ax, (5, 4))
    s = sizes.to_numpy()
    bins = np.unique(np.logspace(0, np.log10(max(s.max(), 2)), 20).astype(int))
    ax.hist(s, bins=bins, color="tab:cyan")
    ax.set_xscale("log")
    ax.set_xlabel("community size (nodes)")
    ax.set_ylabel("communities")
    ax.set_title("Communities")
    return ax


def influencer_sample(
    edges: pd.DataFrame, centres: list[int], kinds: dict[int, str], ax: plt.Axes | None = None
) -> plt.Axes:
    """Draw the neighbourhoods of the top influencers (anonymous nodes).

    Parameters
    ----------
    edges
        ``src``, ``dst`` node numbers of the sampled subgraph.
    centres
        The influencers' node numbers (drawn large, labelled #1, #2, ...).
    kinds
        Node number -> ``customer``, ``churned customer`` or ``non-customer``.
    """
    ax = ax_or_new(ax, (8, 7))
    g = nx.Graph()
    g.add_edges_from(zip(edges["src"], edges["dst"], strict=True))
    g.add_nodes_from(centres)
    pos = nx.spring_layout(g, seed=7, k=0.35)
    palette = {"customer": "tab:blue", "churned customer": "tab:red", "non-customer": "tab:orange"}
    nodes = list(g.nodes)
    nx.draw_networkx_edges(g, pos, ax=ax, alpha=0.25, width=0.6)
    nx.draw_networkx_nodes(
        g,
        pos,
        nodelist=nodes,
        node_size=[260 if n in centres else 28 for n in nodes],
        node_color=[palette.get(kinds.get(n, "non-customer"), "gray") for n in nodes],
        ax=ax,
    )
    nx.draw_networkx_labels(
        g, pos, labels={c: f"#{i + 1}" for i, c in enumerate(centres)}, font_size=8, ax=ax
    )
    for kind, color in palette.items():
        ax.scatter([], [], color=color, label=kind)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title("Around the top influencers (PageRank), anonymised")
    ax.set_axis_off()
    return ax

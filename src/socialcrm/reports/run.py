"""Write the Social CRM insight report (the I/O edge) and log it to MLflow.

Usage::

    socialcrm report                         # the default data set
    socialcrm report data=own features.churn.definition=inactivity

Builds the customer features as of one date (all groups, no labels), answers
the domain's questions from them, and writes ``report.md`` with PNG figures to
``report.output_dir`` (atomically), then logs the same folder, the headline
numbers and the as-of date as one MLflow run in the ``insights`` experiment.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import duckdb
import hydra
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

import socialcrm.config  # noqa: F401  (registers the ${project_root:} resolver)
from socialcrm.data.io import atomic_dir
from socialcrm.features import graph
from socialcrm.features.build import build_features, data_bounds
from socialcrm.features.config import GROUPS, feature_config
from socialcrm.features.engine import connect, register_folder
from socialcrm.listening import build_scorer_fn
from socialcrm.reports import insights, plots
from socialcrm.reports.markdown import to_html, to_markdown

REPORT_FILE = "report.md"
HTML_FILE = "report.html"


def report_as_of(con: duckdb.DuckDBPyConnection, configured: str | None) -> pd.Timestamp:
    """The configured date, or the day after the last transaction."""
    if configured:
        return pd.Timestamp(configured)
    _, last = data_bounds(con)
    return last.normalize() + pd.Timedelta(days=1)


def compute(cfg: DictConfig, console: Console | None = None) -> dict:
    """All numbers and figure inputs of the report (reads the ingested data set)."""
    # every descriptive group; the report does not use the BTYD model outputs
    fcfg = replace(feature_config(cfg.features), groups=[g for g in GROUPS if g != "btyd"])
    eng = fcfg.duckdb  # the report's one cutoff is small: always DuckDB
    con = connect(eng.threads, eng.memory_limit, eng.temp_dir)
    register_folder(con, cfg.data.interim_dir)
    as_of = report_as_of(con, cfg.report.as_of)
    scorer_fn = build_scorer_fn(cfg.listening)
    if console is not None:
        console.print(f"insight report: features as of {as_of:%Y-%m-%d}")
    ft = build_features(
        con, fcfg, list(cfg.data.platforms), scorer_fn, cutoffs=[as_of], with_labels=False
    )
    consent = con.execute("SELECT customer_id, consent_social FROM customers").df()
    features = ft.frame.merge(consent, on="customer_id", how="left")
    features["consent_social"] = features["consent_social"].fillna(False).astype(bool)
    current = set(features["customer_id"])
    n_consenting = int(features["consent_social"].sum())

    linked = con.execute(
        """SELECT customer_id, platform FROM linked_accounts
           WHERE created_at IS NULL OR created_at < ?""",
        [as_of.to_pydatetime()],
    ).df()
    linked = linked[linked["customer_id"].isin(current)]
    platforms = list(cfg.data.platforms)
    dist = insights.platform_distribution(linked, n_consenting, platforms)
    combos, per_customer = insights.platform_combinations(
        linked, n_consenting, cfg.report.top_combinations
    )
    deciles = insights.value_deciles(features)
    segments = insights.segments(features)
    latent = _latent(con, as_of, scorer_fn)
    net = _network(con, fcfg, as_of, cfg.report.influencers, cfg.report.max_drawn_nodes)
    return {
        "as_of": as_of,
        "customers": len(features),
        "consenting": n_consenting,
        "platforms": dist,
        "combinations": combos,
        "per_customer": per_customer,
        "deciles": deciles,
        "segments": segments,
        "latent": latent,
        "network": net,
    }


def _latent(con: duckdb.DuckDBPyConnection, as_of: pd.Timestamp, scorer_fn) -> pd.DataFrame:
    at = [as_of.to_pydatetime()]
    accounts = con.execute(
        """SELECT account_id, platform, follows_brand FROM social_accounts
           WHERE customer_id IS NULL AND (created_at IS NULL OR created_at < ?)""",
        at,
    ).df()
    posts = con.execute(
        """SELECT p.account_id, p.text, p.mentions_brand FROM posts p
           JOIN social_accounts a ON a.account_id = p.account_id
           WHERE a.customer_id IS NULL AND p.timestamp < ?""",
        at,
    ).df()
    scores = scorer_fn(posts["text"].tolist()) if len(posts) else None
    posts = posts.drop(columns="text").assign(
        sentiment=scores["sentiment"].to_numpy() if scores is not None else [],
        complaint=scores["complaint"].to_numpy() if scores is not None else [],
    )
    ties = con.execute(
        """WITH e AS (
               SELECT src_account_id AS a, dst_account_id AS b
               FROM visible_edges WHERE timestamp < ?
               UNION ALL
               SELECT dst_account_id, src_account_id
               FROM visible_edges WHERE timestamp < ?)
           SELECT e.a AS account_id, count(DISTINCT l.customer_id) AS customers
           FROM e JOIN linked_accounts l ON l.account_id = e.b GROUP BY e.a""",
        at * 2,
    ).df()
    contacts = ties.set_index("account_id")["customers"]
    return insights.latent_customers(accounts, posts, contacts)


def _network(
    con: duckdb.DuckDBPyConnection, fcfg, as_of: pd.Timestamp, n_top: int, max_nodes: int
) -> dict:
    """Graph size, degree and community distributions, and an anonymous drawn sample."""
    ga = graph.graph_at(con, as_of, fcfg.graph.damping, fcfg.graph.seed)
    pairs = insights.undirected_pairs(ga.src, ga.dst)
    degrees = insights.degree_distribution(pairs)
    sizes = pd.Series(np.bincount(ga.membership)) if len(ga.nodes) else pd.Series([], dtype=int)
    cust = con.execute(
        """SELECT n.idx, s.churn_date IS NOT NULL AS churned
           FROM g_node_customer n
           LEFT JOIN g_status s ON s.customer_id = n.customer_id AND s.cutoff = ?""",
        [as_of.to_pydatetime()],
    ).df()
    pos = np.searchsorted(ga.nodes, cust["idx"].to_numpy())
    ok = pos < len(ga.nodes)
    ok[ok] = ga.nodes[pos[ok]] == cust["idx"].to_numpy()[ok]
    kind = np.full(len(ga.nodes), "non-customer", dtype=object)
    kind[pos[ok]] = np.where(cust["churned"].to_numpy()[ok], "churned customer", "customer")
    customer_nodes = np.flatnonzero(kind != "non-customer")
    current = np.flatnonzero(kind == "customer")  # influencers worth acting on are still customers
    top = current[np.argsort(-ga.pagerank[current], kind="stable")[:n_top]]
    # the influencers' neighbourhoods, capped, chosen deterministically
    und = pd.DataFrame({"src": ga.src, "dst": ga.dst})
    und = pd.concat([und, und.rename(columns={"src": "dst", "dst": "src"})], ignore_index=True)
    keep = set(top.tolist())
    per_centre = max((max_nodes - len(top)) // max(len(top), 1), 1)
    for c in top:
        nb = np.unique(und.loc[und["src"] == c, "dst"].to_numpy())
        keep.update(nb[np.argsort(-ga.pagerank[nb], kind="stable")][:per_centre].tolist())
    sample = und[und["src"].isin(keep) & und["dst"].isin(keep) & (und["src"] < und["dst"])]
    return {
        "nodes": len(ga.nodes),
        "customer_nodes": len(customer_nodes),
        "edges": len(pairs),
        "mean_degree": float(degrees.mean()) if len(degrees) else 0.0,
        "max_degree": int(degrees.max()) if len(degrees) else 0,
        "communities": int((sizes > 0).sum()),
        "largest_community": int(sizes.max()) if len(sizes) else 0,
        "degrees": degrees,
        "community_sizes": sizes[sizes > 0],
        "sample_edges": sample.drop_duplicates().reset_index(drop=True),
        "centres": top.tolist(),
        "kinds": {int(n): str(kind[n]) for n in keep},
        "top_pagerank": [float(ga.pagerank[c]) for c in top],
    }


def headline(r: dict) -> dict[str, float]:
    """The report's key numbers (logged as MLflow metrics)."""
    d, per = r["deciles"], r["per_customer"]
    on_social = 1 - per.loc[per["n_platforms"] == 0, "share"].sum()
    latent = r["latent"]
    return {
        "customers": float(r["customers"]),
        "consent_share": r["consenting"] / max(r["customers"], 1),
        "social_presence_share": float(on_social),
        "multi_platform_share": float(per.loc[per["n_platforms"] >= 2, "share"].sum()),
        "top_decile_on_social": float(d["on_social"].iloc[-1]),
        "bottom_half_on_social": float(d["on_social"].iloc[:5].mean()),
        "top_decile_value_share": float(d["value_share"].iloc[-1]),
        "latent_engaged_accounts": float(latent["engaged"].sum()),
        "graph_nodes": float(r["network"]["nodes"]),
        "graph_edges": float(r["network"]["edges"]),
        "graph_communities": float(r["network"]["communities"]),
    }


def render(r: dict, data_name: str) -> tuple[str, dict[str, plt.Figure]]:
    """The Markdown text and the figures (name -> Figure) of the report."""
    figs: dict[str, plt.Figure] = {}

    def fig(name: str, draw, size=(7, 4)) -> str:
        f, ax = plt.subplots(figsize=size)
        draw(ax)
        f.tight_layout()
        figs[name] = f
        return f"![{name}]({name}.png)"

    h = headline(r)
    net = r["network"]
    d = r["deciles"]
    platforms = r["platforms"].assign(
        share_of_customers=lambda x: x.share_of_customers.map("{:.1%}".format),
        share_of_social_customers=lambda x: x.share_of_social_customers.map("{:.1%}".format),
    )
    seg = r["segments"].copy()
    seg["segment"] = seg["segment"].astype(str)
    seg["social"] = seg["social"].astype(str)
    md = [
        f"# Social CRM insight report: `{data_name}`",
        "",
        f"As of **{r['as_of']:%Y-%m-%d}**: {r['customers']:,} current customers, of whom "
        f"{r['consenting']:,} ({h['consent_share']:.0%}) consented to linking their social "
        "media accounts. Every statistic that links a customer to social media uses only "
        "those who consented. No handle, e-mail, post text or customer identifier appears "
        "in this report.",
        "",
        "## 1. Which platforms do our customers use?",
        "",
        f"{h['social_presence_share']:.0%} of consenting customers have at least one account; "
        f"{h['multi_platform_share']:.0%} use two or more platforms.",
        "",
        fig("platform_shares", lambda ax: plots.platform_shares(r["platforms"], ax)),
        "",
        to_markdown(platforms),
        "",
        fig(
            "platform_combinations",
            lambda ax: plots.platform_combinations(r["combinations"], ax),
            (8, 4.5),
        ),
        "",
        to_markdown(r["combinations"]),
        "",
        to_markdown(r["per_customer"]),
        "",
        "## 2. Do our best customers use social media?",
        "",
        "Customers ranked by value in the 12 months before the as-of date, in deciles "
        f"(10 = best). The top decile holds {h['top_decile_value_share']:.0%} of that value; "
        f"{h['top_decile_on_social']:.0%} of its consenting customers are on social media, "
        f"against {h['bottom_half_on_social']:.0%} in the bottom half.",
        "",
        fig("value_deciles", lambda ax: plots.value_deciles(d, ax), (8, 4.5)),
        "",
        to_markdown(d, floats="{:.2f}"),
        "",
        "## 3. Segments: RFM by social engagement",
        "",
        "RFM quintiles over the last 365 days (recency, frequency, monetary value), named "
        "as usual (champions, loyal, ..., hibernating), crossed with social engagement: "
        "*active* (posted in the last year), *passive* (accounts but no posts), *not on "
        "social*, and *no consent* (unknown).",
        "",
        fig("segments", lambda ax: plots.segments(r["segments"], ax), (8, 4.5)),
        "",
        to_markdown(
            seg[
                [
                    "segment",
                    "social",
                    "customers",
                    "share_of_customers",
                    "mean_value",
                    "share_of_value",
                ]
            ],
            floats="{:.3f}",
        ),
        "",
        "## 4. Latent customers",
        "",
        "Accounts that follow or mention the brand but belong to no customer: people to "
        f"convert. {int(h['latent_engaged_accounts']):,} such accounts engage with the brand.",
        "",
        fig("latent_customers", lambda ax: plots.latent_customers(r["latent"], ax)),
        "",
        to_markdown(r["latent"]),
        "",
        "## 5. The social graph",
        "",
        f"{net['nodes']:,} nodes ({net['customer_nodes']:,} consenting customers, the rest "
        f"non-customer accounts) and {net['edges']:,} connections (follows, mentions, replies); "
        f"mean degree {net['mean_degree']:.1f}, maximum {net['max_degree']}; "
        f"{net['communities']:,} communities, the largest with {net['largest_community']:,} nodes.",
        "",
        fig(
            "degree_distribution", lambda ax: plots.degree_distribution(net["degrees"], ax), (5, 4)
        ),
        fig(
            "community_sizes", lambda ax: plots.community_sizes(net["community_sizes"], ax), (5, 4)
        ),
        "",
        fig(
            "influencer_sample",
            lambda ax: plots.influencer_sample(
                net["sample_edges"], net["centres"], net["kinds"], ax
            ),
            (8, 7),
        ),
        "",
        "Top influencers among current customers, scaled PageRank (1 = average node): "
        + ", ".join(f"#{i + 1}: {p:.1f}" for i, p in enumerate(net["top_pagerank"])),
        "",
    ]
    return "\n".join(md), figs


def run_report(cfg: DictConfig, console: Console | None = None) -> dict[str, float]:
    """Compute, write and (if configured) log the insight report; return its headline numbers."""
    r = compute(cfg, console)
    text, figs = render(r, cfg.data.name)
    out = Path(cfg.report.output_dir)
    h = headline(r)
    with atomic_dir(out) as tmp:
        for name, f in figs.items():
            f.savefig(tmp / f"{name}.png", dpi=110)
            plt.close(f)
        (tmp / REPORT_FILE).write_text(text, encoding="utf-8")
        # the same report as one page with its images inside, for the MLflow UI
        images = {f"{name}.png": (tmp / f"{name}.png").read_bytes() for name in figs}
        title = f"Social CRM insight report: {cfg.data.name}"
        (tmp / HTML_FILE).write_text(to_html(text, images, title), encoding="utf-8")
        (tmp / "headline.json").write_text(json.dumps(h, indent=2) + "\n")
    if cfg.report.log_to_mlflow:
        import mlflow

        from socialcrm.tracking import start_run

        with start_run(
            cfg.tracking,
            "insights",
            run_name=f"insights-{cfg.data.name}",
            tags={"data": cfg.data.name, "kind": "insight report"},
        ) as run:
            mlflow.log_params({"data": cfg.data.name, "as_of": f"{r['as_of']:%Y-%m-%d}"})
            mlflow.log_params(
                {f"features.{k}": v for k, v in OmegaConf.to_container(cfg.features.churn).items()}
            )
            mlflow.log_metrics(h)
            mlflow.log_artifacts(str(out), artifact_path="insights")
            h = {**h, "mlflow_run_id": run.info.run_id}
    if console is not None:
        t = Table(title=f"insight report ({cfg.data.name}, as of {r['as_of']:%Y-%m-%d})")
        t.add_column("headline")
        t.add_column("value", justify="right")
        for k, v in h.items():
            t.add_row(
                k,
                f"{v:.3f}"
                if isinstance(v, float) and abs(v) < 10
                else f"{v:,.0f}"
                if isinstance(v, float)
                else str(v),
            )
        console.print(t)
        console.print(f"written to {out / REPORT_FILE}")
    return h


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 10 else f"{v:,.0f}"
    return str(v)


@hydra.main(config_path="../../../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_report(cfg, console=Console())


if __name__ == "__main__":
    main()

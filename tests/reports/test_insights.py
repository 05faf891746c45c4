"""The insight report: its numbers on data with a known answer, and its privacy."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from socialcrm.config import compose
from socialcrm.data.generate import write_synthetic
from socialcrm.data.load import DataSource, ingest
from socialcrm.reports import insights
from socialcrm.reports.run import REPORT_FILE, run_report
from socialcrm.tracking import configure, experiment_name


def test_platform_distribution_counts_consenting_customers_once_per_platform():
    linked = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c", "c", "c"],
            "platform": ["x", "x", "x", "x", "tiktok", "instagram"],
        }
    )
    d = insights.platform_distribution(
        linked, n_consenting=4, platforms=["x", "tiktok", "instagram", "linkedin"]
    )
    d = d.set_index("platform")
    assert d.loc["x", "customers"] == 3 and d.loc["x", "share_of_customers"] == 0.75
    assert d.loc["linkedin", "customers"] == 0
    assert d.loc["tiktok", "share_of_social_customers"] == pytest.approx(1 / 3)
    combos, per = insights.platform_combinations(linked, n_consenting=4)
    assert set(combos.combination) == {"x", "instagram + tiktok + x", "(none)"}
    assert per.set_index("n_platforms").customers.to_dict() == {0: 1, 1: 2, 3: 1}
    assert per.share.sum() == pytest.approx(1.0)


def test_value_deciles_rank_customers_and_split_value():
    n = 200
    f = pd.DataFrame(
        {
            "monetary_365d": np.arange(n, dtype=float),
            "consent_social": np.arange(n) % 2 == 0,
            "n_platforms": (np.arange(n) >= 100).astype(float),  # the richer half is on social
            "n_posts_365d": 1.0,
            "brand_mentions_365d": 0.0,
            "sentiment_mean_365d": 0.1,
            "negative_share_365d": 0.0,
        }
    )
    d = insights.value_deciles(f)
    assert d.customers.tolist() == [20] * 10
    assert d.value_share.sum() == pytest.approx(1.0)
    assert d.on_social.tolist() == [0.0] * 5 + [1.0] * 5
    assert d.consent_share.tolist() == [0.5] * 10


def test_rfm_segments_follow_the_rules():
    rfm = pd.DataFrame({"R": [5, 3, 5, 5, 1, 1, 3], "F": [5, 5, 3, 1, 4, 1, 2]})
    assert insights.rfm_segment(rfm).tolist() == [
        "champions",
        "loyal",
        "potential loyalists",
        "new",
        "at risk",
        "hibernating",
        "need attention",
    ]


def test_degrees_from_undirected_pairs():
    pairs = insights.undirected_pairs(np.array([0, 1, 1, 2, 3]), np.array([1, 0, 2, 2, 0]))
    assert pairs.tolist() == [[0, 1], [0, 3], [1, 2]]
    assert insights.degree_distribution(pairs).to_dict() == {0: 2, 1: 2, 2: 1, 3: 1}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    cfg = compose(["data=synthetic_small", f"paths.root_dir={root}"])
    write_synthetic(cfg.data.generator, cfg.data.raw_dir, cfg.data.salt)
    ingest(DataSource.from_config(cfg.data))
    headline = run_report(cfg)
    return cfg, headline


def test_report_answers_every_question(report):
    cfg, headline = report
    out = cfg.report.output_dir
    text = Path(out, REPORT_FILE).read_text(encoding="utf-8")
    for section in (
        "Which platforms do our customers use",
        "Do our best customers use social media",
        "Segments: RFM by social engagement",
        "Latent customers",
        "The social graph",
    ):
        assert section in text
    for fig in (
        "platform_shares",
        "value_deciles",
        "segments",
        "latent_customers",
        "influencer_sample",
    ):
        png = Path(out, f"{fig}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    # the generator makes valuable customers more present on social media
    assert headline["top_decile_on_social"] > headline["bottom_half_on_social"]
    assert 0.6 < headline["consent_share"] < 0.8
    assert headline["graph_nodes"] > 0 and headline["latent_engaged_accounts"] > 0


def test_report_is_logged_to_mlflow_as_one_run(report, tmp_path):
    cfg, headline = report
    configure(cfg.tracking)
    exp = mlflow.get_experiment_by_name(experiment_name(cfg.tracking, "insights"))
    runs = mlflow.search_runs([exp.experiment_id], output_format="list")
    assert [r.info.run_id for r in runs] == [headline["mlflow_run_id"]]
    run = runs[0]
    assert run.data.metrics["consent_share"] == pytest.approx(headline["consent_share"])
    client = mlflow.MlflowClient()
    files = {f.path for f in client.list_artifacts(run.info.run_id, "insights")}
    assert {"insights/report.md", "insights/value_deciles.png", "insights/headline.json"} <= files
    # the UI shows the HTML page with its figures inside (Markdown shows as text)
    assert "insights/report.html" in files
    page = Path(client.download_artifacts(run.info.run_id, "insights/report.html", str(tmp_path)))
    html = page.read_text(encoding="utf-8")
    assert "<table>" in html and "<h1>" in html
    images = re.findall(r'<img src="([^"]*)"', html)
    assert len(images) >= 5 and all(i.startswith("data:image/png;base64,") for i in images)


def test_no_raw_text_handle_email_or_id_in_the_report_or_mlflow(report):
    cfg, _ = report
    raw = cfg.data.raw_dir
    posts = pd.read_parquet(f"{raw}/posts.parquet").text
    accounts = pd.read_parquet(f"{raw}/social_accounts.parquet")
    customers = pd.read_parquet(f"{raw}/customers.parquet")
    forbidden = {t for t in posts if len(t) >= 25}
    forbidden |= set(accounts.handle_hash.dropna()) | set(customers.email_hash.dropna())
    forbidden |= set(customers.customer_id) | set(accounts.account_id)
    artifact_root = Path(cfg.tracking.artifact_root)
    files = [*Path(cfg.report.output_dir).rglob("*"), *artifact_root.rglob("*")]
    texts = [
        f.read_text(encoding="utf-8")
        for f in files
        if f.is_file() and f.suffix in (".md", ".json", ".html")
    ]
    assert texts
    blob = "\n".join(texts)
    # ids are checked as whole words so that "C1" does not match inside numbers
    words = set(re.findall(r"[A-Za-z0-9_]+", blob))
    assert not [t for t in forbidden if len(t) >= 25 and t in blob]
    assert not (words & {f for f in forbidden if len(f) < 25})
    assert json.loads(Path(cfg.report.output_dir, "headline.json").read_text())

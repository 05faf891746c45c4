"""The airline-tweet protocol (socialcrm.experiments.listening_airline), the scorer
metrics, and the trainable model on real airline tweets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import train_test_split

from socialcrm.experiments.listening_airline import (
    markdown_tables,
    prepare_tweets,
    run_evaluation,
)
from socialcrm.listening import TextClassifierScorer, VaderScorer, complaint_score
from socialcrm.listening.metrics import complaint_metrics, label_metrics
from socialcrm.reports.markdown import render_into_readme

START, END = "<!-- results:start -->", "<!-- results:end -->"


def test_prepare_tweets_dedupes_and_defines_complaints() -> None:
    raw = pd.DataFrame(
        {
            "tweet_id": [1, 2, 2, 3, 4],
            "airline_sentiment": ["negative", "negative", "neutral", "negative", "positive"],
            "negativereason": ["Late Flight", "Can't Tell", "Can't Tell", np.nan, np.nan],
            "text": ["late\nagain", "meh", "meh", None, "yay"],
        }
    )
    tweets = prepare_tweets(raw)
    assert list(tweets["tweet_id"]) == [1, 2, 3, 4]
    assert list(tweets["sentiment"]) == ["negative", "negative", "negative", "positive"]
    assert list(tweets["complaint"]) == [True, False, False, False]
    assert tweets["text"][0] == "late\nagain" and tweets["text"][2] == ""


def test_render_into_readme(tmp_path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{START}\nold\n{END}\n\nafter\n")
    assert render_into_readme(readme, "| new |")
    assert readme.read_text() == f"# title\n\n{START}\n| new |\n{END}\n\nafter\n"
    (tmp_path / "plain.md").write_text("no markers")
    assert not render_into_readme(tmp_path / "plain.md", "x")
    assert not render_into_readme(tmp_path / "absent.md", "x")


def test_label_and_complaint_metrics_match_their_definitions() -> None:
    y = np.array(["negative", "neutral", "positive", "negative"], dtype=object)
    pred = np.array(["negative", "neutral", "positive", "positive"], dtype=object)
    m = label_metrics(y, pred)
    assert m["accuracy"] == 0.75
    assert m["macro_f1"] == pytest.approx(np.mean([2 / 3, 1.0, 2 / 3]))  # per-class F1s
    truth = np.array([True, True, False, False])
    score = np.array([0.9, 0.4, 0.5, 0.1])  # flags rows 0 and 2 at the 0.5 threshold
    c = complaint_metrics(truth, score)
    assert (c["precision"], c["recall"], c["f1"]) == (0.5, 0.5, 0.5)
    assert c["roc_auc"] == 0.75
    assert complaint_metrics(truth, np.zeros(4))["precision"] == 0.0  # nothing flagged


@pytest.mark.shared_data
def test_protocol_runs_on_a_sample(tweets) -> None:
    sample = tweets.groupby("sentiment").sample(n=150, random_state=0).reset_index(drop=True)
    params = {"inner_folds": 2, "n_jobs": 1}
    results = run_evaluation(sample, n_folds=2, seed=42, model_params=params)
    summary = results["summary"]
    assert set(summary["sentiment"]) == {
        "majority",
        "vader_raw",
        "vader",
        "tfidf_lr",
        "tfidf_svm",
        "model",
    }
    assert set(summary["complaint"]) == {"lexicon", "model_negative", "model"}
    acc = summary["sentiment"]["majority"]["accuracy"]
    assert acc["mean"] == pytest.approx(1 / 3, abs=0.01) and len(acc["folds"]) == 2
    table = markdown_tables(results)
    assert "TextClassifierScorer" in table and "ROC-AUC" in table and "±" in table


@pytest.mark.shared_data
@pytest.mark.slow
def test_model_beats_vader_on_real_tweets(tweets) -> None:
    train, test = train_test_split(
        tweets, test_size=0.2, stratify=tweets["sentiment"], random_state=42
    )
    model = TextClassifierScorer(inner_folds=3).fit(
        train["text"], train["sentiment"], complaints=train["complaint"]
    )
    scores = model.score(test["text"])
    truth = test["sentiment"].to_numpy(dtype=object)
    f1_model = f1_score(truth, scores["label"].to_numpy(dtype=object), average="macro")
    vader = VaderScorer().score(test["text"])
    f1_vader = f1_score(truth, vader["label"].to_numpy(dtype=object), average="macro")
    assert f1_model > 0.72, f1_model
    assert f1_model > f1_vader + 0.15, (f1_model, f1_vader)
    auc_model = roc_auc_score(test["complaint"], scores["complaint"])
    auc_lexicon = roc_auc_score(test["complaint"], complaint_score(test["text"].tolist()))
    assert auc_model > 0.85 and auc_model > auc_lexicon + 0.05, (auc_model, auc_lexicon)

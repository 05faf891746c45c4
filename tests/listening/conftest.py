"""Fixtures for the listening tests: small hand-written posts, a generated synthetic
world, and the real airline tweets (skipped with a reason when ../shared/data is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from socialcrm.config import compose
from socialcrm.listening import TextClassifierScorer

POSITIVE = [
    "I love this store, the staff were amazing and friendly!",
    "Great service today, thank you so much :)",
    "Fantastic quality, will definitely buy again",
    "Best experience ever, super fast delivery, so happy",
    "Awesome team, they were really helpful and kind",
    "Wonderful product, absolutely perfect, thanks!",
    "so pleased with my new jacket, excellent fit <3",
    "brilliant support, sorted everything in minutes, thank you",
    "really enjoyed the new collection, lovely designs",
    "top notch service and a great price, highly recommend",
    "thanks for the quick help, you guys rock",
    "happy customer here, everything arrived perfect",
]
NEUTRAL = [
    "Does the store open on Sundays?",
    "What time do you close today?",
    "Is the blue one available in size M?",
    "Just ordered a coffee maker, arriving next week",
    "Do you ship to Canada?",
    "Looking at the new sneakers for my brother",
    "How do I change the delivery address on my account?",
    "Picked up my order at the shop this afternoon",
    "Is there a student discount this month?",
    "Comparing the two blenders before I buy",
    "Which plan includes free returns?",
    "Will the sale start on Friday?",
]
NEGATIVE = [
    "My order is two weeks late and nobody answers the chat",
    "Charged twice for one order, I want a refund",
    "The app keeps crashing at checkout, useless",
    "Worst customer service ever, on hold for 2 hours",
    "The blender broke after one week, terrible quality",
    "Rude agent on the phone, never again",
    "Still waiting for my refund, this is ridiculous",
    "Package arrived damaged and parts are missing",
    "Flight cancelled and they lost my luggage",
    "so disappointed, the jacket fell apart after one wash",
    "billed me after I cancelled, awful experience",
    "delivery delayed again, fed up with this company",
]


@pytest.fixture(scope="session")
def small_set() -> pd.DataFrame:
    """36 hand-written posts: text, label, complaint (negatives here are complaints)."""
    texts = POSITIVE + NEUTRAL + NEGATIVE
    labels = ["positive"] * len(POSITIVE) + ["neutral"] * len(NEUTRAL)
    labels += ["negative"] * len(NEGATIVE)
    return pd.DataFrame(
        {"text": texts, "label": labels, "complaint": [lab == "negative" for lab in labels]}
    )


@pytest.fixture(scope="session")
def small_model(small_set: pd.DataFrame) -> TextClassifierScorer:
    """The trainable model fitted on the small set (with complaint labels)."""
    return TextClassifierScorer(inner_folds=3, char_min_df=1, n_jobs=1).fit(
        small_set["text"], small_set["label"], complaints=small_set["complaint"]
    )


@pytest.fixture(scope="session")
def synthetic_posts(tmp_path_factory) -> pd.DataFrame:
    """Posts of a freshly generated small synthetic world with their true labels."""
    from socialcrm.data.generate import write_synthetic

    cfg = compose(["data=synthetic_small"])
    root = tmp_path_factory.mktemp("listening_world")
    write_synthetic(cfg.data.generator, root, cfg.data.salt)
    posts = pd.read_parquet(root / "posts.parquet", columns=["post_id", "text"])
    truth = pd.read_parquet(root / "truth" / "posts.parquet")
    return posts.merge(truth[["post_id", "sentiment", "complaint"]], on="post_id", how="inner")


def tweets_path() -> Path:
    cfg = compose([])
    return Path(cfg.paths.shared_data_dir) / cfg.listening.evaluation.data_file


@pytest.fixture(scope="session")
def tweets() -> pd.DataFrame:
    """The deduplicated airline tweets; skips when ../shared/data is absent."""
    from socialcrm.experiments.listening_airline import read_tweets

    path = tweets_path()
    if not path.is_file():
        pytest.skip(f"real tweets not available at {path} (set $SOCIALCRM_SHARED_DATA)")
    return read_tweets(path)


def accuracy(a, b) -> float:
    return float(np.mean(np.asarray(a, dtype=object) == np.asarray(b, dtype=object)))

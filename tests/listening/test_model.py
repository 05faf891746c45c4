"""The trainable classifier: learns, round-trips through save/load, beats VADER."""

from __future__ import annotations

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from socialcrm.listening import TextClassifierScorer, VaderScorer, complaint_score
from socialcrm.listening.model import macro_f1, tune_class_bias

HELD_OUT = {
    "positive": [
        "love the staff, amazing and friendly service, thank you!",
        "so happy, great quality",
    ],
    "neutral": ["does the shop open on Saturday?", "is the red one available in size L?"],
    "negative": ["order is late and nobody answers, refund please", "charged twice, awful service"],
}


def test_learns_small_labelled_set(small_model, small_set) -> None:
    train_scores = small_model.score(small_set["text"])
    assert (train_scores["label"] == small_set["label"]).mean() >= 0.9
    texts = [t for ts in HELD_OUT.values() for t in ts]
    truth = [lab for lab, ts in HELD_OUT.items() for _ in ts]
    scores = small_model.score(texts)
    assert (scores["label"].to_numpy() == np.array(truth, dtype=object)).mean() >= 5 / 6
    # Sentiment is P(positive) - P(negative): positives above negatives.
    assert scores["sentiment"][:2].min() > scores["sentiment"][4:].max()
    proba = small_model.predict_proba(texts)
    assert list(proba.columns) == ["negative", "neutral", "positive"]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(scores["sentiment"], proba["positive"] - proba["negative"])
    assert small_model.has_complaint_model_
    assert scores["complaint"][4:].min() > scores["complaint"][:4].max()


def test_save_load_round_trip(small_model, tmp_path) -> None:
    texts = ["great stuff", "my parcel never arrived", "open on Sunday?", ""]
    path = small_model.save(tmp_path / "sub" / "model.joblib")
    loaded = TextClassifierScorer.load(path)
    assert loaded is not small_model and loaded.classes_ == small_model.classes_
    pd.testing.assert_frame_equal(loaded.score(texts), small_model.score(texts), check_exact=True)
    clone = pickle.loads(pickle.dumps(small_model))
    pd.testing.assert_frame_equal(clone.score(texts), small_model.score(texts), check_exact=True)
    joblib.dump({"something": "else"}, tmp_path / "other.joblib")
    with pytest.raises(ValueError, match="not a TextClassifierScorer"):
        TextClassifierScorer.load(tmp_path / "other.joblib")


def test_without_complaint_labels_uses_the_lexicon(small_set) -> None:
    model = TextClassifierScorer(inner_folds=2, char_min_df=1, n_jobs=1).fit(
        small_set["text"], small_set["label"]
    )
    assert not model.has_complaint_model_
    texts = ["the app crashed again", "lovely day"]
    np.testing.assert_allclose(model.score(texts)["complaint"], complaint_score(texts))


def test_fit_rejects_bad_labels(small_set) -> None:
    model = TextClassifierScorer(n_jobs=1)
    with pytest.raises(ValueError, match="labels must be in"):
        model.fit(["a", "b", "c", "d"], ["good", "bad", "good", "bad"])
    with pytest.raises(ValueError, match="two labels"):
        model.fit(["a", "b", "c"], ["positive"] * 3)
    with pytest.raises(ValueError, match="labels for"):
        model.fit(["a", "b"], ["positive"])
    with pytest.raises(RuntimeError, match="not fitted"):
        TextClassifierScorer().score(["x"])
    with pytest.raises(ValueError, match="two texts of each class"):
        model.fit(small_set["text"], small_set["label"], complaints=[True] * len(small_set))
    one_complaint = [i == 0 for i in range(len(small_set))]
    with pytest.raises(ValueError, match="two texts of each class"):
        model.fit(small_set["text"], small_set["label"], complaints=one_complaint)


def test_macro_f1_and_bias_tuning() -> None:
    rng = np.random.default_rng(0)
    y = rng.choice(3, size=3000, p=[0.7, 0.2, 0.1])
    pred = np.where(rng.random(3000) < 0.7, y, rng.integers(0, 3, 3000))
    assert macro_f1(y, pred, 3) == pytest.approx(f1_score(y, pred, average="macro"))
    # Probabilities pulled towards the majority class: offsets recover macro-F1.
    logits = rng.normal(size=(3000, 3)) + 1.5 * np.eye(3)[y] + np.array([1.0, 0.0, 0.0])
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    bias = tune_class_bias(proba, y)
    before = macro_f1(y, proba.argmax(axis=1), 3)
    after = macro_f1(y, (np.log(proba) + bias).argmax(axis=1), 3)
    assert bias[0] == 0 and (bias[1:] > 0).all()
    assert after > before + 0.02


def test_beats_vader_on_synthetic_posts(synthetic_posts) -> None:
    # Split by distinct text so no test text was seen in training.
    posts = synthetic_posts
    unique = posts["text"].drop_duplicates().sample(frac=1.0, random_state=0).to_numpy()
    train_texts = set(unique[:4000])
    test_texts = set(unique[4000:8000])
    train = posts[posts["text"].isin(train_texts)].drop_duplicates("text")
    test = posts[posts["text"].isin(test_texts)]
    model = TextClassifierScorer(inner_folds=3).fit(
        train["text"], train["sentiment"], complaints=train["complaint"]
    )
    scores = model.score(test["text"])
    vader = VaderScorer().score(test["text"])
    truth = test["sentiment"].to_numpy(dtype=object)
    f1_model = f1_score(truth, scores["label"].to_numpy(dtype=object), average="macro")
    f1_vader = f1_score(truth, vader["label"].to_numpy(dtype=object), average="macro")
    assert f1_model > 0.9
    assert f1_model > f1_vader + 0.1
    auc_model = roc_auc_score(test["complaint"], scores["complaint"])
    assert auc_model > 0.95

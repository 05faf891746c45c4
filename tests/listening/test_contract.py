"""Every scorer honours the contract: columns, ranges, row alignment, empty input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from socialcrm.listening import COLUMNS, LABELS, Scorer, VaderScorer, check_scores

TEXTS = [
    "I love this, thank you!",
    "my order is 3 weeks late and nobody replies",
    "does the shop open on Sunday?",
    "",
    "terrible, the app crashed and I was charged twice 😡",
    "ok",
]


@pytest.fixture(params=["vader", "model"])
def scorer(request, small_model) -> Scorer:
    return VaderScorer() if request.param == "vader" else small_model


def test_columns_ranges_and_alignment(scorer: Scorer) -> None:
    assert isinstance(scorer, Scorer)
    assert isinstance(scorer.name, str) and scorer.name
    scores = scorer.score(TEXTS)
    assert list(scores.columns) == list(COLUMNS)
    assert len(scores) == len(TEXTS)
    assert isinstance(scores.index, pd.RangeIndex) and scores.index[0] == 0
    assert scores["sentiment"].between(-1, 1).all()
    assert scores["complaint"].between(0, 1).all()
    assert scores["label"].isin(LABELS).all()
    assert scores["sentiment"].dtype.kind == "f" and scores["complaint"].dtype.kind == "f"
    check_scores(scores, len(TEXTS))
    # Row i of a batch equals scoring text i alone, also in reversed order.
    for i, text in enumerate(TEXTS):
        alone = scorer.score([text])
        pd.testing.assert_frame_equal(
            alone, scores.iloc[[i]].reset_index(drop=True), check_exact=False, atol=1e-9
        )
    reversed_scores = scorer.score(TEXTS[::-1])
    pd.testing.assert_frame_equal(
        reversed_scores, scores.iloc[::-1].reset_index(drop=True), check_exact=False, atol=1e-9
    )


def test_empty_input_and_missing_values(scorer: Scorer) -> None:
    empty = scorer.score([])
    assert list(empty.columns) == list(COLUMNS) and len(empty) == 0
    check_scores(empty, 0)
    with_missing = scorer.score(pd.Series(["fine", None, np.nan]))
    assert len(with_missing) == 3
    pd.testing.assert_frame_equal(with_missing.iloc[[1]].reset_index(drop=True), scorer.score([""]))
    with pytest.raises(TypeError):
        scorer.score("a single string is not a sequence of texts")


def test_check_scores_rejects_broken_frames() -> None:
    good = VaderScorer().score(["nice", "bad"])
    check_scores(good, 2)
    with pytest.raises(ValueError, match="rows"):
        check_scores(good, 3)
    with pytest.raises(ValueError, match="sentiment"):
        check_scores(good.assign(sentiment=[2.0, 0.0]), 2)
    with pytest.raises(ValueError, match="complaint"):
        check_scores(good.assign(complaint=[np.nan, 0.0]), 2)
    with pytest.raises(ValueError, match="labels"):
        check_scores(good.assign(label=["good", "bad"]), 2)
    with pytest.raises(ValueError, match="columns"):
        check_scores(good.drop(columns="label"), 2)

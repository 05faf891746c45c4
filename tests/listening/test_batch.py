"""Batch scoring: dedupe and the process pool give exactly what plain scoring gives."""

from __future__ import annotations

import pandas as pd
import pytest

from socialcrm.listening import VaderScorer, score_texts

BASE = [
    "love it!",
    "my order is late, refund please",
    "is the shop open today?",
    "worst service ever 😡",
    "",
    "the app crashed at checkout",
    "thank you, great help",
]


@pytest.fixture(scope="module")
def many_texts() -> list:
    # Repeats (as in real data) plus a missing value.
    texts = [BASE[i % len(BASE)] + (f" #{i % 13}" if i % 3 else "") for i in range(400)]
    texts[5] = None
    return texts


def test_dedupe_and_processes_equal_plain_scoring(many_texts) -> None:
    scorer = VaderScorer()
    plain = scorer.score(["" if t is None else t for t in many_texts])
    fast = score_texts(scorer, many_texts, n_jobs=2, chunk_size=17, min_parallel=1)
    pd.testing.assert_frame_equal(fast, plain)
    serial = score_texts(scorer, many_texts, n_jobs=1, dedupe=False)
    pd.testing.assert_frame_equal(serial, plain)
    in_process = score_texts(scorer, pd.Series(many_texts), n_jobs=2)  # below min_parallel
    pd.testing.assert_frame_equal(in_process, plain)


def test_trained_model_in_worker_processes(small_model, many_texts) -> None:
    plain = small_model.score(many_texts)
    fast = score_texts(small_model, many_texts, n_jobs=2, chunk_size=25, min_parallel=1)
    pd.testing.assert_frame_equal(fast, plain)


def test_empty_input() -> None:
    out = score_texts(VaderScorer(), [], n_jobs=2, min_parallel=0)
    assert list(out.columns) == ["sentiment", "label", "complaint"] and len(out) == 0


def test_forkserver_pool_pickles_the_scorer(many_texts) -> None:
    scorer = VaderScorer()
    fast = score_texts(
        scorer, many_texts, n_jobs=2, chunk_size=100, min_parallel=1, start_method="forkserver"
    )
    pd.testing.assert_frame_equal(fast, score_texts(scorer, many_texts, n_jobs=1))

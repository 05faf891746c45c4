"""The configured scorer: conf/listening/default.yaml and build_scorer."""

from __future__ import annotations

import pytest

from socialcrm.config import compose
from socialcrm.listening import (
    TextClassifierScorer,
    VaderScorer,
    build_model,
    build_scorer,
    build_scorer_fn,
)


def test_default_config_gives_vader() -> None:
    cfg = compose([])
    assert cfg.listening.scorer == "vader"
    assert isinstance(build_scorer(cfg.listening), VaderScorer)
    scores = build_scorer_fn(cfg.listening)(["great!", "awful, my parcel is lost"])
    assert list(scores["label"]) == ["positive", "negative"]


def test_model_scorer_from_config(small_model, tmp_path) -> None:
    path = small_model.save(tmp_path / "listening.joblib")
    cfg = compose(["listening.scorer=model", f"listening.model_path={path}"])
    scorer = build_scorer(cfg.listening)
    assert isinstance(scorer, TextClassifierScorer)
    texts = ["love it", "charged twice"]
    assert scorer.score(texts).equals(small_model.score(texts))


def test_bad_configs_fail_clearly(tmp_path) -> None:
    with pytest.raises(ValueError, match="model_path"):
        build_scorer({"scorer": "model", "model_path": None})
    with pytest.raises(FileNotFoundError):
        build_scorer({"scorer": "model", "model_path": str(tmp_path / "missing.joblib")})
    with pytest.raises(ValueError, match="must be one of"):
        build_scorer({"scorer": "bert"})


def test_build_model_reads_hyperparameters() -> None:
    cfg = compose(["listening.model.C=0.7", "listening.model.char_ngrams=[2,4]"])
    model = build_model(cfg.listening.model)
    assert model.C == 0.7 and model.char_ngrams == (2, 4) and model.word_ngrams == (1, 3)

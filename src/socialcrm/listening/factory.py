"""Build the configured scorer from a config node (``conf/listening/default.yaml``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from socialcrm.listening.base import Scorer
from socialcrm.listening.batch import score_texts
from socialcrm.listening.model import TextClassifierScorer
from socialcrm.listening.vader import VaderScorer

SCORERS = ("vader", "model")


def _as_dict(node: DictConfig | Mapping[str, Any] | None) -> dict[str, Any]:
    if node is None:
        return {}
    if isinstance(node, DictConfig):
        return OmegaConf.to_container(node, resolve=True)  # type: ignore[return-value]
    return dict(node)


def build_scorer(cfg_node: DictConfig | Mapping[str, Any]) -> Scorer:
    """Return the scorer a config node asks for.

    Parameters
    ----------
    cfg_node
        A node with ``scorer`` (``"vader"`` or ``"model"``) and, for ``model``,
        ``model_path`` (a file written by :meth:`TextClassifierScorer.save`). Both
        ``cfg.listening`` and ``cfg.features.listening`` fit; other keys are ignored.

    Returns
    -------
    Scorer
    """
    node = _as_dict(cfg_node)
    kind = node.get("scorer", "vader")
    if kind == "vader":
        return VaderScorer()
    if kind == "model":
        path = node.get("model_path")
        if not path:
            raise ValueError("listening.scorer=model needs listening.model_path (a saved model)")
        if not Path(path).is_file():
            raise FileNotFoundError(f"listening.model_path {path} does not exist")
        return TextClassifierScorer.load(path)
    raise ValueError(f"listening.scorer must be one of {SCORERS}, got {kind!r}")


def build_model(model_node: DictConfig | Mapping[str, Any] | None = None) -> TextClassifierScorer:
    """An untrained :class:`TextClassifierScorer` with the hyperparameters of ``model_node``.

    Parameters
    ----------
    model_node
        The ``listening.model`` node (keyword arguments of the constructor);
        ``None`` gives the defaults.

    Returns
    -------
    TextClassifierScorer
    """
    params = _as_dict(model_node)
    for key in ("word_ngrams", "char_ngrams"):
        if key in params:
            params[key] = tuple(params[key])
    return TextClassifierScorer(**params)


def build_scorer_fn(
    cfg_node: DictConfig | Mapping[str, Any],
) -> Callable[[Sequence[str]], pd.DataFrame]:
    """The configured scorer wrapped in :func:`score_texts` (dedupe, process pool).

    Parameters
    ----------
    cfg_node
        As for :func:`build_scorer`; ``n_jobs`` and ``chunk_size`` are read when present.

    Returns
    -------
    callable
        ``texts -> DataFrame`` with the contract's columns.
    """
    node = _as_dict(cfg_node)
    scorer = build_scorer(node)
    n_jobs = int(node.get("n_jobs", 2))
    chunk_size = int(node.get("chunk_size", 20_000))

    def scorer_fn(texts: Sequence[str]) -> pd.DataFrame:
        return score_texts(scorer, texts, n_jobs=n_jobs, chunk_size=chunk_size)

    return scorer_fn

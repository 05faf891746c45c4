"""Batch scoring of many posts: each distinct text once, in parallel processes when large.

Social data repeats itself (retweets, copy-paste, templates: in the synthetic
posts only about 46% of texts are distinct), so :func:`score_texts` scores the
distinct texts and broadcasts the scores back. VADER and the lexicon are pure
Python (about 20k texts/s per core together), so above ``min_parallel``
distinct texts the work is cut into chunks and scored in a pool of
``n_jobs`` processes. On Linux the pool forks: workers start in milliseconds,
inherit the scorer without pickling it, and plain scripts without an
``if __name__ == "__main__"`` guard work. Pass ``start_method="forkserver"`` or
``"spawn"`` for a clean interpreter per worker (the scorer is then pickled once
per worker, and scripts need the guard).
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from socialcrm.listening.base import COLUMNS, Scorer, as_text_list, check_scores, make_scores

_WORKER_SCORER: Scorer | None = None


def _init_worker(scorer: Scorer) -> None:
    global _WORKER_SCORER
    _WORKER_SCORER = scorer


def _score_chunk(texts: list[str]) -> pd.DataFrame:
    assert _WORKER_SCORER is not None, "worker not initialised"
    return _WORKER_SCORER.score(texts)


def score_texts(
    scorer: Scorer,
    texts: Sequence[str],
    n_jobs: int = 2,
    chunk_size: int = 20_000,
    dedupe: bool = True,
    min_parallel: int = 50_000,
    start_method: str | None = None,
) -> pd.DataFrame:
    """Score many texts with ``scorer``, each distinct text once, in parallel when large.

    Parameters
    ----------
    scorer
        Any :class:`~socialcrm.listening.base.Scorer` (must pickle for ``n_jobs > 1``).
    texts
        Post texts (list, array or Series); missing values are scored as ``""``.
    n_jobs
        Worker processes; ``1`` scores in this process.
    chunk_size
        Distinct texts per task sent to a worker.
    dedupe
        Score each distinct text once and broadcast (same result, less work).
    min_parallel
        Fewer distinct texts than this are scored in this process.
    start_method
        ``multiprocessing`` start method of the pool; default ``"fork"`` where
        available, else ``"spawn"``.

    Returns
    -------
    pandas.DataFrame
        Exactly what ``scorer.score(texts)`` returns: columns ``sentiment``,
        ``label``, ``complaint``, one row per input text, in input order.
    """
    texts = as_text_list(texts)
    if dedupe:
        codes, unique = pd.factorize(np.asarray(texts, dtype=object), sort=False)
        unique = list(unique)
    else:
        codes, unique = None, texts
    if not unique:
        scores = make_scores(np.zeros(0), np.zeros(0, dtype=object), np.zeros(0))
    elif n_jobs > 1 and len(unique) >= min_parallel:
        chunks = [unique[i : i + chunk_size] for i in range(0, len(unique), chunk_size)]
        if start_method is None:
            start_method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        ctx = mp.get_context(start_method)
        workers = min(n_jobs, len(chunks))
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(scorer,)
        ) as pool:
            parts = list(pool.map(_score_chunk, chunks))
        scores = pd.concat(parts, ignore_index=True)
    else:
        scores = scorer.score(unique)
    check_scores(scores, len(unique))
    if codes is not None:
        scores = scores.iloc[codes].reset_index(drop=True)
    return scores[list(COLUMNS)]

"""The scorer contract shared by every listening scorer (see :mod:`socialcrm.listening`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

#: Output columns of :meth:`Scorer.score`, in order.
COLUMNS: tuple[str, ...] = ("sentiment", "label", "complaint")
#: The sentiment labels, from negative to positive.
LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
#: VADER's usual thresholds on the compound score.
POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05


@runtime_checkable
class Scorer(Protocol):
    """Anything that scores post text for sentiment and complaints.

    Attributes
    ----------
    name
        Short identifier (``"vader"``, ``"model"``, ...).
    """

    name: str

    def score(self, texts: Sequence[str]) -> pd.DataFrame:
        """Score texts.

        Parameters
        ----------
        texts
            Post texts.

        Returns
        -------
        pandas.DataFrame
            One row per text, in input order, with a ``RangeIndex`` and exactly the
            columns :data:`COLUMNS`: ``sentiment`` (float in [-1, 1]), ``label``
            (one of :data:`LABELS`) and ``complaint`` (float in [0, 1]).
        """
        ...


def as_text_list(texts: Sequence[str]) -> list[str]:
    """Texts as a list of ``str``; missing values (``None``, ``NaN``) become ``""``.

    Parameters
    ----------
    texts
        Any sequence of texts (list, tuple, numpy array, pandas Series).

    Returns
    -------
    list of str
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not one string")
    return [t if isinstance(t, str) else ("" if _is_missing(t) else str(t)) for t in texts]


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


def label_from_sentiment(
    sentiment: np.ndarray,
    positive: float = POSITIVE_THRESHOLD,
    negative: float = NEGATIVE_THRESHOLD,
) -> np.ndarray:
    """Map sentiment scores to labels with VADER's thresholds.

    Parameters
    ----------
    sentiment
        Scores in [-1, 1].
    positive, negative
        ``sentiment >= positive`` is positive, ``sentiment <= negative`` negative,
        anything between neutral.

    Returns
    -------
    numpy.ndarray
        Object array of labels from :data:`LABELS`.
    """
    s = np.asarray(sentiment, dtype=float)
    out = np.full(s.shape, "neutral", dtype=object)
    out[s >= positive] = "positive"
    out[s <= negative] = "negative"
    return out


def make_scores(sentiment: np.ndarray, label: np.ndarray, complaint: np.ndarray) -> pd.DataFrame:
    """Assemble a score frame that satisfies the contract (clipping floats to their ranges).

    Parameters
    ----------
    sentiment, label, complaint
        Row-aligned arrays.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`, ``RangeIndex``.
    """
    return pd.DataFrame(
        {
            "sentiment": np.clip(np.asarray(sentiment, dtype=float), -1.0, 1.0),
            "label": pd.Series(np.asarray(label, dtype=object), dtype="str"),
            "complaint": np.clip(np.asarray(complaint, dtype=float), 0.0, 1.0),
        },
        columns=list(COLUMNS),
    )


def check_scores(scores: pd.DataFrame, n: int) -> None:
    """Raise ``ValueError`` when ``scores`` breaks the contract for ``n`` input texts.

    Parameters
    ----------
    scores
        A scorer's output.
    n
        Number of input texts.
    """
    problems = []
    if list(scores.columns) != list(COLUMNS):
        problems.append(f"columns {list(scores.columns)} != {list(COLUMNS)}")
    if len(scores) != n:
        problems.append(f"{len(scores)} rows for {n} texts")
    if not problems:
        s = scores["sentiment"].to_numpy(dtype=float)
        c = scores["complaint"].to_numpy(dtype=float)
        if not np.all((s >= -1) & (s <= 1)):
            problems.append("sentiment outside [-1, 1] or missing")
        if not np.all((c >= 0) & (c <= 1)):
            problems.append("complaint outside [0, 1] or missing")
        if not scores["label"].isin(LABELS).all():
            problems.append(f"labels outside {LABELS}")
    if problems:
        raise ValueError("scores break the listening contract: " + "; ".join(problems))

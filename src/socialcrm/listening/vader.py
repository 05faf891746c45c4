"""The default scorer: VADER sentiment plus the complaint lexicon (no training data needed)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from socialcrm.listening.base import as_text_list, label_from_sentiment, make_scores
from socialcrm.listening.lexicon import complaint_score

_HANDLES_URLS = re.compile(r"https?://\S+|www\.\S+|@\w+")


class VaderScorer:
    """VADER compound sentiment and lexicon complaint scores.

    ``sentiment`` is VADER's compound score (Hutto and Gilbert, 2014), ``label``
    uses the usual thresholds (compound >= 0.05 positive, <= -0.05 negative,
    neutral between) and ``complaint`` is
    :func:`socialcrm.listening.lexicon.complaint_score`, a documented regular
    expression lexicon of concrete problems (delays, refunds, charges,
    cancellations, broken or missing items, crashes, no reply, on hold, lost
    luggage, rude staff, ...).

    Before VADER sees a text, ``@handles`` and URLs are removed
    (``strip_mentions``): they carry no sentiment, but VADER reads a handle
    that is a word as that word ("@united" scores +0.42 as *united*, which its
    lexicon rates positive).

    It needs no training data and no download (VADER's lexicon ships with the
    package), which makes it the default. It transfers poorly to some domains:
    on the Twitter US airline tweets plain VADER reaches only about 0.49
    accuracy and 0.46 macro-F1 (0.55 and 0.51 with handles removed), below
    the majority class (0.63 accuracy), mostly because it calls many negative
    and neutral tweets positive: factual complaints carry few sentiment words,
    while "help", "please", "thanks", "like" or a sarcastic "great" push the
    compound score up. When labelled posts exist, train
    :class:`socialcrm.listening.model.TextClassifierScorer` (0.83 accuracy there).

    Parameters
    ----------
    strip_mentions
        Remove ``@handles`` and URLs before scoring sentiment (the lexicon
        complaint score always sees the full text).

    Attributes
    ----------
    name
        ``"vader"``.
    """

    name = "vader"

    def __init__(self, strip_mentions: bool = True) -> None:
        self.strip_mentions = strip_mentions
        self._analyzer = SentimentIntensityAnalyzer()

    def _clean(self, texts: Sequence[str]) -> list[str]:
        texts = as_text_list(texts)
        if not self.strip_mentions:
            return texts
        return [_HANDLES_URLS.sub(" ", t) for t in texts]

    def compound(self, texts: Sequence[str]) -> np.ndarray:
        """VADER compound score of each text.

        Parameters
        ----------
        texts
            Post texts.

        Returns
        -------
        numpy.ndarray
            Floats in [-1, 1].
        """
        polarity = self._analyzer.polarity_scores
        return np.fromiter(
            (polarity(t)["compound"] for t in self._clean(texts)), dtype=float, count=len(texts)
        )

    def polarity(self, texts: Sequence[str]) -> np.ndarray:
        """VADER's four scores per text: ``neg``, ``neu``, ``pos``, ``compound``.

        Parameters
        ----------
        texts
            Post texts.

        Returns
        -------
        numpy.ndarray
            Shape ``(len(texts), 4)``.
        """
        polarity = self._analyzer.polarity_scores
        out = np.empty((len(texts), 4), dtype=float)
        for i, t in enumerate(self._clean(texts)):
            s = polarity(t)
            out[i] = (s["neg"], s["neu"], s["pos"], s["compound"])
        return out

    def score(self, texts: Sequence[str]) -> pd.DataFrame:
        """Score texts (see :class:`socialcrm.listening.base.Scorer`).

        Parameters
        ----------
        texts
            Post texts.

        Returns
        -------
        pandas.DataFrame
            Columns ``sentiment``, ``label``, ``complaint``; one row per text.
        """
        texts = as_text_list(texts)
        sentiment = self.compound(texts)
        return make_scores(sentiment, label_from_sentiment(sentiment), complaint_score(texts))

"""Social listening: score post text for sentiment and complaints.

The contract
------------
A *scorer* has a ``name`` and a method ``score(texts: Sequence[str]) ->
pandas.DataFrame`` (the :class:`Scorer` protocol) whose result is row-aligned
with the input (one row per text, same order, ``RangeIndex``; an empty input
gives an empty frame) and has exactly these columns:

``sentiment``
    float in [-1, 1], negative to positive.
``label``
    one of ``"negative"``, ``"neutral"``, ``"positive"``.
``complaint``
    float in [0, 1]: the probability (or score) that the text states a
    complaint, i.e. a concrete problem (late delivery, refund, billing, crash,
    rude agent, lost luggage, ...).

Scorers
-------
:class:`VaderScorer`
    The default: VADER sentiment (``@handles`` and URLs removed) plus a
    documented complaint lexicon. Needs no training data; transfers poorly to
    some domains (on airline tweets 0.49 accuracy as plain VADER, 0.55 as run
    here, below the majority class).
:class:`TextClassifierScorer`
    A stacked linear classifier trained on labelled posts (``fit``, ``score``,
    ``save``, ``load``); 0.83 accuracy and 0.78 macro-F1 on airline tweets
    (``experiments/social-listening``).

Use :func:`score_texts` for millions of posts (scores each distinct text once,
in parallel processes) and :func:`build_scorer` / :func:`build_scorer_fn` to get
the scorer chosen in ``conf/listening/default.yaml``.
"""

from socialcrm.listening.base import COLUMNS, LABELS, Scorer, check_scores, label_from_sentiment
from socialcrm.listening.batch import score_texts
from socialcrm.listening.factory import build_model, build_scorer, build_scorer_fn
from socialcrm.listening.lexicon import complaint_score, complaint_topics
from socialcrm.listening.model import TextClassifierScorer
from socialcrm.listening.vader import VaderScorer

__all__ = [
    "COLUMNS",
    "LABELS",
    "Scorer",
    "TextClassifierScorer",
    "VaderScorer",
    "build_model",
    "build_scorer",
    "build_scorer_fn",
    "check_scores",
    "complaint_score",
    "complaint_topics",
    "label_from_sentiment",
    "score_texts",
]

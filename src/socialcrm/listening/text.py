"""Tweet-aware text normalisation for the trainable classifier.

Steps, in order: unescape HTML entities (``&amp;`` -> ``&``), replace URLs by the
token ``httpurl``, lowercase (mentions are kept as tokens by default: which brand
a post addresses carries signal), unify apostrophes, replace numbers by ``0``,
shorten letters repeated three or more times to two (``soooo`` -> ``soo``), and
optionally mark negation: every word after a negator (``not``, ``never``,
``can't``, ...) up to the next punctuation mark gets a ``neg_`` prefix, so
``not good`` and ``good`` become different features. Emoticons and emoji are
kept (``<3`` becomes a heart symbol); :data:`TOKEN_PATTERN` keeps them as tokens.
"""

from __future__ import annotations

import html
import re

_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"@\w+")
_NUMBER = re.compile(r"\d+(?:[.:,/]\d+)*")
_REPEAT = re.compile(r"(\w)\1{2,}")
_CLAUSE = re.compile(r"([.,!?;:]+|\s[-–—]\s)")
_WORD = re.compile(r"\b([a-z][a-z']*)\b")

#: Words that open a negated scope.
NEGATORS: tuple[str, ...] = (
    "not",
    "no",
    "never",
    "nothing",
    "nobody",
    "none",
    "nor",
    "neither",
    "without",
    "cannot",
    "cant",
    "can't",
    "won't",
    "wont",
    "don't",
    "dont",
    "didn't",
    "didnt",
    "doesn't",
    "doesnt",
    "isn't",
    "isnt",
    "wasn't",
    "wasnt",
    "aren't",
    "arent",
    "weren't",
    "werent",
    "haven't",
    "havent",
    "hasn't",
    "hasnt",
    "hadn't",
    "hadnt",
    "couldn't",
    "couldnt",
    "shouldn't",
    "shouldnt",
    "wouldn't",
    "wouldnt",
    "ain't",
    "aint",
)
_NEGATOR = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in NEGATORS) + r")\b")

#: Tokens for the word view: words (with ``neg_``, ``@`` and ``#`` prefixes),
#: emoticons such as ``:)`` ``:-(`` ``;p`` (``<3`` becomes a heart), ``!`` and ``?``, and any other
#: single non-space symbol (emoji).
TOKEN_PATTERN = (
    r"[a-z0-9_'@#]+"
    r"|[:;=][\-o\*']?[\)\]\(\[dpo/\\|3]"
    r"|[!?]"
    r"|[^\sa-z0-9_'@#.,;:\-\"()\[\]]"
)


def normalize(text: str, negation: bool = False, keep_mentions: bool = True) -> str:
    """Normalise one post text (see the module docstring).

    Parameters
    ----------
    text
        Raw post text.
    negation
        Prefix words in a negated scope with ``neg_``.
    keep_mentions
        Keep ``@handles`` (lowercased); otherwise replace them by ``@user``.

    Returns
    -------
    str
    """
    t = html.unescape(text)
    t = _URL.sub(" httpurl ", t)
    if not keep_mentions:
        t = _MENTION.sub(" @user ", t)
    t = t.lower().replace("\u2019", "'").replace("\u2018", "'").replace("<3", " \u2665 ")
    t = _NUMBER.sub(" 0 ", t)
    t = _REPEAT.sub(r"\1\1", t)
    if negation:
        t = mark_negation(t)
    return t


def mark_negation(text: str) -> str:
    """Prefix the words after a negator with ``neg_``, up to the next punctuation mark.

    Parameters
    ----------
    text
        Lowercased text.

    Returns
    -------
    str
    """
    parts = _CLAUSE.split(text)
    for i in range(0, len(parts), 2):
        m = _NEGATOR.search(parts[i])
        if m:
            head, tail = parts[i][: m.end()], parts[i][m.end() :]
            parts[i] = head + _WORD.sub(r"neg_\1", tail)
    return "".join(parts)

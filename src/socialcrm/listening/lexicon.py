"""A transparent complaint lexicon: regular expressions for concrete customer problems.

A *complaint* states a concrete problem with a product or service: a late or
missing delivery, a refund or a wrong charge, a cancellation, a broken or
missing item, a crashing app, no reply or a long wait on hold, lost luggage, a
rude agent. Each topic in :data:`STRONG` is one regular expression; each topic
that matches adds 1 to the evidence. :data:`WEAK` holds cues that often come
with complaints but do not name a problem (``worst``, ``unacceptable``,
``fix this``, ``still waiting``...); each that matches adds 0.3. Before
matching, the text is lowercased and negated problem mentions (``no problems``,
``never had an issue``, ``can't complain``, ``no complaints``) are removed, so
praise in negative words is not flagged. The score is::

    complaint = 1 - exp(-(n_strong_topics + 0.3 * n_weak_cues))

so one concrete problem gives 0.63, two give 0.86, and weak cues alone need
three to pass 0.5. :func:`complaint_topics` says which topics matched.

Limits: a lexicon only knows the phrasings written into it. It transfers
imperfectly across domains (airline tweets name their problems with words such
as "Cancelled Flightled", "rebooked", "tarmac") and misses sarcasm; train
:class:`socialcrm.listening.model.TextClassifierScorer` with complaint labels
when you have them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import numpy as np

WEAK_WEIGHT = 0.3

_NEG = r"(?:not|n't|never|no|cannot|cant|dont|didnt|doesnt|isnt|hasnt|havent|wont)"
_WAIT = r"(?:hours?|hrs?|days?|weeks?|months?|an hour|forever|ages)"

#: Topic -> regular expression naming a concrete problem (matched on lowercased text).
STRONG: dict[str, str] = {
    "delay": (
        r"\b(?:late|delay(?:ed|s)?|overdue|behind schedule|still (?:hasn'?t|has not|not|"
        r"isn'?t|haven'?t|have not) (?:arrived|come|shipped|been (?:delivered|shipped))|"
        r"(?:never|hasn'?t|has not|didn'?t|did not|has yet to) (?:arrived?|showed? up|came|come|"
        r"turned up)|tracking (?:hasn'?t|has not|isn'?t|not|never) (?:updated|updating|moved)|"
        r"where(?:'s| is) my (?:order|package|parcel|delivery)|no (?:package|parcel|delivery) "
        r"(?:yet|here)|\d+ (?:days|weeks) and no)\b"
    ),
    "delivery": (
        r"\b(?:wrong (?:item|order|size|colou?r|address|package)|courier|"
        r"marked (?:as )?delivered|(?:package|parcel|box|order) (?:arrived )?(?:crushed|"
        r"damaged|lost|missing|stolen|opened))\b"
    ),
    "refund": (
        r"\b(?:refunds?|refunded|reimburse(?:d|ment)?|money back|compensat(?:e|ion)|"
        r"chargeback|get my money)\b"
    ),
    "billing": (
        r"\b(?:(?:double|over|twice|wrongly|still being|been) ?charged|charged (?:me )?"
        r"(?:twice|double|two times|again|after|for)|billed (?:me )?(?:twice|after|for|again)|"
        r"hidden (?:fees?|charges?|costs?)|(?:invoice|bill|receipt) is wrong|"
        r"took (?:my )?money|extra (?:fee|charge)s?|(?:bag|change|baggage) fees?)\b"
    ),
    "cancellation": (r"\b(?:cancell?(?:ed|ing|ation|ations)|cancel(?:ed)?|canx|cxl(?:d)?)\b"),
    "broken": (
        r"\b(?:broke|broken|damaged|defective|faulty|cracked|ripped|torn|fell apart|"
        r"falling apart|stopped working|(?:does|did|is|was)(?:n'?t| not) work(?:ing)?|"
        r"not working|won'?t (?:turn on|work|charge)|dead on arrival|"
        r"looks nothing like|missing (?:parts?|pieces?|items?)|parts? (?:are |were )?missing)\b"
    ),
    "app": (
        r"\b(?:crash(?:es|ed|ing)?|freez(?:es|ing)|froze|glitch(?:es|y)?|bugg?y|"
        r"error (?:message|code)?|website (?:is )?down|site (?:is )?down|app (?:is )?down|"
        r"(?:won'?t|doesn'?t|does not|will not) load|can'?t (?:log ?in|sign ?in|access|check ?in)|"
        r"(?:cannot|unable to) (?:log ?in|sign ?in|access|check ?in|book)|"
        r"logged me out|(?:link|code|page) (?:is |was )?(?:broken|not working|doesn'?t work)|"
        r"(?:promo|discount|voucher) code (?:doesn'?t|does not|won'?t|didn'?t) work)\b"
    ),
    "no_reply": (
        r"\b(?:no (?:reply|response|answer|one answers|callback|call back)|"
        r"(?:nobody|no one|noone) (?:answers?|answered|responds?|responded|replie[sd]|"
        r"picks? up|helps?|helped|cares?|at the desk)|(?:never|didn'?t|haven'?t|hasn'?t) "
        r"(?:got|gotten|heard|received) (?:back|a (?:reply|response|call))|"
        r"ignor(?:e|ed|ing) (?:me|my)|(?:still )?(?:no|without) (?:word|update|info(?:rmation)?)"
        r"|closed my ticket|hung up|hangs? up|hanging up|disconnected|(?:can'?t|cannot|could not|"
        r"couldn'?t|unable to) (?:get through|connect|reach))\b"
    ),
    "on_hold": (
        r"\b(?:on hold|hold times?|hold for|(?:been |still )?waiting (?:for |on )?(?:\d+|over|"
        r"almost|nearly)? ?"
        + _WAIT
        + r"|waited (?:for )?(?:\d+|over|almost|nearly)? ?"
        + _WAIT
        + r"|transferred \d+ times|queue|long lines?|wait times?|call back|callback|in hold)\b"
    ),
    "luggage": (
        r"\b(?:lost (?:my |our |the )?(?:bags?|baggage|luggage|suitcases?)|(?:bags?|baggage|"
        r"luggage|suitcases?) (?:was |were |is |are |got |has been |have been )?(?:lost|missing|"
        r"damaged|delayed|left behind|never arrived|didn'?t arrive)|where(?:'s| is| are) my "
        r"(?:bags?|luggage|baggage|suitcase)|lost (?:and found|luggage|baggage)|(?:lose|loses|"
        r"losing|missing) (?:my |our |the )?(?:bags?|baggage|luggage|suitcases?)|(?:bags?|luggage) "
        r"(?:aren'?t|are not|weren'?t|not) (?:even )?(?:loaded|here|on))\b"
    ),
    "travel": (
        r"\b(?:miss(?:ed|ing)? (?:my |our |the )?(?:next )?(?:connection|connecting|flight|"
        r"meeting)|denied boarding|mechanical|stranded|stuck "
        r"(?:on|at|in)|tarmac|diverted|overbooked|oversold|bumped|re-?booked|rebook(?:ing)?|"
        r"sat on the plane|no (?:seats?|pilot|crew|gate)|delayed flight|flight (?:was |is |got )?"
        r"(?:delayed|cancell?ed|oversold)|lost my seat|middle seat|leg ?room)\b"
    ),
    "staff": (
        r"\b(?:rude|unprofessional|unhelpful|useless|incompetent|disrespectful|yelled|"
        r"attitude|condescending|hostile|(?:agent|staff|crew|attendant|rep|employee)s? "
        r"(?:was|were|is|are) (?:rude|awful|terrible|horrible|useless|unhelpful)|"
        r"(?:\d+|three|3) (?:agents|reps|people) (?:gave|told)|different answers)\b"
    ),
    "price": (
        r"\b(?:too expensive|overpriced|over-priced|rip-?off|ripoff|scam|price (?:hike|increase)|"
        r"prices? (?:went|go|going|are going) up|fees? (?:is|are) a joke|costs? more than|"
        r"cheaper (?:everywhere|elsewhere|at))\b"
    ),
    "quality": (
        r"\b(?:dirty|filthy|smell(?:s|y|ed)?|stain(?:s|ed)?|spotty|overheat(?:ed|ing)?|"
        r"cold food|no (?:food|wifi|wi-fi|"
        r"power|water|entertainment|tv)|(?:wifi|wi-fi|tv|entertainment|power|outlet)s? "
        r"(?:is |was |are |were )?(?:broken|not working|down|out)|quality (?:went|has gone|is)"
        r"(?: way)? (?:down|bad|poor|terrible))\b"
    ),
}

#: Cue -> regular expression for words that often come with complaints (weight 0.3 each).
WEAK: dict[str, str] = {
    "outrage": (
        r"\b(?:worst|unacceptable|ridiculous|disgrace(?:ful)?|pathetic|horrible|terrible|"
        r"awful|shameful|appalling|joke|nightmare|furious|fed up|frustrat(?:ed|ing)|"
        r"disappointed|dissapointed|annoyed|angry|upset|sucks?|fail(?:ed|ure)?|#fail)\b"
    ),
    "problem": r"\b(?:problems?|issues?|complain(?:t|ts|ing)?|trouble|mess|hassle)\b",
    "demand": (
        r"\b(?:fix (?:this|it)|sort (?:this|it) out|pl(?:ea)?se? help|help me|do something|"
        r"want (?:my|a|an)|demand|explain why|how is this ok|no excuse|never again|"
        r"switching to|done with you|cancell?ing my (?:account|subscription))\b"
    ),
    "persistence": (
        r"\b(?:still|again|yet again|(?:second|third|2nd|3rd|fourth|\d+(?:th|rd|nd)) time|"
        r"every time|for days|for hours|for weeks|already)\b"
    ),
}

#: Negated problem mentions removed before matching (praise in negative words).
PRAISE_GUARDS: tuple[str, ...] = (
    r"\b(?:no|zero|never (?:had )?(?:a|any)?|not (?:a|one|any|a single)|without (?:a|any)?|"
    r"didn'?t have (?:a|any)?|haven'?t had (?:a|any)?) ?(?:problems?|issues?|complaints?|"
    r"delays?|trouble|hassle)\b",
    r"\b(?:can'?t|cannot|couldn'?t) complain\b",
    r"\bnot (?:bad|terrible|awful|horrible)\b",
    r"\bnever disappoints?\b",
)


def _compile(patterns: dict[str, str]) -> re.Pattern[str]:
    """One regex with a named group per key; the shared leading ``\\b`` is factored out
    (same matches, about 1.5x faster)."""
    assert all(v.startswith(r"\b") for v in patterns.values())
    return re.compile(r"\b(?:" + "|".join(f"(?P<{k}>{v[2:]})" for k, v in patterns.items()) + ")")


_STRONG_RE = _compile(STRONG)
_WEAK_RE = _compile(WEAK)
_GUARD_RE = re.compile("|".join(PRAISE_GUARDS))
_APOSTROPHE = str.maketrans({"\u2019": "'", "\u2018": "'"})


def _prepare(text: str) -> str:
    t = html.unescape(text).lower().translate(_APOSTROPHE)
    return _GUARD_RE.sub(" ", t)


def complaint_topics(text: str) -> tuple[set[str], set[str]]:
    """Which strong topics and weak cues match one text.

    Parameters
    ----------
    text
        A post text.

    Returns
    -------
    tuple of (set of str, set of str)
        Matched keys of :data:`STRONG` and of :data:`WEAK`.
    """
    t = _prepare(text)
    strong = {m.lastgroup for m in _STRONG_RE.finditer(t)}
    weak = {m.lastgroup for m in _WEAK_RE.finditer(t)}
    return strong, weak  # type: ignore[return-value]


def complaint_score(texts: Sequence[str]) -> np.ndarray:
    """Lexicon complaint score of each text (see the module docstring for the formula).

    Parameters
    ----------
    texts
        Post texts.

    Returns
    -------
    numpy.ndarray
        Float scores in [0, 1), row-aligned with ``texts``.
    """
    evidence = np.empty(len(texts), dtype=float)
    for i, text in enumerate(texts):
        strong, weak = complaint_topics(text)
        evidence[i] = len(strong) + WEAK_WEIGHT * len(weak)
    return 1.0 - np.exp(-evidence)

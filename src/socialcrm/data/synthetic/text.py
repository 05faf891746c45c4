"""Post texts that carry sentiment and complaints in words.

A post is assembled from a template (a sequence of slots) whose slots draw from
vocabulary pools: many phrasings per sentiment, complaint phrases per topic,
openers, closers, emoji, hashtags, slang and misspellings. Two kinds of posts
mislead on purpose, so no single word decides the label:

- *figurative* posts (sarcasm: a complaint in positive words; understatement:
  praise in negative words) fool a lexicon but have a recognisable form;
- *noisy* posts are worded like another sentiment altogether (an unhappy
  customer writing a neutral question): no reader of the text alone can get
  them right, which caps any text model below perfect, as on real data.

Assembly is vectorised with pyarrow: millions of posts take seconds.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BRAND = "Lumora"

NEGATIVE, NEUTRAL, POSITIVE = -1, 0, 1
TOPICS = ["delivery", "billing", "service", "product", "app", "price"]

POOLS: dict[str, list[str]] = {
    "brand": ["@lumora", "@Lumora", "@lumora_help", "@LumoraSupport", BRAND, "lumora", "@lumora"],
    "thing": [
        "this store",
        "this shop",
        "the store",
        "these guys",
        "this brand",
        "this company",
        "the shop down the road",
        "this place",
    ],
    "product": [
        "my order",
        "the new collection",
        "the delivery",
        "the app",
        "the customer service",
        "my purchase",
        "the packaging",
        "the quality",
        "the support team",
        "the checkout",
        "these headphones",
        "this jacket",
        "the blender",
        "my subscription",
        "the new sneakers",
        "the face cream",
        "my last order",
        "the gift box",
        "the running shoes",
        "the coffee maker",
    ],
    "pos_verb": [
        "love",
        "really love",
        "am obsessed with",
        "can't stop recommending",
        "am so happy with",
        "adore",
        "am impressed by",
        "luv",
        "am loving",
        "totally recommend",
        "10/10 recommend",
    ],
    "pos_adj": [
        "amazing",
        "great",
        "awesome",
        "fantastic",
        "super fast",
        "brilliant",
        "lovely",
        "perfect",
        "excellent",
        "so good",
        "top notch",
        "impressive",
        "amazin",
        "awsome",
        "beyond expectations",
        "a game changer",
        "worth every penny",
        "spot on",
    ],
    "pos_open": [
        "",
        "",
        "Honestly",
        "ok so",
        "Just saying,",
        "Wow.",
        "Shoutout to",
        "Big thanks to",
        "lol",
        "Can confirm:",
        "Update:",
        "yesss",
    ],
    "pos_close": [
        "",
        "",
        "thank you!",
        "will buy again",
        "made my day",
        "never disappoints",
        "happy customer here",
        "keep it up",
        "best decision",
        "so pleased",
    ],
    "pos_emoji": ["", "", "😍", "🙌", "❤️", "👍", "🔥", ":)", "😊", "💯", "✨"],
    "pos_tag": ["", "", "", "#happy", "#shopping", "#love", "#treatyourself", "#lumora"],
    "neu_question": [
        "does",
        "anyone know if",
        "quick question: does",
        "hey, does",
        "wondering if",
        "does anybody know whether",
    ],
    "neu_topic": [
        "ship to Canada",
        "have a store in the city centre",
        "do gift cards",
        "restock the blue one",
        "have a sale this weekend",
        "open on Sundays",
        "take returns without a receipt",
        "have a student discount",
        "deliver on Saturdays",
        "sell the refill packs",
    ],
    "neu_info": [
        "just ordered",
        "picked up",
        "thinking about getting",
        "looking at",
        "about to try",
        "comparing",
        "trying out",
        "unboxing",
        "waiting for",
    ],
    "neu_tail": ["", "", "today", "this week", "for my sister", "later", "tomorrow", "again"],
    "neg_feel": [
        "kinda disappointed with",
        "not impressed with",
        "not happy with",
        "meh, getting tired of",
        "losing patience with",
        "really let down by",
        "fed up with",
        "over it with",
        "dissapointed with",
        "so frustrated with",
        "unhappy with",
    ],
    "neg_adj": [
        "a letdown",
        "not worth it",
        "mediocre at best",
        "pretty bad",
        "a waste of money",
        "going downhill",
        "terrible",
        "awful",
        "underwhelming",
        "a joke",
        "worse than before",
    ],
    "neg_tail": ["", "", "lately", "tbh", "these days", "honestly", "again", "this time"],
    "neg_emoji": ["", "", "😡", "😤", "👎", "😒", ":(", "🙄", "smh", "😞", "💔"],
    "neg_tag": [
        "",
        "",
        "",
        "#fail",
        "#neveragain",
        "#customerservice",
        "#disappointed",
        "#badservice",
    ],
    "comp_open": [
        "",
        "",
        "seriously",
        "unbelievable,",
        "third time this month:",
        "hey",
        "ugh",
        "so",
        "wtf",
        "again??",
        "can someone explain why",
        "still no answer:",
        "for real",
    ],
    "comp_close": [
        "",
        "fix this",
        "never again",
        "this is ridiculous",
        "worst experience",
        "I want my money back",
        "considering cancelling",
        "done with you",
        "pls help",
        "DM me?",
        "how is this ok",
        "switching to a competitor",
        "cancelling my account",
    ],
    "sarcasm_open": [
        "great,",
        "love that",
        "thanks a lot",
        "wow amazing,",
        "perfect,",
        "just brilliant,",
    ],
    "sarcasm_tail": ["🙃", "/s", "👏👏", "so impressed", "what a service", "lovely"],
    "understate": [
        "not bad at all",
        "no complaints",
        "can't complain about",
        "never had a problem with",
        "didn't expect to like",
        "not gonna lie, no issues with",
        "zero problems with",
    ],
}

COMPLAINTS: dict[str, list[str]] = {
    "delivery": [
        "my order still hasn't arrived",
        "package is 10 days late",
        "the courier never showed up",
        "tracking hasn't updated in a week",
        "got the wrong item delivered",
        "box arrived crushed",
        "delivery delayed AGAIN",
        "parcel marked delivered but nothing here",
        "2 weeks and no package",
    ],
    "billing": [
        "charged twice for one order",
        "still waiting for my refund",
        "billed me after I cancelled",
        "hidden fees at checkout",
        "refund takes forever",
        "double charged on my card",
        "invoice is wrong again",
        "they took money for an order I never got",
    ],
    "service": [
        "on hold for 2 hours",
        "nobody answers the chat",
        "support closed my ticket without fixing anything",
        "3 agents gave me 3 different answers",
        "rude agent on the phone",
        "no reply to my emails for days",
        "customer service is useless",
        "been transferred 5 times",
    ],
    "product": [
        "broke after one week",
        "quality went way down",
        "item looks nothing like the pictures",
        "missing parts in the box",
        "stopped working after 3 days",
        "fell apart after one wash",
        "arrived damaged",
        "cheap material, ripped already",
    ],
    "app": [
        "app keeps crashing at checkout",
        "can't log in since the update",
        "website down again",
        "promo code doesn't work",
        "payment page freezes",
        "app logged me out and lost my cart",
        "the site won't load",
        "password reset link is broken",
    ],
    "price": [
        "prices went up again",
        "way too expensive now",
        "it's cheaper everywhere else",
        "subscription fee is a joke",
        "shipping costs more than the item",
        "another price hike??",
    ],
}

# Templates per kind: slot names (pool keys), "@" is the brand-or-thing slot,
# "!" the complaint phrase for the post's topic.
TEMPLATES: dict[str, list[list[str]]] = {
    "positive": [
        ["pos_open", "pos_verb", "product", "from", "@", "pos_emoji"],
        ["product", "from", "@", "was", "pos_adj", "pos_close", "pos_emoji", "pos_tag"],
        ["pos_open", "@", "is", "pos_adj", "pos_close", "pos_emoji"],
        ["pos_verb", "@", "pos_close", "pos_emoji"],
        ["@", "pos_close", "pos_emoji", "pos_tag"],
        ["the", "product", "is", "pos_adj", "pos_emoji"],
    ],
    "neutral": [
        ["neu_question", "@", "neu_topic", "?"],
        ["neu_info", "product", "from", "@", "neu_tail"],
        ["neu_info", "product", "neu_tail"],
        ["@", "neu_question", "you", "neu_topic", "?"],
    ],
    "negative": [
        ["neg_feel", "@", "neg_tail", "neg_emoji"],
        ["product", "from", "@", "is", "neg_adj", "neg_tail", "neg_emoji"],
        ["neg_feel", "product", "neg_emoji", "neg_tag"],
        ["@", "is", "neg_adj", "neg_tail"],
    ],
    "complaint": [
        ["comp_open", "@", "!", "comp_close", "neg_emoji"],
        ["comp_open", "!", "@", "comp_close", "neg_tag"],
        ["!", "comp_close", "@", "neg_emoji"],
        ["@", "!", "neg_emoji", "neg_tag"],
        ["comp_open", "!", "neg_emoji"],
    ],
    # Noise: a complaint in positive words, and praise in negative words.
    "sarcasm": [
        ["sarcasm_open", "!", "@", "sarcasm_tail"],
        ["@", "sarcasm_open", "!", "sarcasm_tail"],
    ],
    "understatement": [["understate", "@", "pos_emoji"], ["understate", "product", "from", "@"]],
}

_ARROW_POOLS = {k: pa.array(v, type=pa.string()) for k, v in POOLS.items()}
_TOPIC_FLAT = pa.array([p for t in TOPICS for p in COMPLAINTS[t]], type=pa.string())
_TOPIC_START = np.cumsum([0] + [len(COMPLAINTS[t]) for t in TOPICS])[:-1]
_TOPIC_LEN = np.array([len(COMPLAINTS[t]) for t in TOPICS])


def compose_posts(
    sentiment: np.ndarray,
    topic: np.ndarray,
    mentions_brand: np.ndarray,
    noisy: np.ndarray,
    figurative: np.ndarray,
    rng: np.random.Generator,
) -> pa.StringArray:
    """Write one text per post.

    Parameters
    ----------
    sentiment
        ``-1`` negative, ``0`` neutral, ``1`` positive (the true label).
    topic
        Index into :data:`TOPICS` for complaints, ``-1`` for none. Negative posts
        with a topic are complaints.
    mentions_brand
        Whether the text names the brand (otherwise a generic reference).
    noisy
        Whether the post is worded like another sentiment (plain templates of
        one of the other two classes).
    figurative
        Whether the post is sarcastic (negative) or an understatement (positive).
    rng
        Random generator.

    Returns
    -------
    pyarrow.StringArray
        One text per post, in input order.
    """
    n = len(sentiment)
    is_complaint = (sentiment == NEGATIVE) & (topic >= 0)
    # Sarcastic posts name a complaint even without a recorded topic.
    topic = np.where(topic < 0, rng.integers(0, len(TOPICS), size=n), topic)
    kind = np.full(n, "neutral", dtype=object)
    kind[sentiment == POSITIVE] = "positive"
    kind[sentiment == NEGATIVE] = "negative"
    kind[is_complaint] = "complaint"
    kind[figurative & (sentiment == NEGATIVE)] = "sarcasm"
    kind[figurative & (sentiment == POSITIVE)] = "understatement"
    # noisy posts take the plain wording of one of the two other classes
    other = {
        NEGATIVE: np.array(["neutral", "positive"]),
        NEUTRAL: np.array(["negative", "positive"]),
        POSITIVE: np.array(["neutral", "negative"]),
    }
    pick = rng.integers(0, 2, size=n)
    for label, names in other.items():
        rows = noisy & (sentiment == label)
        kind[rows] = names[pick[rows]]

    pieces: list[pa.Array] = []
    positions: list[np.ndarray] = []
    for name, templates in TEMPLATES.items():
        rows = np.flatnonzero(kind == name)
        if not len(rows):
            continue
        which = rng.integers(0, len(templates), size=len(rows))
        for t_i, template in enumerate(templates):
            sel = rows[which == t_i]
            if not len(sel):
                continue
            parts = [_slot(slot, sel, topic, mentions_brand, rng) for slot in template]
            pieces.append(pc.binary_join_element_wise(*parts, " "))
            positions.append(sel)
    if not pieces:
        return pa.array([], type=pa.string())
    order = np.concatenate(positions)
    text = pa.concat_arrays(
        [p.combine_chunks() if isinstance(p, pa.ChunkedArray) else p for p in pieces]
    )
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    text = text.take(pa.array(inverse))
    text = pc.replace_substring_regex(text, r"\s+", " ")
    text = pc.replace_substring_regex(text, r" ([?,.!])", r"\1")
    return pc.utf8_trim_whitespace(text)


def _slot(
    slot: str,
    rows: np.ndarray,
    topic: np.ndarray,
    mentions_brand: np.ndarray,
    rng: np.random.Generator,
) -> pa.Array:
    k = len(rows)
    if slot == "@":
        brand = _pick(_ARROW_POOLS["brand"], k, rng)
        thing = _pick(_ARROW_POOLS["thing"], k, rng)
        return pc.if_else(pa.array(mentions_brand[rows]), brand, thing)
    if slot == "!":
        t = topic[rows]
        idx = _TOPIC_START[t] + (rng.random(k) * _TOPIC_LEN[t]).astype(np.int64)
        return _TOPIC_FLAT.take(pa.array(idx))
    if slot in _ARROW_POOLS:
        return _pick(_ARROW_POOLS[slot], k, rng)
    return pa.array(np.full(k, slot, dtype=object), type=pa.string())


def _pick(pool: pa.Array, k: int, rng: np.random.Generator) -> pa.Array:
    return pool.take(pa.array(rng.integers(0, len(pool), size=k)))

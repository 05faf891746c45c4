"""VADER orders clear texts correctly; the complaint lexicon flags problems, not praise."""

from __future__ import annotations

import numpy as np
import pytest

from socialcrm.listening import VaderScorer, complaint_score, complaint_topics, label_from_sentiment

CLEARLY_POSITIVE = [
    "I absolutely love this brand, the service was excellent and the staff amazing!",
    "Great experience, thank you so much, best purchase ever :)",
    "Wonderful, fast and friendly. Highly recommend!",
]
CLEARLY_NEGATIVE = [
    "This is the worst company ever, terrible and rude, I hate it.",
    "Awful experience, horrible quality and useless support :(",
    "Disgusting service, never again, what a disaster.",
]
COMPLAINTS = [
    "my package is 10 days late and tracking hasn't updated",
    "still waiting for my refund after 3 weeks",
    "you charged me twice for the same order",
    "the blender broke after one week",
    "parts are missing from the box",
    "app keeps crashing at checkout",
    "been on hold for 2 hours, nobody answers",
    "@united lost my luggage and the agent was rude",
    "flight cancelled, now stranded in Denver",
    "no reply to my emails for days, fix this",
]
NOT_COMPLAINTS = [
    "love the new jacket, fits perfectly!",
    "great service today, thank you",
    "no complaints at all, arrived early",
    "never had a problem with this shop",
    "does the store open on Sundays?",
    "just picked up my order, looking forward to trying it",
    "can't complain about the price, really good value",
    "the crew was lovely and the flight smooth",
]


def test_vader_orders_clear_texts() -> None:
    scorer = VaderScorer()
    texts = [*CLEARLY_POSITIVE, *CLEARLY_NEGATIVE, "The store is on Main Street."]
    scores = scorer.score(texts)
    pos = scores["sentiment"][:3].to_numpy()
    neg = scores["sentiment"][3:6].to_numpy()
    assert (pos > 0.5).all() and (neg < -0.5).all()
    assert pos.min() > neg.max()
    assert list(scores["label"]) == ["positive"] * 3 + ["negative"] * 3 + ["neutral"]
    np.testing.assert_allclose(scores["sentiment"], scorer.compound(texts))


def test_label_thresholds() -> None:
    labels = label_from_sentiment(np.array([0.05, 0.0499, 0.0, -0.0499, -0.05, 1.0, -1.0]))
    assert list(labels) == [
        "positive",
        "neutral",
        "neutral",
        "neutral",
        "negative",
        "positive",
        "negative",
    ]


@pytest.mark.parametrize("text", COMPLAINTS)
def test_lexicon_flags_complaints(text: str) -> None:
    assert complaint_score([text])[0] >= 0.5, complaint_topics(text)


@pytest.mark.parametrize("text", NOT_COMPLAINTS)
def test_lexicon_ignores_praise_and_questions(text: str) -> None:
    assert complaint_score([text])[0] < 0.5, complaint_topics(text)


def test_lexicon_topics_and_evidence() -> None:
    strong, _ = complaint_topics("Charged twice and still no refund")
    assert {"billing", "refund"} <= strong
    strong, _ = complaint_topics("They lost my luggage")
    assert "luggage" in strong
    one, two = complaint_score(["the app crashed", "the app crashed and I was charged twice"])
    assert 0.5 <= one < two < 1.0
    assert complaint_score([]).shape == (0,)
    # Weak cues alone stay below the flag; a concrete problem passes it.
    assert complaint_score(["worst day, so frustrated"])[0] < 0.5
    assert complaint_score(["worst day, my flight was delayed"])[0] >= 0.5

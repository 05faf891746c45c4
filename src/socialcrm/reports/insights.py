"""The Social CRM insight report's numbers: pure functions, DataFrames in, DataFrames out.

Every statistic that links a customer to social media uses only customers who
consented to that linkage; the report says so next to each number. Nothing
here returns an identifier, handle, e-mail or post text: only counts, shares
and means.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SEGMENT_ORDER = [
    "champions",
    "loyal",
    "potential loyalists",
    "new",
    "need attention",
    "at risk",
    "hibernating",
]
ENGAGEMENT_ORDER = ["active", "passive", "not on social", "no consent"]


def platform_distribution(
    linked_accounts: pd.DataFrame, n_consenting: int, platforms: list[str]
) -> pd.DataFrame:
    """Share of consenting customers with an account on each platform.

    Parameters
    ----------
    linked_accounts
        Accounts of consenting customers (``customer_id``, ``platform``).
    n_consenting
        Number of consenting customers (the denominator).
    platforms
        The platform vocabulary (platforms nobody uses get 0).
    """
    users = linked_accounts.groupby("platform")["customer_id"].nunique()
    on_any = linked_accounts["customer_id"].nunique()
    out = pd.DataFrame({"platform": platforms})
    out["customers"] = out["platform"].map(users).fillna(0).astype(int)
    out["share_of_customers"] = out["customers"] / max(n_consenting, 1)
    out["share_of_social_customers"] = out["customers"] / max(on_any, 1)
    return out.sort_values("customers", ascending=False, ignore_index=True)


def platform_combinations(
    linked_accounts: pd.DataFrame, n_consenting: int, top: int = 12
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The most common sets of platforms used together, and platforms per customer.

    Returns
    -------
    combinations
        ``combination`` (e.g. ``facebook + instagram``), ``customers``, ``share``
        (of consenting customers), the ``top`` most common; customers on no
        platform appear as ``(none)``.
    per_customer
        ``n_platforms`` (0, 1, 2, ...), ``customers``, ``share``.
    """
    sets = linked_accounts.groupby("customer_id")["platform"].agg(
        lambda s: " + ".join(sorted(set(s)))
    )
    counts = sets.value_counts()
    none = n_consenting - len(sets)
    if none > 0:
        counts = pd.concat([counts, pd.Series({"(none)": none})]).sort_values(ascending=False)
    combos = counts.head(top).rename_axis("combination").reset_index(name="customers")
    combos["share"] = combos["customers"] / max(n_consenting, 1)
    n_plat = linked_accounts.groupby("customer_id")["platform"].nunique().value_counts()
    if none > 0:
        n_plat.loc[0] = none
    per = n_plat.sort_index().rename_axis("n_platforms").reset_index(name="customers")
    per["share"] = per["customers"] / max(n_consenting, 1)
    return combos, per


def value_deciles(features: pd.DataFrame, value: str = "monetary_365d") -> pd.DataFrame:
    """Social presence, activity and sentiment by decile of past 12-month value.

    Decile 10 holds the most valuable customers. Presence, activity and
    sentiment are computed over consenting customers of the decile only.

    Parameters
    ----------
    features
        The as-of feature table with ``consent_social``, ``value``,
        ``n_platforms``, ``n_posts_365d``, ``sentiment_mean_365d``,
        ``negative_share_365d`` and ``brand_mentions_365d``.
    value
        The value column ranked into deciles.
    """
    f = features.copy()
    f["decile"] = pd.qcut(f[value].rank(method="first"), 10, labels=range(1, 11)).astype(int)
    c = f[f["consent_social"]]
    agg = f.groupby("decile").agg(customers=(value, "size"), mean_value=(value, "mean"))
    agg["value_share"] = f.groupby("decile")[value].sum() / max(f[value].sum(), 1e-9)
    agg["consent_share"] = f.groupby("decile")["consent_social"].mean()
    agg["on_social"] = c.groupby("decile")["n_platforms"].apply(lambda s: (s > 0).mean())
    agg["mean_platforms"] = c.groupby("decile")["n_platforms"].mean()
    agg["posting"] = c.groupby("decile")["n_posts_365d"].apply(lambda s: (s > 0).mean())
    agg["posts_per_customer"] = c.groupby("decile")["n_posts_365d"].mean()
    agg["brand_mentions"] = c.groupby("decile")["brand_mentions_365d"].mean()
    agg["sentiment"] = c.groupby("decile")["sentiment_mean_365d"].mean()
    agg["negative_share"] = c.groupby("decile")["negative_share_365d"].mean()
    return agg.reset_index()


def rfm_scores(features: pd.DataFrame) -> pd.DataFrame:
    """Quintile scores 1-5: recency (recent = 5), frequency and monetary value (365 days)."""

    def quintile(s: pd.Series) -> pd.Series:
        return pd.qcut(s.rank(method="first"), 5, labels=range(1, 6)).astype(int)

    return pd.DataFrame(
        {
            "R": quintile(-features["recency_days"]),
            "F": quintile(features["frequency_365d"]),
            "M": quintile(features["monetary_365d"]),
        },
        index=features.index,
    )


def rfm_segment(rfm: pd.DataFrame) -> pd.Series:
    """Name the usual RFM segments from R and F scores."""
    r, f = rfm["R"], rfm["F"]
    seg = np.select(
        [
            (r >= 4) & (f >= 4),
            (r >= 3) & (f >= 4),
            (r >= 4) & (f >= 2),
            (r >= 4),
            (r <= 2) & (f >= 3),
            (r <= 2),
        ],
        ["champions", "loyal", "potential loyalists", "new", "at risk", "hibernating"],
        default="need attention",
    )
    return pd.Series(seg, index=rfm.index, name="segment")


def social_engagement(features: pd.DataFrame) -> pd.Series:
    """``active`` (posted in the last year), ``passive`` (accounts, no posts),
    ``not on social`` or ``no consent`` (unknown: never linked)."""
    eng = np.select(
        [
            ~features["consent_social"],
            features["n_posts_365d"] > 0,
            features["n_platforms"] > 0,
        ],
        ["no consent", "active", "passive"],
        default="not on social",
    )
    return pd.Series(eng, index=features.index, name="social")


def segments(features: pd.DataFrame, value: str = "monetary_365d") -> pd.DataFrame:
    """Customers and value per RFM segment x social engagement."""
    f = features.assign(
        segment=rfm_segment(rfm_scores(features)), social=social_engagement(features)
    )
    out = (
        f.groupby(["segment", "social"])
        .agg(customers=(value, "size"), mean_value=(value, "mean"), total_value=(value, "sum"))
        .reset_index()
    )
    out["share_of_customers"] = out["customers"] / len(f)
    out["share_of_value"] = out["total_value"] / max(f[value].sum(), 1e-9)
    out["segment"] = pd.Categorical(out["segment"], SEGMENT_ORDER, ordered=True)
    out["social"] = pd.Categorical(out["social"], ENGAGEMENT_ORDER, ordered=True)
    return out.sort_values(["segment", "social"], ignore_index=True)


def latent_customers(
    accounts: pd.DataFrame, posts: pd.DataFrame, customer_contacts: pd.Series
) -> pd.DataFrame:
    """Non-customer accounts that engage with the brand, by platform.

    Parameters
    ----------
    accounts
        Accounts without a customer (``account_id``, ``platform``, ``follows_brand``).
    posts
        Their posts with ``account_id``, ``mentions_brand``, ``sentiment`` and
        ``complaint`` (scores).
    customer_contacts
        ``account_id`` -> number of distinct consenting customers they are
        connected to (follows, mentions, replies).
    """
    brand_posts = posts[posts["mentions_brand"]]
    mentions = brand_posts.groupby("account_id").size()
    a = accounts.assign(
        brand_posts=accounts["account_id"].map(mentions).fillna(0),
        customer_ties=accounts["account_id"].map(customer_contacts).fillna(0),
    )
    a["engaged"] = a["follows_brand"] | (a["brand_posts"] > 0)
    sent = posts.groupby("account_id")["sentiment"].mean()
    a["sentiment"] = a["account_id"].map(sent)
    out = a.groupby("platform").agg(
        accounts=("account_id", "size"),
        engaged=("engaged", "sum"),
        follow_brand=("follows_brand", "sum"),
        mention_brand=("brand_posts", lambda s: (s > 0).sum()),
        tied_to_customers=("customer_ties", lambda s: (s > 0).sum()),
        mean_sentiment=("sentiment", "mean"),
    )
    out["engaged_share"] = out["engaged"] / out["accounts"]
    return out.sort_values("engaged", ascending=False).reset_index()


def undirected_pairs(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Distinct undirected connections ``(u, v)`` with ``u < v`` (self-loops dropped)."""
    pairs = np.unique(np.sort(np.column_stack([src, dst]), axis=1), axis=0)
    return pairs[pairs[:, 0] != pairs[:, 1]]


def degree_distribution(pairs: np.ndarray) -> pd.Series:
    """Degree of every node with at least one connection, from :func:`undirected_pairs`."""
    return pd.Series(np.bincount(pairs.ravel())).loc[lambda s: s > 0]

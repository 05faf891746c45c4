"""Assemble the synthetic world into canonical tables and ground-truth tables.

:func:`generate_tables` runs every stage and yields ``(name, pyarrow.Table)``
pairs one at a time (canonical tables first, then ``truth/...``), so a writer
can store and free each table before the next is built. Nothing here touches
the disk. Every random stage draws from its own stream spawned from the seed,
so switching contagion off changes the churn process but not the people, their
accounts or their ties (a clean negative control).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rich.progress import Progress

from socialcrm.data.privacy import hash_identifiers
from socialcrm.data.synthetic.config import GeneratorConfig
from socialcrm.data.synthetic.graph import (
    Accounts,
    assign_referrals,
    build_accounts,
    customer_adjacency,
    drift_accounts,
    observed_edges,
    person_ties,
)
from socialcrm.data.synthetic.population import (
    CATEGORIES,
    PURCHASE_CHANNELS,
    Population,
    build_population,
)
from socialcrm.data.synthetic.simulate import (
    TICKET_CATEGORIES,
    Calendar,
    History,
    calendar,
    drift_months,
    latent_posts,
    simulate,
)
from socialcrm.data.synthetic.text import NEGATIVE, TOPICS, compose_posts

EDGE_TYPES = ["follow", "mention", "reply"]
SENTIMENTS = {-1: "negative", 0: "neutral", 1: "positive"}
# New streams go last: spawned children keep their seeds, so the others stay the same.
STREAMS = [
    "population",
    "accounts",
    "ties",
    "edges",
    "simulate",
    "latent",
    "referrals",
    "text",
    "drift",
]


CHUNK = 2_000_000  # rows per chunk of the large tables (bounds peak memory)


def ids(prefix: str, n: int, lo: int = 0, hi: int | None = None) -> pa.StringArray:
    """Ids ``lo+1 .. hi`` of ``n``: ``prefix`` + zero-padded numbers (``C00001``, sortable)."""
    width = max(len(str(n)), 1)
    hi = n if hi is None else hi
    nums = pc.cast(pa.array(np.arange(lo + 1, hi + 1, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(nums, width, "0"), "")


def _chunks(n: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + CHUNK, n)) for lo in range(0, max(n, 1), CHUNK)]


def _take(values: pa.Array, idx: np.ndarray) -> pa.Array:
    return values.take(pa.array(idx))


def _take_nullable(values: pa.Array, idx: np.ndarray) -> pa.Array:
    """``values[idx]`` with null where ``idx < 0``."""
    mask = idx < 0
    return values.take(pa.array(np.where(mask, 0, idx), mask=mask))


def _labels(names: list[str], codes: np.ndarray) -> pa.Array:
    return pa.array(names, type=pa.string()).take(pa.array(codes.astype(np.int64)))


@dataclass
class _Keys:
    """The identifier columns shared by several tables."""

    customer: pa.Array
    account: pa.Array
    person: pa.Array
    offer: pa.Array
    log: pa.Array


class _Clock:
    """Days since history start -> timestamps with whole-second resolution."""

    def __init__(self, start: np.datetime64):
        self.start_us = np.datetime64(start, "us").astype(np.int64)

    def __call__(self, days: np.ndarray, mask: np.ndarray | None = None) -> pa.TimestampArray:
        us = (
            self.start_us
            + np.round(np.nan_to_num(days, posinf=0.0) * 86400.0).astype(np.int64) * 1_000_000
        )
        return pa.array(us, type=pa.timestamp("us"), mask=mask)


def generate_tables(
    cfg: GeneratorConfig, salt: str, progress: Progress | None = None
) -> Iterator[tuple[str, pa.Table]]:
    """Build the synthetic Social CRM world.

    Parameters
    ----------
    cfg
        Generator parameters (see ``conf/data/synthetic.yaml``).
    salt
        Key for hashing the fabricated e-mail addresses and handles.
    progress
        Optional rich progress display.

    Yields
    ------
    tuple of (str, pyarrow.Table)
        Canonical tables (``customers``, ``transactions``, ...) then ground truth
        (``truth/customers``, ``truth/customer_month``, ...).
    """
    streams = dict(zip(STREAMS, np.random.SeedSequence(cfg.seed).spawn(len(STREAMS)), strict=True))
    rng = {k: np.random.default_rng(s) for k, s in streams.items()}
    cal = calendar(cfg.start_date, cfg.months)
    clock = _Clock(cal.start)
    total_days = cal.total_days
    stage = progress.add_task("building the world", total=4) if progress else None

    pop = build_population(cfg, rng["population"])
    accounts = build_accounts(pop, cfg, rng["accounts"], total_days)
    ties = person_ties(pop, cfg, rng["ties"])
    adjacency = customer_adjacency(ties, pop.n_customers)
    if progress is not None and stage is not None:
        progress.advance(stage)
    hist = simulate(pop, accounts, adjacency, cfg, cal, rng["simulate"], progress)
    if progress is not None and stage is not None:
        progress.advance(stage)

    n = pop.n_customers
    # the accounts listed: those of the history plus any a platform gains by drift
    # (appended, so account rows of posts and edges index both alike)
    drifting = drift_months(cfg.drift.start, cal)
    drift_day = cal.month_start[np.argmax(drifting)] if drifting.any() else total_days
    listed = drift_accounts(pop, accounts, cfg, drift_day, total_days, rng["drift"])
    customer_id = ids("C", n)
    account_id = ids("A", len(listed))
    person_id = ids("U", pop.n_persons)
    offer_ids = pa.array([o.offer_id for o in cfg.offers.catalog], type=pa.string())
    churned = np.isfinite(hist.churn_day)

    # The monthly truth panel is the largest array set: write it first and free it.
    pn = hist.panel
    order = np.lexsort((pn["month"], pn["customer"]))
    for lo, hi in _chunks(len(order)):
        sl = order[lo:hi]
        yield (
            "truth/customer_month",
            pa.table(
                {
                    "customer_id": _take(customer_id, pn["customer"][sl]),
                    "month_start": clock(cal.month_start[pn["month"][sl]]),
                    "hazard": pa.array(pn["hazard"][sl]),
                    "base_hazard": pa.array(pn["base_hazard"][sl]),
                    "churn_probability": pa.array(pn["churn_probability"][sl]),
                    "exposure": pa.array(pn["exposure"][sl].astype(np.int64)),
                    "purchase_rate": pa.array(pn["purchase_rate"][sl]),
                    "expected_spend": pa.array(pn["expected_spend"][sl]),
                }
            ),
        )
    del pn, order, hist.panel

    # --- customers -------------------------------------------------------
    contract = np.isin(np.array(pop.plans)[pop.plan], list(cfg.churn.contract_plans))
    closed = churned & contract
    h_rng = np.random.default_rng(streams["population"].spawn(1)[0])
    has_phone = h_rng.random(n) < 0.6
    emails = [f"customer{i + 1}@example.com" for i in range(n)]
    phones = [f"+1555{i + 1:07d}" if p else None for i, p in enumerate(has_phone)]
    yield (
        "customers",
        pa.table(
            {
                "customer_id": customer_id,
                "signup_date": clock(pop.signup_day),
                "region": _labels(pop.regions, pop.region[:n]),
                "age_band": _labels(pop.age_bands, pop.age[:n]),
                "acquisition_channel": _labels(pop.channels, pop.acquisition),
                "plan": _labels(pop.plans, pop.plan),
                "email_hash": pa.array(hash_identifiers(emails, "email", salt), type=pa.string()),
                "phone_hash": pa.array(hash_identifiers(phones, "phone", salt), type=pa.string()),
                "consent_social": pa.array(pop.consent),
                "closed_at": clock(np.where(closed, hist.churn_day, 0.0), mask=~closed),
            }
        ),
    )
    del emails, phones

    # --- transactions ----------------------------------------------------
    tx = hist.transactions
    order = np.lexsort((tx["customer"], tx["day"]))
    n_tx = len(order)
    for lo, hi in _chunks(n_tx):
        t = {k: v[order[lo:hi]] for k, v in tx.items()}
        yield (
            "transactions",
            pa.table(
                {
                    "transaction_id": ids("T", n_tx, lo, hi),
                    "customer_id": _take(customer_id, t["customer"]),
                    "timestamp": clock(t["day"]),
                    "amount": pa.array(t["amount"]),
                    "is_return": pa.array(t["is_return"]),
                    "category": _labels(CATEGORIES, t["category"]),
                    "channel": _labels(PURCHASE_CHANNELS, t["channel"]),
                    "quantity": pa.nulls(hi - lo, type=pa.int64()),
                }
            ),
        )
    del tx, t, order, hist.transactions

    # --- support tickets -------------------------------------------------
    tk = hist.tickets
    order = np.lexsort((tk["customer"], tk["day"]))
    tk = {k: v[order] for k, v in tk.items()}
    yield (
        "support_tickets",
        pa.table(
            {
                "ticket_id": ids("K", len(order)),
                "customer_id": _take(customer_id, tk["customer"]),
                "timestamp": clock(tk["day"]),
                "category": _labels(TICKET_CATEGORIES, tk["category"]),
                "resolution_hours": pa.array(np.round(tk["hours"], 2), from_pandas=True),
                "satisfaction": pa.array(
                    tk["satisfaction"].astype(np.int64), mask=tk["satisfaction"] < 0
                ),
            }
        ),
    )

    # --- offers and the offer log ---------------------------------------
    cat = cfg.offers.catalog
    yield (
        "offers",
        pa.table(
            {
                "offer_id": offer_ids,
                "offer_type": pa.array([o.offer_type for o in cat], type=pa.string()),
                "channel": pa.array([o.channel for o in cat], type=pa.string()),
                "cost": pa.array([float(o.cost) for o in cat], type=pa.float64()),
                "margin": pa.array([float(o.margin) for o in cat], type=pa.float64()),
                "eligible_plans": pa.array([o.eligible_plans for o in cat], type=pa.string()),
                "min_tenure_days": pa.array([int(o.min_tenure_days) for o in cat], type=pa.int64()),
                "description": pa.array(
                    [f"{o.offer_type.replace('_', ' ')} via {o.channel}" for o in cat],
                    type=pa.string(),
                ),
            }
        ),
    )
    lg = hist.offer_log
    order = np.lexsort((lg["customer"], lg["day"]))
    lg = {k: v[order] for k, v in lg.items()}
    log_id = ids("L", len(order))
    action = lg["action"].astype(np.int64)
    offer_channels = pa.array([o.channel for o in cat], type=pa.string())
    yield (
        "offer_log",
        pa.table(
            {
                "log_id": log_id,
                "customer_id": _take(customer_id, lg["customer"]),
                "timestamp": clock(lg["day"]),
                "offer_id": _take_nullable(offer_ids, action),
                "channel": _take_nullable(offer_channels, action),
                "propensity": pa.array(lg["propensity"]),
                "response": pa.array(lg["response"]),
                "revenue": pa.array(np.round(lg["revenue"], 2)),
            }
        ),
    )

    # --- social accounts and edges --------------------------------------
    is_cust = listed.person < n
    handles = [
        f"user{p + 1}_{pop.platforms[k]}"
        for p, k in zip(listed.person.tolist(), listed.platform.tolist(), strict=True)
    ]
    yield (
        "social_accounts",
        pa.table(
            {
                "account_id": account_id,
                "platform": _labels(pop.platforms, listed.platform),
                "customer_id": _take_nullable(customer_id, np.where(is_cust, listed.person, -1)),
                "handle_hash": pa.array(
                    hash_identifiers(handles, "handle", salt), type=pa.string()
                ),
                "followers": pa.array(listed.followers),
                "created_at": clock(listed.created_day),
                "follows_brand": pa.array(listed.follows_brand),
            }
        ),
    )
    del handles
    edges = observed_edges(ties, pop, accounts, cfg, rng["edges"], total_days)
    order = np.lexsort((edges.dst, edges.src, edges.day))
    yield (
        "social_edges",
        pa.table(
            {
                "src_account_id": _take(account_id, edges.src[order]),
                "dst_account_id": _take(account_id, edges.dst[order]),
                "edge_type": _labels(EDGE_TYPES, edges.kind[order]),
                "timestamp": clock(edges.day[order]),
            }
        ),
    )
    del edges

    # --- posts -------------------------------------------------------------
    lat = latent_posts(pop, accounts, cfg, total_days, rng["latent"])
    ps = {k: np.r_[hist.posts[k], lat[k]] for k in hist.posts}
    del hist.posts, lat
    ps["day"] = np.floor(ps["day"] * 86400.0) / 86400.0
    order = np.lexsort((ps["account"], ps["day"]))
    ps = {k: v[order] for k, v in ps.items()}
    del order
    n_posts = len(ps["day"])
    for lo, hi in _chunks(n_posts):
        p = {k: v[lo:hi] for k, v in ps.items()}
        text = compose_posts(
            p["sentiment"], p["topic"], p["mention"], p["noisy"], p["figurative"], rng["text"]
        )
        followers = accounts.followers[p["account"]]
        complaint = p["topic"] >= 0
        eng = np.exp(rng["text"].normal(0.0, 0.8, hi - lo)) * np.where(complaint, 1.6, 1.0)
        likes = rng["text"].poisson(0.04 * followers**0.85 * eng)
        negative = np.where(p["sentiment"] == NEGATIVE, 1.5, 1.0)
        shares = rng["text"].poisson(0.08 * likes * negative)
        yield (
            "posts",
            pa.table(
                {
                    "post_id": ids("P", n_posts, lo, hi),
                    "account_id": _take(account_id, p["account"]),
                    "platform": _labels(pop.platforms, accounts.platform[p["account"]]),
                    "timestamp": clock(p["day"]),
                    "text": text,
                    "likes": pa.array(likes.astype(np.int64)),
                    "shares": pa.array(shares.astype(np.int64)),
                    "mentions_brand": pa.array(p["mention"]),
                }
            ),
        )
        del text, p

    # --- referrals ---------------------------------------------------------
    referrer, referred = assign_referrals(pop, adjacency, hist.churn_day, rng["referrals"])
    order = np.lexsort((referred, pop.signup_day[referred]))
    referrer, referred = referrer[order], referred[order]
    yield (
        "referrals",
        pa.table(
            {
                "referrer_id": _take(customer_id, referrer),
                "referred_id": _take(customer_id, referred),
                "timestamp": clock(pop.signup_day[referred]),
            }
        ),
    )
    if progress is not None and stage is not None:
        progress.advance(stage)

    # --- ground truth --------------------------------------------------------
    keys = _Keys(customer_id, account_id, person_id, offer_ids, log_id)
    yield from _truth_tables(pop, listed, ties, hist, cal, clock, keys, lg, ps)
    if progress is not None and stage is not None:
        progress.advance(stage)


def _truth_tables(
    pop: Population,
    accounts: Accounts,
    ties: np.ndarray,
    hist: History,
    cal: Calendar,
    clock: _Clock,
    keys: _Keys,
    lg: dict[str, np.ndarray],
    ps: dict[str, np.ndarray],
) -> Iterator[tuple[str, pa.Table]]:
    n = pop.n_customers
    customer_id, account_id, person_id = keys.customer, keys.account, keys.person
    offer_ids, log_id = keys.offer, keys.log
    churned = np.isfinite(hist.churn_day)
    churn_month = np.searchsorted(cal.month_start, hist.churn_day, side="right") - 1
    yield (
        "truth/persons",
        pa.table(
            {
                "person_id": person_id,
                "customer_id": _take_nullable(
                    customer_id,
                    np.where(np.arange(pop.n_persons) < n, np.arange(pop.n_persons), -1),
                ),
                "community_id": pa.array(pop.community.astype(np.int64)),
                "region": _labels(pop.regions, pop.region),
                "age_band": _labels(pop.age_bands, pop.age),
                "satisfaction": pa.array(pop.satisfaction),
                "price_sensitivity": pa.array(pop.price_sensitivity),
                "social": pa.array(pop.social),
            }
        ),
    )
    yield (
        "truth/customers",
        pa.table(
            {
                "customer_id": customer_id,
                "person_id": _take(person_id, np.arange(n)),
                "purchase_rate": pa.array(pop.purchase_rate),
                "mean_spend": pa.array(pop.mean_spend),
                "churned": pa.array(churned),
                "churn_timestamp": clock(np.where(churned, hist.churn_day, 0.0), mask=~churned),
                "churn_month": pa.array(churn_month.astype(np.int64), mask=~churned),
            }
        ),
    )
    yield (
        "truth/accounts",
        pa.table({"account_id": account_id, "person_id": _take(person_id, accounts.person)}),
    )
    yield (
        "truth/ties",
        pa.table(
            {"person_a": _take(person_id, ties[:, 0]), "person_b": _take(person_id, ties[:, 1])}
        ),
    )
    ot = hist.offer_truth
    yield (
        "truth/offer_response",
        pa.table(
            {
                "customer_id": _take(customer_id, ot["customer"]),
                "offer_id": _take_nullable(offer_ids, ot["action"].astype(np.int64)),
                "eligible": pa.array(ot["eligible"]),
                "p_response": pa.array(ot["p_response"]),
                "uplift": pa.array(ot["uplift"]),
                "expected_revenue": pa.array(ot["expected_revenue"]),
            }
        ),
    )
    yield (
        "truth/offer_log",
        pa.table(
            {
                "log_id": log_id,
                "accepted": pa.array(lg["accepted"]),
                "uplift": pa.array(lg["p_true"]),
            }
        ),
    )
    # every action's truth at every logged contact (what the logged outcome is a draw of)
    k = lg["expected_revenue"].shape[1]
    yield (
        "truth/offer_contact",
        pa.table(
            {
                "log_id": log_id.take(pa.array(np.repeat(np.arange(len(log_id)), k))),
                "offer_id": _take_nullable(
                    offer_ids, np.tile(np.r_[np.arange(k - 1), -1], len(log_id))
                ),
                "eligible": pa.array(lg["eligible_all"].ravel()),
                "p_response": pa.array(lg["p_response"].ravel()),
                "expected_revenue": pa.array(lg["expected_revenue"].ravel()),
            }
        ),
    )
    n_posts = len(ps["day"])
    sentiments = pa.array([SENTIMENTS[-1], SENTIMENTS[0], SENTIMENTS[1]])
    for lo, hi in _chunks(n_posts):
        topic = ps["topic"][lo:hi].astype(np.int64)
        yield (
            "truth/posts",
            pa.table(
                {
                    "post_id": ids("P", n_posts, lo, hi),
                    "sentiment": sentiments.take(
                        pa.array(ps["sentiment"][lo:hi].astype(np.int64) + 1)
                    ),
                    "complaint": pa.array(topic >= 0),
                    "topic": _take_nullable(pa.array(TOPICS), topic),
                    "misleading_words": pa.array(ps["noisy"][lo:hi]),
                    "figurative": pa.array(ps["figurative"][lo:hi]),
                }
            ),
        )

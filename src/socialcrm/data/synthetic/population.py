"""The people of the synthetic world: customers and latent customers.

Everyone belongs to a community; communities share region, age and a share of
their latent traits (homophily) and their taste in platforms. Customers are
persons ``0 .. n_customers-1``; the rest are latent customers (they follow or
talk about the brand on social media but never bought).

Traits are standardised (mean 0, sd 1):

- ``satisfaction``: how satisfied the person tends to be with the brand;
- ``price_sensitivity``;
- ``social``: how active the person is on social media.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from socialcrm.data.synthetic.config import GeneratorConfig

DAYS_PER_MONTH = 365.25 / 12


@dataclass
class Population:
    """Arrays over persons (length ``n_persons``) and customers (``n_customers``)."""

    n_customers: int
    n_persons: int
    regions: list[str]
    age_bands: list[str]
    plans: list[str]
    channels: list[str]
    platforms: list[str]
    # persons
    community: np.ndarray
    region: np.ndarray
    age: np.ndarray
    satisfaction: np.ndarray
    price_sensitivity: np.ndarray
    social: np.ndarray
    platform_mask: np.ndarray  # bit p set: the person has an account on platforms[p]
    # customers
    plan: np.ndarray
    acquisition: np.ndarray
    consent: np.ndarray
    signup_day: np.ndarray  # days since history start (negative: before it)
    purchase_rate: np.ndarray  # purchases per month while active, at base satisfaction
    mean_spend: np.ndarray  # expected amount of one purchase
    favourite_category: np.ndarray
    preferred_channel: np.ndarray


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def calibrate_intercept(x: np.ndarray, target: float, iters: int = 60) -> float:
    """Intercept ``b`` with ``mean(sigmoid(b + x)) == target`` (bisection)."""
    lo, hi = -30.0, 30.0
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if sigmoid(mid + x).mean() < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _draw(rng: np.random.Generator, shares: dict[str, float], size: int) -> np.ndarray:
    p = np.array(list(shares.values()), dtype=float)
    return rng.choice(len(p), size=size, p=p / p.sum()).astype(np.int8)


def _standardise(x: np.ndarray) -> np.ndarray:
    return ((x - x.mean()) / (x.std() + 1e-12)).astype(np.float64)


def build_population(cfg: GeneratorConfig, rng: np.random.Generator) -> Population:
    """Draw every person, their community, traits, accounts and customer attributes."""
    pop_cfg = cfg.population
    n = cfg.n_customers
    n_persons = n + round(cfg.latent_per_customer * n)
    h = cfg.graph.homophily
    platforms = list(cfg.platforms)

    # Communities with lognormal sizes; each has a region, an age centre, trait
    # offsets and platform tastes shared by its members.
    sizes = np.maximum(
        2,
        rng.lognormal(np.log(cfg.graph.community_size_mean) - 0.32, 0.8, size=n_persons // 2),
    ).astype(np.int64)
    n_comm = int(np.searchsorted(np.cumsum(sizes), n_persons)) + 1
    community = rng.permutation(np.repeat(np.arange(n_comm), sizes[:n_comm])[:n_persons])
    community = community.astype(np.int32)
    comm_region = _draw(rng, pop_cfg.regions, n_comm)
    comm_age = _draw(rng, pop_cfg.age_bands, n_comm)
    comm_traits = rng.standard_normal((n_comm, 3))
    comm_platform = rng.normal(0.0, 0.6, size=(n_comm, len(platforms)))

    own_region = _draw(rng, pop_cfg.regions, n_persons)
    region = np.where(rng.random(n_persons) < 0.85, comm_region[community], own_region)
    own_age = _draw(rng, pop_cfg.age_bands, n_persons)
    age = np.where(rng.random(n_persons) < 0.5, comm_age[community], own_age).astype(np.int8)
    age_z = (age - 2.5) / 1.5

    def trait(k: int, extra: np.ndarray | float = 0.0) -> np.ndarray:
        idio = rng.standard_normal(n_persons)
        return _standardise(np.sqrt(h) * comm_traits[community, k] + np.sqrt(1 - h) * idio + extra)

    satisfaction = trait(0, 0.15 * age_z)
    price_sensitivity = trait(1)
    social = trait(2, -0.35 * age_z)

    # Platform accounts: per-platform intercepts are calibrated so that the share
    # of customers on each platform equals the configured share.
    logits = np.empty((n_persons, len(platforms)))
    for j, name in enumerate(platforms):
        pc = cfg.platforms[name]
        x = pc.age_slope * (age - 2.5) + 0.9 * social + comm_platform[community, j]
        b = calibrate_intercept(x[:n], pc.share)
        logits[:, j] = b + x
    has = rng.random(logits.shape) < sigmoid(logits)
    # Latent customers engage with the brand on social media: at least one account.
    latent = np.arange(n_persons) >= n
    none = latent & ~has.any(axis=1)
    has[none, np.argmax(logits[none], axis=1)] = True
    platform_mask = (has * (1 << np.arange(len(platforms)))).sum(axis=1).astype(np.uint8)

    # Customer attributes.
    r, mean_rate = cfg.purchases.rate_shape, cfg.purchases.rate_mean
    purchase_rate = rng.gamma(r, mean_rate / r, size=n)
    # Socially engaged customers buy a little more often (engagement is loyalty).
    rate_lift = np.exp(cfg.purchases.social_rate_effect * social[:n])
    purchase_rate = purchase_rate * rate_lift / rate_lift.mean()
    p, q = cfg.purchases.spend_p, cfg.purchases.spend_q
    gamma_rate = cfg.purchases.spend_mean * (q - 1) / p
    base_spend = p / rng.gamma(q, 1.0 / gamma_rate, size=n)
    value_z = _standardise(np.log(base_spend) + 0.5 * np.log(purchase_rate))

    plans = list(pop_cfg.plans)
    plan_tilt = np.array([{"premium": 0.6, "plus": 0.2}.get(k, 0.0) for k in plans])
    plan_logits = np.log(np.array(list(pop_cfg.plans.values()))) + np.outer(value_z, plan_tilt)
    plan = _categorical(rng, plan_logits)
    plan_mult = np.array([{"premium": 1.3, "plus": 1.1}.get(k, 1.0) for k in plans])[plan]
    spend_lift = np.exp(cfg.purchases.social_spend_effect * social[:n]) * plan_mult
    mean_spend = base_spend * spend_lift / spend_lift.mean()

    channels = list(pop_cfg.acquisition_channels)
    ch_tilt = np.array([0.6 if k == "social_ads" else 0.0 for k in channels])
    ch_logits = np.log(np.array(list(pop_cfg.acquisition_channels.values()))) + np.outer(
        social[:n], ch_tilt
    )
    acquisition = _categorical(rng, ch_logits)

    consent_x = 0.35 * social[:n] - 0.15 * age_z[:n]
    consent = rng.random(n) < sigmoid(
        calibrate_intercept(consent_x, pop_cfg.consent_share) + consent_x
    )

    total_days = cfg.months * DAYS_PER_MONTH
    before = rng.random(n) < pop_cfg.signup_before_start
    signup_day = np.where(
        before,
        -rng.uniform(1.0, 6 * 365.25, size=n),
        rng.uniform(0.0, total_days - DAYS_PER_MONTH, size=n),
    )
    signup_day = np.floor(signup_day)  # signups are dates

    favourite_category = rng.integers(0, len(CATEGORIES), size=n).astype(np.int8)
    # Younger customers prefer the app and web; older ones the store and phone.
    chan_logits = np.outer(age_z[:n], np.array([-0.3, -0.8, 0.6, 0.9])) + np.log(
        np.array([0.4, 0.3, 0.22, 0.08])
    )
    preferred_channel = _categorical(rng, chan_logits)

    return Population(
        n_customers=n,
        n_persons=n_persons,
        regions=list(pop_cfg.regions),
        age_bands=list(pop_cfg.age_bands),
        plans=plans,
        channels=channels,
        platforms=platforms,
        community=community,
        region=region.astype(np.int8),
        age=age,
        satisfaction=satisfaction,
        price_sensitivity=price_sensitivity,
        social=social,
        platform_mask=platform_mask,
        plan=plan,
        acquisition=acquisition,
        consent=consent,
        signup_day=signup_day,
        purchase_rate=purchase_rate,
        mean_spend=mean_spend,
        favourite_category=favourite_category,
        preferred_channel=preferred_channel,
    )


CATEGORIES = ["electronics", "fashion", "home", "beauty", "sports", "grocery"]
PURCHASE_CHANNELS = ["web", "app", "store", "phone"]


def _categorical(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``logits`` (Gumbel-max)."""
    g = rng.gumbel(size=logits.shape)
    return np.argmax(logits + g, axis=1).astype(np.int8)

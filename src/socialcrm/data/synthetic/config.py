"""Typed parameters of the synthetic Social CRM world.

They mirror ``conf/data/synthetic.yaml`` (``data.generator``), which is the one
place values live: fields here have no defaults (``MISSING``) except optional
parts of an offer. Building them with :func:`generator_config` rejects unknown
keys, missing keys and wrong types, so a typo fails loudly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from omegaconf import MISSING, DictConfig, OmegaConf


@dataclass
class PopulationConfig:
    regions: dict[str, float] = field(default_factory=dict)
    age_bands: dict[str, float] = field(default_factory=dict)
    plans: dict[str, float] = field(default_factory=dict)
    acquisition_channels: dict[str, float] = field(default_factory=dict)
    consent_share: float = MISSING
    signup_before_start: float = MISSING


@dataclass
class PlatformConfig:
    share: float = MISSING
    age_slope: float = MISSING


@dataclass
class GraphConfig:
    mean_degree: float = MISSING
    community_size_mean: float = MISSING
    within_community: float = MISSING
    homophily: float = MISSING
    interactions_per_tie: float = MISSING


@dataclass
class PurchaseConfig:
    rate_mean: float = MISSING
    rate_shape: float = MISSING
    spend_mean: float = MISSING
    spend_p: float = MISSING
    spend_q: float = MISSING
    return_rate: float = MISSING
    seasonality: list[float] = field(default_factory=lambda: [1.0] * 12)
    dissatisfaction_effect: float = MISSING
    social_spend_effect: float = MISSING
    social_rate_effect: float = MISSING


@dataclass
class SupportConfig:
    ticket_rate: float = MISSING
    dissatisfaction_effect: float = MISSING
    bad_ticket_shock: float = MISSING
    good_ticket_lift: float = MISSING
    satisfaction_memory: float = MISSING
    satisfaction_noise: float = MISSING


@dataclass
class SocialConfig:
    posts_per_month: float = MISSING
    brand_mention_share: float = MISSING
    negative_slope: float = MISSING
    base_negative: float = MISSING
    base_positive: float = MISSING
    complaint_share: float = MISSING
    label_noise: float = MISSING
    figurative_share: float = MISSING


@dataclass
class ChurnEffects:
    dissatisfaction: float = MISSING
    low_satisfaction: float = MISSING
    tickets_3m: float = MISSING
    bad_tickets_3m: float = MISSING
    tenure: float = MISSING
    price_sensitivity: float = MISSING
    negative_posts_3m: float = MISSING
    premium_plan: float = MISSING
    referred: float = MISSING


@dataclass
class ContagionConfig:
    enabled: bool = MISSING
    hazard_ratio: float = MISSING
    window_months: int = MISSING
    cap: int = MISSING


@dataclass
class ChurnConfig:
    annual_rate: float = MISSING
    contract_plans: list[str] = field(default_factory=lambda: ["plus", "premium"])
    effects: ChurnEffects = field(default_factory=ChurnEffects)
    contagion: ContagionConfig = field(default_factory=ContagionConfig)


@dataclass
class OfferSpec:
    offer_id: str = MISSING
    offer_type: str = MISSING
    channel: str = MISSING
    cost: float = MISSING
    margin: float = MISSING
    value: float = MISSING
    eligible_plans: str | None = None
    min_tenure_days: int = 0
    base: float = MISSING
    effects: dict[str, float] = field(default_factory=dict)
    policy: dict[str, float] = field(default_factory=dict)
    retains: bool = False


@dataclass
class OfferConfig:
    start_month: int = MISSING
    contact_rate: float = MISSING
    response_window_days: int = MISSING
    policy_temperature: float = MISSING
    no_offer_weight: float = MISSING
    retention_effect: float = MISSING
    catalog: list[OfferSpec] = field(default_factory=list)


@dataclass
class DriftConfig:
    """A change of the world from ``start`` on (``start: null``: none), for monitoring."""

    start: str | None = MISSING
    ticket_rate_factor: float = MISSING
    spend_factor: float = MISSING
    platform: str | None = MISSING
    platform_growth: float = MISSING

    @property
    def on(self) -> bool:
        return self.start is not None


@dataclass
class GeneratorConfig:
    seed: int = MISSING
    n_customers: int = MISSING
    start_date: str = MISSING
    months: int = MISSING
    latent_per_customer: float = MISSING
    population: PopulationConfig = field(default_factory=PopulationConfig)
    platforms: dict[str, PlatformConfig] = field(default_factory=dict)
    graph: GraphConfig = field(default_factory=GraphConfig)
    purchases: PurchaseConfig = field(default_factory=PurchaseConfig)
    support: SupportConfig = field(default_factory=SupportConfig)
    social: SocialConfig = field(default_factory=SocialConfig)
    churn: ChurnConfig = field(default_factory=ChurnConfig)
    offers: OfferConfig = field(default_factory=OfferConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)


def generator_config(node: DictConfig | dict) -> GeneratorConfig:
    """Validate a ``data.generator`` config node into a :class:`GeneratorConfig`.

    Raises
    ------
    omegaconf.errors.ConfigKeyError
        On a key the generator does not know (a typo).
    omegaconf.errors.ValidationError
        On a value of the wrong type.
    """
    if isinstance(node, DictConfig):
        # Resolve interpolations such as ${seed} against the full config first.
        node = OmegaConf.to_container(node, resolve=True)
    schema = OmegaConf.structured(GeneratorConfig)
    merged = OmegaConf.merge(schema, node)
    cfg = OmegaConf.to_object(merged)
    assert isinstance(cfg, GeneratorConfig)
    _check(cfg)
    return cfg


def _check(cfg: GeneratorConfig) -> None:
    problems = []
    if cfg.n_customers < 50:
        problems.append(f"n_customers must be at least 50, got {cfg.n_customers}")
    if cfg.months < 6:
        problems.append(f"months must be at least 6, got {cfg.months}")
    if len(cfg.purchases.seasonality) != 12:
        problems.append("purchases.seasonality needs 12 monthly multipliers")
    for name, dist in [
        ("population.regions", cfg.population.regions),
        ("population.age_bands", cfg.population.age_bands),
        ("population.plans", cfg.population.plans),
        ("population.acquisition_channels", cfg.population.acquisition_channels),
    ]:
        if not dist or abs(sum(dist.values()) - 1) > 1e-6:
            problems.append(f"{name} must be shares that sum to 1, got {dict(dist)}")
    for p, pc in cfg.platforms.items():
        if not 0 < pc.share < 1:
            problems.append(f"platforms.{p}.share must be in (0, 1), got {pc.share}")
    if not 0 < cfg.churn.annual_rate < 1:
        problems.append(f"churn.annual_rate must be in (0, 1), got {cfg.churn.annual_rate}")
    if not 0 <= cfg.population.consent_share <= 1:
        problems.append("population.consent_share must be in [0, 1]")
    if cfg.offers.response_window_days >= 28:
        problems.append("offers.response_window_days must be under 28 (one month)")
    problems += _drift_problems(cfg)
    if problems:
        raise ValueError("invalid synthetic generator config:\n  " + "\n  ".join(problems))


def _drift_problems(cfg: GeneratorConfig) -> list[str]:
    d = cfg.drift
    problems = []
    if d.ticket_rate_factor <= 0 or d.spend_factor <= 0:
        problems.append("drift.ticket_rate_factor and drift.spend_factor must be positive")
    if not 0 <= d.platform_growth <= 1:
        problems.append(f"drift.platform_growth must be in [0, 1], got {d.platform_growth}")
    if d.platform is not None and d.platform not in cfg.platforms:
        problems.append(
            f"drift.platform must be one of {sorted(cfg.platforms)}, got {d.platform!r}"
        )
    if d.platform_growth > 0 and d.platform is None:
        problems.append("drift.platform_growth needs drift.platform")
    if d.start is not None:
        try:
            start = np.datetime64(d.start, "D")
        except ValueError:
            problems.append(f"drift.start must be a date (YYYY-MM-DD), got {d.start!r}")
        else:
            first = np.datetime64(cfg.start_date, "D")
            end = (np.datetime64(cfg.start_date, "M") + cfg.months).astype("datetime64[D]")
            if not first < start < end:
                problems.append(f"drift.start must fall inside the history ({first} .. {end})")
    return problems

"""Typed parameters of the synthetic Social CRM world.

They mirror ``conf/data/synthetic.yaml`` (``data.generator``); building them with
:func:`generator_config` rejects unknown keys and wrong types, so a typo in a
config fails loudly instead of silently using a default.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import DictConfig, OmegaConf


@dataclass
class PopulationConfig:
    regions: dict[str, float] = field(default_factory=dict)
    age_bands: dict[str, float] = field(default_factory=dict)
    plans: dict[str, float] = field(default_factory=dict)
    acquisition_channels: dict[str, float] = field(default_factory=dict)
    consent_share: float = 0.7
    signup_before_start: float = 0.35


@dataclass
class PlatformConfig:
    share: float = 0.3
    age_slope: float = 0.0


@dataclass
class GraphConfig:
    mean_degree: float = 7.0
    community_size_mean: float = 60.0
    within_community: float = 0.8
    homophily: float = 0.55
    interactions_per_tie: float = 1.2


@dataclass
class PurchaseConfig:
    rate_mean: float = 0.9
    rate_shape: float = 1.3
    spend_mean: float = 48.0
    spend_p: float = 4.0
    spend_q: float = 3.2
    return_rate: float = 0.05
    seasonality: list[float] = field(default_factory=lambda: [1.0] * 12)
    dissatisfaction_effect: float = 0.35
    social_spend_effect: float = 0.25
    social_rate_effect: float = 0.20


@dataclass
class SupportConfig:
    ticket_rate: float = 0.07
    dissatisfaction_effect: float = 0.6
    bad_ticket_shock: float = 0.45
    good_ticket_lift: float = 0.10
    satisfaction_memory: float = 0.8


@dataclass
class SocialConfig:
    posts_per_month: float = 0.55
    brand_mention_share: float = 0.45
    negative_slope: float = 1.2
    base_negative: float = 0.16
    base_positive: float = 0.38
    complaint_share: float = 0.6
    label_noise: float = 0.06


@dataclass
class ChurnEffects:
    dissatisfaction: float = 0.55
    low_satisfaction: float = 0.45
    tickets_3m: float = 0.12
    bad_tickets_3m: float = 0.35
    tenure: float = -0.30
    price_sensitivity: float = 0.40
    negative_posts_3m: float = 0.30
    premium_plan: float = -0.35
    referred: float = -0.25


@dataclass
class ContagionConfig:
    enabled: bool = True
    hazard_ratio: float = 1.8
    window_months: int = 3
    cap: int = 2


@dataclass
class ChurnConfig:
    annual_rate: float = 0.28
    contract_plans: list[str] = field(default_factory=lambda: ["plus", "premium"])
    effects: ChurnEffects = field(default_factory=ChurnEffects)
    contagion: ContagionConfig = field(default_factory=ContagionConfig)


@dataclass
class OfferSpec:
    offer_id: str = ""
    offer_type: str = ""
    channel: str = "email"
    cost: float = 0.0
    margin: float = 0.3
    value: float = 1.0
    eligible_plans: str | None = None
    min_tenure_days: int = 0
    base: float = -3.0
    effects: dict[str, float] = field(default_factory=dict)
    policy: dict[str, float] = field(default_factory=dict)
    retains: bool = False


@dataclass
class OfferConfig:
    start_month: int = 3
    contact_rate: float = 0.12
    response_window_days: int = 14
    policy_temperature: float = 1.0
    no_offer_weight: float = 1.0
    retention_effect: float = -0.6
    catalog: list[OfferSpec] = field(default_factory=list)


@dataclass
class GeneratorConfig:
    seed: int = 42
    n_customers: int = 20000
    start_date: str = "2023-07-01"
    months: int = 36
    latent_per_customer: float = 0.35
    population: PopulationConfig = field(default_factory=PopulationConfig)
    platforms: dict[str, PlatformConfig] = field(default_factory=dict)
    graph: GraphConfig = field(default_factory=GraphConfig)
    purchases: PurchaseConfig = field(default_factory=PurchaseConfig)
    support: SupportConfig = field(default_factory=SupportConfig)
    social: SocialConfig = field(default_factory=SocialConfig)
    churn: ChurnConfig = field(default_factory=ChurnConfig)
    offers: OfferConfig = field(default_factory=OfferConfig)


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
    if problems:
        raise ValueError("invalid synthetic generator config:\n  " + "\n  ".join(problems))

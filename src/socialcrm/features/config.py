"""Typed parameters of the feature and label builder (``conf/features/``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf

from socialcrm.errors import ConfigError
from socialcrm.identity import ON_MISMATCH

GROUPS = ("crm", "social_activity", "social_listening", "social_graph", "referral", "btyd")
SOCIAL_GROUPS = ("social_activity", "social_listening", "social_graph")
CHURN_DEFINITIONS = ("inactivity", "contract_end", "either")
#: FeatureConfig fields that do not change the table's content (where and how it is built).
#: Every other field, including any added later, is part of the table's identity.
NOT_CONTENT = ("name", "output_dir", "engine", "duckdb", "spark", "on_mismatch")
ENGINES = ("duckdb", "spark")


@dataclass
class CutoffConfig:
    dates: list[str] | None = MISSING
    first: str | None = MISSING
    last: str | None = MISSING
    every_months: int = MISSING
    min_history_days: int = MISSING


@dataclass
class PopulationConfig:
    active_within_days: int | None = MISSING


@dataclass
class ChurnConfig:
    definition: str = MISSING
    inactivity_days: int = MISSING


@dataclass
class GraphConfig:
    recent_churn_days: int = MISSING
    damping: float = MISSING
    seed: int = MISSING


@dataclass
class BtydConfig:
    refit_every_months: int = MISSING


@dataclass
class SplitConfig:
    test_cutoffs: int = MISSING
    valid_cutoffs: int = MISSING


@dataclass
class DuckDBConfig:
    threads: int = MISSING
    memory_limit: str = MISSING
    temp_dir: str | None = MISSING
    max_temp_directory_size: str = "20GB"
    shard_rows: int | None = 2_000_000


@dataclass
class SparkConfig:
    master: str = "local[2]"
    driver_memory: str = "6g"
    shuffle_partitions: int = 8
    local_dir: str | None = None
    conf: dict[str, str] = field(default_factory=dict)


@dataclass
class FeatureConfig:
    name: str = MISSING
    groups: list[str] = field(default_factory=lambda: list(GROUPS))
    cutoffs: CutoffConfig = field(default_factory=CutoffConfig)
    windows_days: list[int] = field(default_factory=lambda: [30, 90, 180, 365])
    horizon_days: int = MISSING
    population: PopulationConfig = field(default_factory=PopulationConfig)
    churn: ChurnConfig = field(default_factory=ChurnConfig)
    channels: list[str] = field(default_factory=lambda: ["web", "app", "store", "phone"])
    offer_response_days: int = MISSING
    graph: GraphConfig = field(default_factory=GraphConfig)
    btyd: BtydConfig = field(default_factory=BtydConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    snapshot_attributes: bool = MISSING
    output_dir: str | None = MISSING
    engine: str = "duckdb"
    duckdb: DuckDBConfig = field(default_factory=DuckDBConfig)
    spark: SparkConfig = field(default_factory=SparkConfig)
    # a default, not MISSING: configs composed before the switch existed (params.yaml) hold
    on_mismatch: str = "rebuild"

    @property
    def active_within_days(self) -> int | None:
        """The population's activity condition (days), resolved from the churn definition."""
        if self.population.active_within_days is not None:
            return self.population.active_within_days
        if self.churn.definition == "contract_end":
            return None
        return self.churn.inactivity_days

    @property
    def long_window(self) -> int:
        """The longest look-back window (days)."""
        return max(self.windows_days)


def feature_config(node: DictConfig | dict) -> FeatureConfig:
    """Validate a ``features`` config node into a :class:`FeatureConfig`.

    Raises
    ------
    omegaconf.errors.ConfigKeyError
        On an unknown key.
    ConfigError
        (a ``ValueError``) On an unknown group, churn definition, ``on_mismatch``
        value or a non-positive window.
    """
    if isinstance(node, DictConfig):
        node = OmegaConf.to_container(node, resolve=True)
    merged = OmegaConf.merge(OmegaConf.structured(FeatureConfig), node)
    cfg = OmegaConf.to_object(merged)
    assert isinstance(cfg, FeatureConfig)
    problems = []
    unknown = sorted(set(cfg.groups) - set(GROUPS))
    if unknown:
        problems.append(f"unknown feature groups {unknown}; choose from {list(GROUPS)}")
    if "crm" not in cfg.groups:
        problems.append("the crm group is required (population and labels build on it)")
    if cfg.churn.definition not in CHURN_DEFINITIONS:
        problems.append(
            f"churn.definition must be one of {CHURN_DEFINITIONS}, got {cfg.churn.definition!r}"
        )
    if not cfg.windows_days or min(cfg.windows_days) <= 0:
        problems.append(f"windows_days must be positive, got {cfg.windows_days}")
    if cfg.btyd.refit_every_months <= 0:
        problems.append(
            f"btyd.refit_every_months must be positive, got {cfg.btyd.refit_every_months}"
        )
    if cfg.horizon_days <= 0:
        problems.append(f"horizon_days must be positive, got {cfg.horizon_days}")
    if cfg.engine not in ENGINES:
        problems.append(f"engine must be one of {list(ENGINES)}, got {cfg.engine!r}")
    if cfg.on_mismatch not in ON_MISMATCH:
        problems.append(f"on_mismatch must be one of {list(ON_MISMATCH)}, got {cfg.on_mismatch!r}")
    if problems:
        raise ConfigError("invalid features config:\n  " + "\n  ".join(problems))
    cfg.windows_days = sorted(set(cfg.windows_days))
    return cfg


def content_config(cfg: FeatureConfig) -> dict[str, Any]:
    """The part of a feature config that determines the table's content.

    Every field but :data:`NOT_CONTENT`; groups in canonical order (the build
    order does not depend on how they are listed).

    Parameters
    ----------
    cfg
        A validated config (:func:`feature_config`).

    Returns
    -------
    dict
        JSON-able.
    """
    out = {k: v for k, v in asdict(cfg).items() if k not in NOT_CONTENT}
    out["groups"] = [g for g in GROUPS if g in cfg.groups]
    return out

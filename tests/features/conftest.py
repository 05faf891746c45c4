"""Small synthetic worlds as in-memory canonical tables, and a one-call feature build."""

from __future__ import annotations

import pandas as pd
import pytest

from socialcrm.config import compose
from socialcrm.data.generate import write_synthetic
from socialcrm.data.schemas import TABLES
from socialcrm.features.build import FeatureTable, build_features
from socialcrm.features.config import feature_config
from socialcrm.features.engine import connect, register_frames
from socialcrm.listening import build_scorer_fn

SCORER = build_scorer_fn({"scorer": "vader", "n_jobs": 1})


def generate_tables(tmp_path_factory, label: str, overrides: list[str]) -> dict[str, pd.DataFrame]:
    cfg = compose(["data=synthetic_small", *overrides])
    root = tmp_path_factory.mktemp(label)
    write_synthetic(cfg.data.generator, root, cfg.data.salt)
    return {name: pd.read_parquet(root / f"{name}.parquet") for name in TABLES}


def build(
    tables: dict[str, pd.DataFrame],
    overrides: list[str] = (),
    cutoffs: list[pd.Timestamp] | None = None,
) -> FeatureTable:
    cfg = compose(["data=synthetic_small", *overrides])
    con = connect(threads=2, memory_limit="4GB")
    register_frames(con, tables)
    return build_features(
        con, feature_config(cfg.features), list(cfg.data.platforms), SCORER, cutoffs=cutoffs
    )


@pytest.fixture(scope="session")
def small_tables(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """The synthetic_small world (2k customers)."""
    return generate_tables(tmp_path_factory, "features_small", [])


@pytest.fixture(scope="session")
def tiny_tables(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """A 300-customer world: fast enough to rebuild features many times."""
    return generate_tables(tmp_path_factory, "features_tiny", ["data.generator.n_customers=300"])

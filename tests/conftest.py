"""Synthetic worlds generated once per test session (per xdist worker) into temporary folders.

Tests that use the default-size worlds carry ``pytest.mark.xdist_group("worlds")`` so
that one worker generates them once.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from socialcrm.config import compose
from socialcrm.data.generate import write_synthetic


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Keep ``--dist loadgroup`` grouping on pytest 9.

    pytest-xdist 3.8 tags a grouped test by appending ``@<group>`` to ``item._nodeid``,
    which pytest 9 no longer reads (a node's id is ``item._id``): every test was then
    scheduled alone and each module or session fixture was built on both workers. Here
    a grouped test gets its group and any other test its module (what ``--dist
    loadscope`` does), so a module's fixtures are built once.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import coerce_node_id

    for item in items:
        if "@" in item.nodeid.rsplit("]", 1)[-1]:
            continue  # a future xdist that tags it itself
        names = sorted(
            {
                str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                for m in item.iter_markers("xdist_group")
            }
        )
        group = "_".join(names) if names else item.nodeid.split("::", 1)[0]
        try:
            item._id = coerce_node_id(f"{item.nodeid}@{group}")
        except (AttributeError, ValueError):  # another pytest: leave xdist's own
            return


# Two xdist workers share two cores: one model thread each (OpenMP threads that
# outnumber the cores spin and slow LightGBM down tenfold).
os.environ.setdefault("SOCIALCRM_N_JOBS", "1")


class World:
    """Read access to one generated data set (canonical tables and truth/)."""

    def __init__(self, root: Path, generator):
        self.root = root
        self.generator = generator
        self._cache: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._cache:
            self._cache[name] = pd.read_parquet(self.root / f"{name}.parquet")
        return self._cache[name]


def make_world(tmp_path_factory, overrides: list[str], label: str) -> World:
    cfg = compose(overrides)
    root = tmp_path_factory.mktemp(label) / "raw"
    write_synthetic(cfg.data.generator, root, cfg.data.salt)
    return World(root, cfg.data.generator)


@pytest.fixture(scope="session")
def small_world(tmp_path_factory) -> World:
    """The test preset (about 2k customers)."""
    return make_world(tmp_path_factory, ["data=synthetic_small"], "small")


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    """The default preset (about 20k customers): tight tolerances for statistical checks."""
    return make_world(tmp_path_factory, [], "default")


@pytest.fixture(scope="session")
def world_no_contagion(tmp_path_factory) -> World:
    """The default preset with contagion switched off (the negative control)."""
    return make_world(
        tmp_path_factory, ["data.generator.churn.contagion.enabled=false"], "no_contagion"
    )


class QuickWorld:
    """The quick preset's world, ingested, with its feature table built: the production
    tests (promotion, serving, scoring, model cards) train on it, each module in its own
    MLflow store (:meth:`overrides`)."""

    #: distinctive, so that tests can show it is written nowhere
    salt = "quick-test-salt-5e1f9a"

    def __init__(self, root: Path):
        self.root = root

    def overrides(self, store: Path, *extra: str) -> list[str]:
        """Config overrides for this world with the MLflow store in ``store``."""
        return [
            "experiment=quick",
            f"paths.root_dir={self.root}",
            f"data.salt={self.salt}",
            f"tracking.tracking_uri=sqlite:///{store}/mlflow.db",
            f"tracking.artifact_root={store}/artifacts",
            *extra,
        ]


@pytest.fixture(scope="session")
def quick_world(tmp_path_factory) -> QuickWorld:
    """Generated, ingested and featurised once per worker (tests that use it share the
    ``production`` xdist group, so once per run)."""
    from socialcrm.data import load
    from socialcrm.data.generate import run_generate
    from socialcrm.features.run import ensure_features

    world = QuickWorld(tmp_path_factory.mktemp("quick_world"))
    cfg = compose(world.overrides(tmp_path_factory.mktemp("quick_store")))
    run_generate(cfg)
    load.ingest(load.DataSource.from_config(cfg.data))
    ensure_features(cfg)
    return world

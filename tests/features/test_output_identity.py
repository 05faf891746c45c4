"""A feature table is reused only for the request it was built for (issue 12, item 5).

``ensure_features`` keys the table at ``features.output_dir`` by the identity in its
``build.json``: equal -> reused untouched; different -> rebuilt, or refused with
``features.on_mismatch=error`` naming each differing key as ``old -> new``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from socialcrm.config import compose
from socialcrm.data import load
from socialcrm.data.generate import run_generate
from socialcrm.features.run import (
    BUILD_FILE,
    ensure_features,
    feature_identity,
    requested_identity,
    run_features,
)
from socialcrm.identity import (
    ABSENT,
    Change,
    IdentityMismatchError,
    describe_changes,
    identity_changes,
    identity_hash,
)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A 300-customer world, generated and ingested once under a temporary root."""
    root = tmp_path_factory.mktemp("identity_root")
    cfg = compose(_overrides(root))
    run_generate(cfg)
    load.ingest(load.DataSource.from_config(cfg.data))
    return root


def _overrides(root: Path, *extra: str) -> list[str]:
    return [
        "experiment=quick",
        f"paths.root_dir={root}",
        "data.generator.n_customers=300",
        "features=crm",
        "features.cutoffs.every_months=6",
        *extra,
    ]


def _cfg(root: Path, out: Path, *extra: str):
    return compose(_overrides(root, f"features.output_dir={out}", *extra))


def _build_info(path: Path) -> dict:
    return json.loads((path.parent / BUILD_FILE).read_text())


def test_another_horizon_rebuilds_the_table(root, tmp_path):
    first = ensure_features(_cfg(root, tmp_path / "t"))
    before = pd.read_parquet(first)
    assert _build_info(first)["identity"]["features"]["horizon_days"] == 90

    second = ensure_features(_cfg(root, tmp_path / "t", "features.horizon_days=180"))
    after = pd.read_parquet(second)
    assert second == first
    info = _build_info(second)
    assert info["features"]["horizon_days"] == 180
    assert info["identity"]["features"]["horizon_days"] == 180
    assert info["identity_sha256"] == identity_hash(info["identity"])
    # the labels follow the longer horizon: more future spend for the same customers
    both = before.merge(after, on=["customer_id", "cutoff"], suffixes=("_90", "_180"))
    assert len(both) > 100
    spend_90, spend_180 = both["label_future_spend_90"], both["label_future_spend_180"]
    assert (spend_180 != spend_90).mean() > 0.5
    assert spend_180.mean() > 1.5 * spend_90.mean()


def test_on_mismatch_error_names_the_differing_keys_and_keeps_the_table(root, tmp_path):
    path = ensure_features(_cfg(root, tmp_path / "t"))
    mtime = path.stat().st_mtime_ns
    cfg = _cfg(root, tmp_path / "t", "features.horizon_days=180", "features.on_mismatch=error")
    with pytest.raises(IdentityMismatchError, match=r"features\.horizon_days 90 -> 180"):
        ensure_features(cfg)
    assert path.stat().st_mtime_ns == mtime
    assert _build_info(path)["identity"]["features"]["horizon_days"] == 90


def test_the_same_request_reuses_the_table(root, tmp_path):
    path = ensure_features(_cfg(root, tmp_path / "t"))
    stamps = {p.name: p.stat().st_mtime_ns for p in path.parent.iterdir()}
    assert ensure_features(_cfg(root, tmp_path / "t")) == path
    # where and how it is built is no part of its identity
    again = _cfg(root, tmp_path / "t", "features.duckdb.threads=1", "features.name=renamed")
    assert ensure_features(again) == path
    assert {p.name: p.stat().st_mtime_ns for p in path.parent.iterdir()} == stamps


def test_a_table_built_by_run_features_is_reused(root, tmp_path):
    cfg = _cfg(root, tmp_path / "t")
    run_features(cfg)
    path = tmp_path / "t" / "features.parquet"
    mtime = path.stat().st_mtime_ns
    assert ensure_features(cfg) == path
    assert path.stat().st_mtime_ns == mtime


def test_re_ingesting_the_same_data_keeps_the_identity(root, tmp_path):
    cfg = _cfg(root, tmp_path / "t")
    before = requested_identity(cfg)
    load.ingest(load.DataSource.from_config(cfg.data))
    assert identity_hash(requested_identity(cfg)) == identity_hash(before)


def test_a_table_without_a_recorded_identity_counts_as_differing(root, tmp_path):
    cfg = _cfg(root, tmp_path / "t")
    path = ensure_features(cfg)
    info = _build_info(path)
    del info["identity"], info["identity_sha256"]
    (path.parent / BUILD_FILE).write_text(json.dumps(info))
    with pytest.raises(IdentityMismatchError, match="records no identity"):
        ensure_features(_cfg(root, tmp_path / "t", "features.on_mismatch=error"))
    mtime = path.stat().st_mtime_ns
    ensure_features(cfg)
    assert path.stat().st_mtime_ns != mtime
    assert "identity" in _build_info(path)


def test_identity_covers_content_and_ignores_where_and_how(tmp_path):
    fingerprints = {
        "data": {"name": "d", "as_of": None, "tables_sha256": {"customers": "0" * 64}},
        "code_sha256": {"features": "1" * 64},
    }

    def identity(*extra: str) -> dict:
        return feature_identity(compose(_overrides(tmp_path, *extra)), fingerprints)

    base = identity()
    for same in (
        "features.name=other",
        "features.output_dir=/elsewhere",
        "features.duckdb.threads=8",
        "features.on_mismatch=error",
        "features.windows_days=[365,180,90,30]",
    ):
        assert identity_hash(identity(same)) == identity_hash(base), same
    for other, key in (
        ("features.churn.definition=inactivity", "features.churn.definition"),
        ("features.population.active_within_days=60", "features.population.active_within_days"),
        ("features.windows_days=[30,90]", "features.windows_days"),
        ("features.cutoffs.every_months=3", "features.cutoffs.every_months"),
        ("features.groups=[crm,btyd]", "features.groups"),
        ("data.platforms=[x]", "data.platforms"),
    ):
        changes = identity_changes(base, identity(other))
        assert [c.key for c in changes] == [key], other
    assert identity_hash(identity("features.groups=[btyd,crm]")) == identity_hash(
        identity("features.groups=[crm,btyd]")
    )
    with_listening = identity("features=crm_social")
    assert with_listening["listening"] == {"scorer": "vader", "model_sha256": None}


def test_identity_changes_name_each_leaf_old_to_new():
    old = {"features": {"horizon_days": 90, "groups": ["crm"]}, "data": {"sha": "a" * 64}}
    new = {"features": {"horizon_days": 180, "groups": ["crm"]}, "code": "x"}
    changes = identity_changes(old, new)
    assert changes == [
        Change("code", ABSENT, "x"),
        Change("data.sha", "a" * 64, ABSENT),
        Change("features.horizon_days", 90, 180),
    ]
    text = describe_changes(changes)
    assert "features.horizon_days 90 -> 180" in text
    assert f"data.sha {'a' * 12}... -> {ABSENT}" in text
    assert identity_changes(new, json.loads(json.dumps(new))) == []

"""DuckDB's memory and temporary disk are bounded by config, and a build that needs more
stops with a message naming the keys (issue 16), not with a full disk."""

from __future__ import annotations

import pytest

from socialcrm.config import compose
from socialcrm.errors import USAGE_ERROR
from socialcrm.features.run import FeatureResourceError, build_from_config, parse_size, temp_cap


def test_sizes_are_read_with_their_units():
    assert parse_size("20GB") == 20 * 10**9
    assert parse_size("512MiB") == 512 * 2**20
    assert parse_size("1.5 kb") == 1500
    with pytest.raises(ValueError, match="cannot read the size"):
        parse_size("lots")


def test_temp_cap_keeps_a_size_that_fits_and_caps_one_that_does_not(tmp_path):
    assert temp_cap("1MB", tmp_path) == ("1MB", None)
    size, note = temp_cap("1000000TB", tmp_path)
    assert size.endswith("B") and parse_size(size) < 1000000 * 10**12
    assert "90% of the free space" in note and "max_temp_directory_size=1000000TB" in note


def test_a_build_beyond_its_limits_stops_naming_the_keys(tiny_tables, tmp_path):
    cfg = compose(
        [
            "data=synthetic_small",
            "features.groups=[crm]",
            "features.duckdb.threads=1",
            "features.duckdb.memory_limit=2MB",
            "features.duckdb.max_temp_directory_size=1MB",
            f"features.duckdb.temp_dir={tmp_path / 'duck'}",
        ]
    )
    with pytest.raises(FeatureResourceError) as info:
        build_from_config(cfg, lambda db: db.register_frames(tiny_tables))
    message = str(info.value)
    for key in ("memory_limit=2MB", "max_temp_directory_size=1MB", "features.engine=spark"):
        assert key in message
    assert info.value.exit_code == USAGE_ERROR

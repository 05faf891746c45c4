"""The BTYD baseline reproduces the published BG/NBD parameters on the CDNOW sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from socialcrm.config import compose
from socialcrm.models.btyd import BTYDModel, rfm_from_transactions
from socialcrm.paths import project_root


def test_rfm_merges_same_day_purchases_and_counts_in_weeks():
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b"],
            "timestamp": pd.to_datetime(
                ["2024-01-01 09:00", "2024-01-01 18:00", "2024-01-15", "2024-01-29", "2024-01-08"],
                format="ISO8601",
            ),
            "amount": [10.0, 5.0, 20.0, 40.0, 7.0],
        }
    )
    rfm = rfm_from_transactions(tx, "2024-02-13").set_index("customer_id")
    assert rfm.loc["a", "frequency"] == 2  # the two purchases of Jan 1 are one
    assert rfm.loc["a", "recency"] == pytest.approx(4.0)
    assert rfm.loc["a", "T"] == pytest.approx(6.0)
    assert rfm.loc["a", "monetary_value"] == pytest.approx(30.0)  # repeat days only
    assert rfm.loc["b", "frequency"] == 0 and rfm.loc["b", "monetary_value"] == 0
    # nothing at or after the end counts
    assert len(rfm_from_transactions(tx, "2024-01-02")) == 1


def test_cdnow_sample_parameters():
    path = Path(compose([]).paths.shared_data_dir) / "cdnow" / "CDNOW_sample.txt"
    if not path.is_file():
        pytest.skip(f"{path} not found (real data beside the repo; absent in a user's clone)")
    raw = pd.read_csv(
        path, sep=r"\s+", header=None, names=["master_id", "customer_id", "date", "cds", "amount"]
    )
    tx = raw.assign(timestamp=pd.to_datetime(raw.date.astype(str), format="%Y%m%d"))
    rfm = rfm_from_transactions(tx, "1997-10-01")
    assert len(rfm) == 2357
    model = BTYDModel(compiledir=str(project_root() / ".cache" / "pytensor")).fit(rfm)
    p = model.params
    # Fader, Hardie and Lee (2005): r=0.243, alpha=4.414, a=0.793, b=2.426
    for key, published in {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}.items():
        assert p[key] == pytest.approx(published, rel=0.01), key
    alive = model.probability_alive(rfm)
    assert ((alive > 0) & (alive <= 1)).all()
    # one-time buyers who bought long ago are less likely alive than recent repeaters
    one_time = rfm.frequency.eq(0).to_numpy()
    assert alive[~one_time].mean() > 0.3
    expected = model.expected_purchases(rfm, 39.0)
    assert np.all(expected >= 0) and 1000 < expected.sum() < 2500
    clv = model.clv(rfm, 39.0)
    assert np.allclose(clv, expected * model.expected_spend(rfm))

"""The CDNOW experiment's building blocks: features see only the past, labels only
their window, the offset formula, the README tables from the grid's summary, and
(with the real data, through the own-data path) the BTYD reference figures of the
classic protocol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from socialcrm.config import compose
from socialcrm.evaluation.value import value_metrics
from socialcrm.experiments.clv_cdnow import (
    CAL_END,
    HOLD_END,
    Block,
    btyd_offset,
    daily_purchases,
    load_transactions,
    make_block,
    markdown_tables,
    references,
    rfm_features,
    summary_of,
    value_row,
    window_totals,
)
from socialcrm.experiments.grid import DIMENSIONS
from socialcrm.models.btyd import BTYDModel, rfm_from_transactions


def _tx() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "b", "c"],
            "timestamp": pd.to_datetime(
                [
                    "1997-01-03 10:00",
                    "1997-01-03 15:00",
                    "1997-02-10",
                    "1997-01-20",
                    "1997-03-05",
                    "1997-03-20",
                ],
                format="ISO8601",
            ),
            "amount": [10.0, 5.0, 20.0, 30.0, 12.0, 8.0],
            "quantity": [1, 1, 2, 3, 1, 1],
            "is_return": [False] * 6,
        }
    )


def test_features_use_only_purchases_before_the_cutoff():
    daily = daily_purchases(_tx())
    assert len(daily) == 5  # a's two purchases on Jan 3 are one purchase day
    f = rfm_features(daily, "1997-03-01")
    assert set(f.index) == {"a", "b"}  # c first bought after the cutoff
    assert f.loc["a", "frequency"] == 1 and f.loc["a", "first_amount"] == 15.0
    assert f.loc["a", "recency_d"] == 19 and f.loc["a", "price_per_cd"] == pytest.approx(35 / 4)
    assert f.loc["b", "total_spend"] == 30.0  # the March purchase is after the cutoff
    # the BTYD part is the one RFM summary, in days (its age ends the day before the cutoff)
    rfm = rfm_from_transactions(_tx(), "1997-03-01", time_unit_days=1.0).set_index("customer_id")
    np.testing.assert_array_equal(f["frequency"], rfm["frequency"])
    np.testing.assert_array_equal(f["tenure_d"], rfm["T"] + 1)
    np.testing.assert_array_equal(f["recency_d"], rfm["T"] + 1 - rfm["recency"])
    assert f.loc["a", "mv_repeat"] == rfm.loc["a", "monetary_value"] == 20.0
    later = daily_purchases(
        pd.concat([_tx(), _tx().assign(timestamp=pd.Timestamp("1997-03-02"))], ignore_index=True)
    )
    pd.testing.assert_frame_equal(rfm_features(later, "1997-03-01"), f)
    totals = window_totals(daily, "1997-03-01", "1997-04-01")
    assert totals.to_dict("index") == {
        "b": {"spend": 12.0, "purchases": 1.0},
        "c": {"spend": 8.0, "purchases": 1.0},
    }


def test_offset_is_the_log_mean_of_decaying_and_flat_btyd_forecasts():
    X = pd.DataFrame({"clv_h": [40.0, 90.0], "exp_purch_1w": [0.1, 0.2], "exp_spend": [50.0, 25.0]})
    weeks = np.array([10.0, 20.0])
    flat = np.array([0.1 * 50 * 10, 0.2 * 25 * 20])
    np.testing.assert_allclose(btyd_offset(X, weeks), np.log(np.sqrt(X.clv_h * flat)))


def test_tables_put_the_references_first_and_the_worst_seed_beside():
    spend = np.array([0.0, 0.0, 10.0, 40.0, 100.0])
    X = pd.DataFrame({"clv_h": [1.0, 2.0, 8.0, 30.0, 60.0], "exp_purch_h": [0.1, 0.2, 1, 2, 3]})
    test = Block(X, spend, np.array([0.0, 0.0, 1.0, 2.0, 4.0]), 39.0)
    rows = []
    for split in ("holdout", "inner validation"):
        for seed in (0, 1):
            pred = spend + 5.0 * (seed + 1)
            row = value_row(spend, pred) | references(test)
            dims = dict(
                zip(DIMENSIONS, (split, seed, "LightGBM blend (150 trees)", "", "f"), strict=True)
            )
            rows.append(dims | row)
    md = markdown_tables(summary_of(pd.DataFrame(rows)), {"r": 0.2427})
    holdout, inner, params = md.split("\n\n**")[0], md.split("\n\n**")[1], md.split("\n\n")[-1]
    assert holdout.startswith(
        "**Holdout 1997-10-01..1998-06-30 (23,570 customers)** (mean over seeds)"
    )
    lines = holdout.splitlines()
    assert lines[4].startswith("| BG/NBD + Gamma-Gamma | ") and lines[4].endswith(
        "| 101 / 150 | 6 / 7 | 0.2600 |  |"
    )
    assert lines[5].startswith("| zero for everyone | ")
    # RMSE 5 and 10 at seeds 0 and 1: mean 7.50, worst 10.00
    assert lines[6].startswith("| LightGBM blend (150 trees) | ") and "| 7.50 |" in lines[6]
    assert lines[6].endswith("| 1.0000 / 10.00 / 0.450 |")  # worst Gini / RMSE / decile MAPE
    assert inner.startswith("Inner validation")
    assert params == "BG/NBD and Gamma-Gamma parameters (calibration to 1997-09-30): r=0.2427."


def test_btyd_reproduces_the_reference_holdout_figures(tmp_path):
    path = Path(compose([]).paths.shared_data_dir) / "cdnow" / "CDNOW_master.txt"
    if not path.is_file():
        pytest.skip(f"{path} not found (real data beside the repo; absent in a user's clone)")
    tx = load_transactions(compose(["data=cdnow", f"paths.interim_dir={tmp_path}"]))
    assert (tmp_path / "cdnow" / "transactions.parquet").is_file()
    daily = daily_purchases(tx)
    rfm = rfm_from_transactions(tx, CAL_END)
    block = make_block(daily, BTYDModel().fit(rfm), rfm, CAL_END, HOLD_END)
    assert len(block.X) == 23570 and block.weeks == 39.0
    m = value_metrics(block.spend, block.X["clv_h"].to_numpy())
    # measured with off-the-shelf tools on this protocol: Gini 0.672, RMSE 92.9, MAE 32.7
    assert m["normalized_gini"] == pytest.approx(0.672, abs=0.005)
    assert m["rmse"] == pytest.approx(92.9, abs=0.3)
    assert m["mae"] == pytest.approx(32.7, abs=0.3)
    assert m["top10_share"] == pytest.approx(0.516, abs=0.005)

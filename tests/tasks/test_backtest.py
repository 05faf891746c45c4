"""The rolling-origin backtest: k origins, each judged after everything it learnt from."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from socialcrm.config import compose
from socialcrm.data import load
from socialcrm.data.generate import run_generate
from socialcrm.runner import fit, prepare
from socialcrm.tasks.splits import rolling_origins, with_split

pytestmark = pytest.mark.xdist_group("backtest")

MONTHS = list(pd.date_range("2023-01-01", periods=12, freq="MS"))


def test_each_origin_tests_one_of_the_last_cutoffs_and_is_purged():
    maps = rolling_origins(MONTHS, horizon_days=90, test_cutoffs=3)
    assert [max(c for c, s in m.items() if s == "test") for m in maps] == MONTHS[-3:]
    for m in maps:
        test = min(c for c, s in m.items() if s == "test")
        valid = [c for c, s in m.items() if s == "valid"]
        train = [c for c, s in m.items() if s == "train"]
        assert len(valid) == 1 and train
        # purged: every label window ends before the next split starts
        assert valid[0] + pd.Timedelta(days=90) <= test
        assert max(train) + pd.Timedelta(days=90) <= valid[0]
        assert all(m[c] == "gap" for c in MONTHS if c > test)  # the future is never used


def test_too_many_origins_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="no train cutoff"):
        rolling_origins(MONTHS[:5], horizon_days=90, test_cutoffs=3)
    with pytest.raises(ValueError, match="must be 1 to 12"):
        rolling_origins(MONTHS, horizon_days=90, test_cutoffs=13)


def test_with_split_relabels_rows_by_cutoff():
    frame = pd.DataFrame({"cutoff": [MONTHS[0], MONTHS[5], MONTHS[11]], "split": "x"})
    out = with_split(frame, {MONTHS[0]: "train", MONTHS[11]: "test"})
    assert list(out.split) == ["train", "gap", "test"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("backtest")
    base = ["experiment=quick", f"paths.root_dir={root}", "model=logreg", "task.explain=false"]
    cfg = compose(base)
    run_generate(cfg)
    load.ingest(load.DataSource.from_config(cfg.data))
    return base, prepare(cfg)


def test_the_backtest_reports_every_origin_and_the_latest_is_the_plain_run(prepared):
    base, plain = prepared
    open_figures = len(plt.get_fignums())
    single, _ = fit(plain)
    backtest = prepare(compose([*base, "split.test_cutoffs=2"]))
    result, _ = fit(backtest)
    # fitting draws nothing: plots are functions until the run edge publishes
    assert len(plt.get_fignums()) == open_figures and not result.figures
    assert {"roc", "calibration", "profit"} <= set(result.drawings)
    table = result.tables["backtest"]
    cutoffs = sorted(plain.frame.cutoff.unique())
    assert list(pd.to_datetime(table.test_cutoff)) == [pd.Timestamp(c) for c in cutoffs[-2:]]
    # the latest origin is the ordinary split: the same numbers as a single run
    assert result.metrics["roc_auc"] == pytest.approx(single.metrics["roc_auc"], abs=1e-12)
    assert table.roc_auc.iloc[-1] == pytest.approx(single.metrics["roc_auc"], abs=1e-12)
    assert result.metrics["backtest_roc_auc_mean"] == pytest.approx(table.roc_auc.mean())
    assert result.metrics["backtest_roc_auc_sd"] == pytest.approx(np.std(table.roc_auc, ddof=1))
    assert "backtest_baseline_roc_auc_mean" in result.metrics
    assert table.roc_auc.iloc[0] != table.roc_auc.iloc[1]  # another origin, another fit

"""How a result's metrics are named in MLflow (pure): valid_, test_ or cv_, backtest_."""

from __future__ import annotations

from types import SimpleNamespace

from socialcrm.tracking.log import result_metrics, run_params


def test_time_split_metrics_read_by_prefix():
    result = SimpleNamespace(
        metrics={"roc_auc": 0.7, "valid_roc_auc": 0.71, "backtest_roc_auc_mean": 0.69},
        baseline_metrics={"roc_auc": 0.5},
        references={"btyd": {"normalized_gini": 0.8}},
    )
    assert result_metrics(result) == {
        "test_roc_auc": 0.7,
        "valid_roc_auc": 0.71,
        "backtest_roc_auc_mean": 0.69,
        "test_baseline_roc_auc": 0.5,
        "test_btyd_normalized_gini": 0.8,
    }


def test_cross_validated_metrics_are_cv_means():
    result = SimpleNamespace(
        metrics={"roc_auc": 0.84, "roc_auc_sd": 0.01}, baseline_metrics={}, references={}
    )
    assert result_metrics(result) == {"cv_roc_auc": 0.84, "cv_roc_auc_sd": 0.01}


def test_run_params_keep_what_tells_runs_apart():
    container = {
        "task": {"target": "y", "salt": "<redacted>", "baseline": {"k": 2}},
        "model": {"name": "m", "preprocessing": "tree", "classification": {"a": 1},
                  "regression": {"b": 2}},
        "features": {"name": "all", "horizon_days": 90, "output_dir": "/x", "engine": {}},
        "data": {"name": "d", "source": "s", "as_of": None, "generator": {"n": 1}},
        "paths": {"root_dir": "/x"},
        "seed": 7,
        "split": {"test_cutoffs": 1},
    }  # fmt: skip
    assert run_params(container, "classification") == {
        "task.target": "y",
        "task.baseline.k": "2",
        "model.name": "m",
        "model.preprocessing": "tree",
        "model.classification.a": "1",
        "features.name": "all",
        "features.horizon_days": "90",
        "data.name": "d",
        "data.source": "s",
        "data.as_of": "None",
        "seed": "7",
        "split.test_cutoffs": "1",
    }

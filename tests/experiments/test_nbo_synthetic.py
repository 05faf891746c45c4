"""The nbo-synthetic experiment: the learner is chosen per seed on the validation
period (never the test), and one small world runs through the grid into the results
files, the README block and one MLflow run."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

from socialcrm.config import compose
from socialcrm.experiments import grid
from socialcrm.experiments import nbo_synthetic as nbo
from socialcrm.tasks.nbo import ESTIMATORS

START, END = "<!-- results:start -->", "<!-- results:end -->"


def test_the_learner_is_chosen_on_validation_not_on_test():
    # seed 1: t is best on validation, s on test; seed 2: dr on validation, t on test
    valid = {1: {"s": 10.0, "t": 12.0, "dr": 11.0}, 2: {"s": 9.0, "t": 8.0, "dr": 9.5}}
    test = {1: {"s": 20.0, "t": 15.0, "dr": 14.0}, 2: {"s": 10.0, "t": 30.0, "dr": 9.0}}
    rows = [
        {"world": "", "seed": seed, "learner": lr, "campaign": c, "features": "all"}
        | {"valid_policy_value": valid[seed][lr] + shift, "true_policy_value": test[seed][lr]}
        for c, shift in (("no budget", 0.0), ("budget 30%", 0.0))
        for seed in (1, 2)
        for lr in ("s", "t", "dr")
    ]
    chosen = nbo.choose(pd.DataFrame(rows))
    picked = chosen[chosen.chosen].groupby(["campaign", "seed"]).learner.first()
    assert picked.to_dict() == {
        ("budget 30%", 1): "t",
        ("budget 30%", 2): "dr",
        ("no budget", 1): "t",
        ("no budget", 2): "dr",
    }
    assert chosen.chosen.sum() == 4  # one learner per seed and campaign


def test_a_small_world_runs_through_the_grid(tmp_path):
    results, values = nbo.run(
        [1],
        ["s"],
        {"no budget": ()},
        ["data=synthetic_small", "features.cutoffs.every_months=3", "task.ope.n_bootstrap=200"],
    )
    assert len(results) == 1
    r = results.iloc[0]
    assert (r.seed, r.learner, r.campaign, r.model) == (1, "s", "no budget", "lightgbm")
    assert bool(r.chosen)
    # the selection criterion is the validation value, kept beside the test figures
    assert np.isfinite(r.valid_policy_value) and r.valid_policy_value != r.policy_value
    assert r.valid_policy_value_lower <= r.valid_policy_value <= r.valid_policy_value_upper
    # every policy's DR estimate and true value; the oracle is the best by the truth
    for p in ("learned", "best_static", "random", "oracle"):
        assert r[f"{p}_dr_lower"] <= r[f"{p}_dr"] <= r[f"{p}_dr_upper"], p
    assert r.learned_true == pytest.approx(r.true_policy_value)
    assert r.oracle_true == pytest.approx(r.true_oracle_value)
    assert r.oracle_true >= r.learned_true
    assert r.oracle_true >= r.true_best_static_true >= r.best_static_true
    assert r.logging_lower <= r.logging_value <= r.logging_upper
    # the truth is per contact: the logging policy's true value is that of what it did
    assert np.isfinite(r.logging_true) and r.logging_covers == float(
        r.logging_lower <= r.logging_true <= r.logging_upper
    )
    assert r.target_oracle == float(r.share_of_oracle >= 0.9)
    assert r.target_lcb_true == float(r.policy_value_lower > r.true_best_static_true)
    assert r.target_lcb_dr == float(r.policy_value_lower > r.best_static_value)
    # the policy x estimator table: every estimator; the logging policy has no truth
    assert set(values.estimator) >= set(ESTIMATORS)
    assert values.loc[values.policy == "logging", "true_value"].isna().all()
    assert values.loc[values.policy != "logging", "relative_error"].notna().all()
    errors = nbo.estimator_errors(results, values)
    assert errors.estimator.tolist() == list(ESTIMATORS)
    assert (errors.n == 11).all()  # learned, 7 static, no offer, random, oracle
    dr = values[(values.policy != "logging") & (values.estimator == "dr")].relative_error
    assert errors.set_index("estimator").loc["dr", "relative_error"] == pytest.approx(dr.mean())

    text = nbo.report(results, values, 1.0)
    for heading in ("### Campaign: no budget", "Targets", "Off-policy estimators"):
        assert heading in text
    assert "| learned, chosen learner |" in text and "| dr-os |" in text
    (tmp_path / "README.md").write_text(f"# nbo\n\n{START}\nold\n{END}\n")
    run_id = grid.publish(
        tmp_path,
        text,
        "cmd",
        {"results.csv": results, "results.policy_values.csv": values},
        compose([f"paths.root_dir={tmp_path}"]).tracking,
        "nbo-synthetic-test",
        nbo.logged_metrics(results),
    )
    assert pd.read_csv(tmp_path / "results.csv").shape == results.shape
    assert len(pd.read_csv(tmp_path / "results.policy_values.csv")) == len(values)
    assert "Reproduce: `cmd`" in (tmp_path / "README.md").read_text()
    assert "no_budget.share_of_oracle" in mlflow.get_run(run_id).data.metrics

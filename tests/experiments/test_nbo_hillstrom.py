"""The nbo-hillstrom experiment: its pure pieces on made-up rows, and a tiny end-to-end
run on the real e-mail test (skipped with a reason when ../shared/data is absent)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from socialcrm.config import compose
from socialcrm.experiments import nbo_hillstrom as nh


def test_transformed_outcome_is_unbiased_for_the_uplift():
    y = np.array([1, 1, 0, 0])
    t = np.array([1, 0, 1, 0])
    z = nh.transformed_outcome(y, t, 2 / 3)
    assert z == pytest.approx([1.5, -3.0, 0.0, 0.0])
    # E[z] = P(y | treated) - P(y | control) when t is drawn with probability p
    rng = np.random.default_rng(0)
    t = (rng.random(200_000) < 2 / 3).astype(int)
    y = (rng.random(len(t)) < np.where(t == 1, 0.2, 0.1)).astype(int)
    assert nh.transformed_outcome(y, t, 2 / 3).mean() == pytest.approx(0.1, abs=0.01)


def test_assign_keeps_the_default_arm_below_the_margin_and_charges_the_cost():
    spend, net = nh.Reward("spend", "spend"), nh.Reward("spend - 0.10", "spend", 0.10)
    expected = np.array([[1.00, 1.05, 0.0], [1.00, 1.50, 0.0], [0.05, 0.02, 0.0]])
    assert nh.assign(expected, spend, default=0, margin=0.0).tolist() == [1, 1, 0]
    assert nh.assign(expected, spend, default=0, margin=0.1).tolist() == [0, 1, 0]
    # net of 0.10 per e-mail the third customer is worth more without one
    assert nh.assign(net.expected(expected), net, default=0, margin=0.0).tolist() == [1, 1, 2]
    rows = pd.DataFrame({"action": [0, 1, 2], "spend": [10.0, 0.0, 5.0]})
    assert net.logged(rows).tolist() == pytest.approx([9.9, -0.1, 5.0])
    assert spend.logged(rows).tolist() == [10.0, 0.0, 5.0]


def test_model_configs_replace_only_the_regression_parameters():
    base = OmegaConf.to_container(compose(["model=lightgbm"]).model, resolve=True)
    configs = nh.model_configs(base)
    assert list(configs) == list(nh.CONFIGS)
    assert configs["lgbm"]["regression"] == base["regression"]
    shallow = configs["lgbm-shallow"]["regression"]
    assert shallow["num_leaves"] == 3 and shallow["objective"] == "tweedie"
    assert base["regression"]["num_leaves"] == 7  # the base is not modified


@pytest.fixture(scope="module")
def tiny_run():
    path = nh.data_path()
    if not path.is_file():
        pytest.skip(f"{path} not found (real data beside the repo; absent in a user's clone)")
    frame = nh.load(path)
    assert len(frame) == 64000
    # 3,000 customers, 15% of them buyers: LightGBM's Tweedie loss refuses a fold
    # in which nobody spent, and at the real 1% a tiny run's inner folds can have none
    buyers, others = frame[frame["spend"] > 0], frame[frame["spend"] == 0]
    frame = pd.concat(
        [buyers.sample(450, random_state=0), others.sample(2550, random_state=0)]
    ).reset_index(drop=True)
    base = OmegaConf.to_container(compose(["model=lightgbm"]).model, resolve=True)
    configs = nh.model_configs(base, {"lgbm": {"n_estimators": 30}})
    results, selection, inner = nh.run_experiment(
        frame,
        seeds=[42],
        costs=(0.1,),
        n_bootstrap=50,
        configs=configs,
        margins=(0.0, 0.1),
        folds=2,
    )
    return frame, results, selection, inner


@pytest.mark.shared_data
def test_tiny_run_reports_every_part(tiny_run):
    _, results, selection, inner = tiny_run
    assert set(results["part"]) == {"uplift", "policy", "difference"}
    uplift = results[results["part"] == "uplift"]
    qini = uplift[uplift["metric"] == "qini_auc"].set_index("policy")["value"]
    assert list(qini.index) == list(nh.UPLIFT_MODELS)
    assert qini.between(-1, 1).all()
    values = results[(results["part"] == "policy") & (results["metric"] == "value")]
    assert set(values["reward"]) == {"visit", "spend", "spend - 0.10"}
    assert set(values["estimator"]) == {"ipw", "dr"}
    assert ((values["lower"] <= values["value"]) & (values["value"] <= values["upper"])).all()
    expected = {
        *nh.STATICS,
        "random",
        "policy for visit",
        "policy for spend",
        "policy for spend - 0.10",
        "T-learner argmax for visit",
        "T-learner argmax for spend",
    }
    assert set(values["policy"]) == expected
    shares = results[results["metric"] == "share_emailed"].set_index("policy")["value"]
    assert shares["no e-mail"] == 0 and shares["all mens e-mail"] == 1
    assert shares["random"] == pytest.approx(2 / 3)
    versus = results[results["part"] == "difference"]["versus"]
    assert set(versus) == {*nh.STATICS, "best static", "random"}
    assert list(selection["reward"]) == ["visit", "spend", "spend - 0.10"]
    assert set(selection["learner"]) <= set(nh.LEARNERS)
    assert set(inner["learner"]) == {"static", *nh.LEARNERS}


@pytest.mark.shared_data
def test_tiny_run_values_are_consistent(tiny_run):
    frame, results, _, _ = tiny_run
    values = results[(results["part"] == "policy") & (results["metric"] == "value")]
    value = values.set_index(["reward", "policy", "estimator"])["value"]
    _, test = nh.split(frame, 42)
    # IPS of a static arm: 3 x that arm's outcomes summed over the test half / n
    for arm, i in nh.STATICS.items():
        rows = test["action"] == i
        for outcome in ("visit", "spend"):
            ips = 3 * test.loc[rows, outcome].sum() / len(test)
            assert value[outcome, arm, "ipw"] == pytest.approx(ips)
    # net spend charges every e-mail the cost and nothing else
    net = "spend - 0.10"
    assert value[net, "no e-mail", "dr"] == pytest.approx(value["spend", "no e-mail", "dr"])
    assert value[net, "all mens e-mail", "dr"] == pytest.approx(
        value["spend", "all mens e-mail", "dr"] - 0.1
    )
    text, tables, verdict, _ = nh.markdown(results, tiny_run[2], (0.1,), 1.0, len(frame), 50)
    assert "**Targets**" in text and "spend target" in text
    assert len(tables["(a) Uplift of any e-mail on visit (test half)"]) == len(nh.UPLIFT_MODELS)
    assert isinstance(verdict["spend_target_met"], bool)
    assert set(verdict["per_reward"]) == {"visit", "spend", net}

"""The run's seed reaches the estimator by one route: the factory's ``seed`` argument."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from socialcrm.config import compose
from socialcrm.models.factory import TASK_KINDS, build_estimator, build_pipeline
from socialcrm.paths import config_dir

MODELS = sorted(p.stem for p in (config_dir() / "model").glob("*.yaml"))
NUMERIC, CATEGORICAL = ["recency_days", "monetary_365d"], ["region"]


def _keys(node) -> list[str]:
    """Every key in a nested container."""
    if isinstance(node, dict):
        return [k for key, value in node.items() for k in [key, *_keys(value)]]
    if isinstance(node, list):
        return [k for value in node for k in _keys(value)]
    return []


def _model_cfg(overrides: list[str]) -> dict:
    """The model config as train.py hands it to the task (resolved container)."""
    return OmegaConf.to_container(compose(overrides).model, resolve=True)


def test_seed_reaches_the_estimator_once_through_the_factory():
    cfg = compose(["seed=7", "model=lightgbm"])
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    pipe = build_pipeline(model_cfg, "classification", NUMERIC, CATEGORICAL, int(cfg.seed))
    assert pipe.named_steps["model"].get_params()["random_state"] == 7
    # the model config does not carry the seed: it is the same under any seed
    assert "random_state" not in _keys(model_cfg)
    assert model_cfg == _model_cfg(["seed=8", "model=lightgbm"])


@pytest.mark.parametrize("model", MODELS)
def test_no_model_config_sets_a_seed(model):
    model_cfg = _model_cfg([f"model={model}"])
    assert "random_state" not in _keys(model_cfg), f"conf/model/{model}.yaml"
    assert model_cfg == _model_cfg([f"model={model}", "seed=123"])


@pytest.mark.parametrize("model", MODELS)
def test_every_estimator_that_takes_a_seed_gets_the_runs_seed(model):
    model_cfg = _model_cfg([f"model={model}"])
    for kind in (k for k in TASK_KINDS if model_cfg.get(k) is not None):
        est = build_estimator(model_cfg, kind, seed=7)
        params = est.get_params(deep=False)
        if "random_state" in params:
            assert params["random_state"] == 7, f"{model}.{kind}"


def test_without_a_seed_the_estimator_keeps_its_library_default():
    import lightgbm as lgb

    est = build_estimator(_model_cfg(["model=lightgbm"]), "classification", seed=None)
    assert est.get_params()["random_state"] == lgb.LGBMClassifier().get_params()["random_state"]


def test_an_explicit_random_state_and_a_seed_are_two_routes():
    model_cfg = _model_cfg(["model=lightgbm"])
    model_cfg["classification"]["random_state"] = 3
    with pytest.raises(ValueError, match="two routes"):
        build_pipeline(model_cfg, "classification", NUMERIC, CATEGORICAL, seed=7)
    # without a run seed the config's own value stands
    assert build_estimator(model_cfg, "classification").get_params()["random_state"] == 3


def test_a_model_without_the_tasks_kind_says_what_it_supports():
    with pytest.raises(ValueError, match="supports"):
        build_estimator(_model_cfg(["model=recency_rule"]), "regression", seed=7)

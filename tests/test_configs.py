"""Every config in conf/ composes, resolves and builds what it names."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from socialcrm.config import compose
from socialcrm.models.factory import TASK_KINDS, build_estimator
from socialcrm.paths import config_dir
from socialcrm.runner import build_task

GROUPS = [p.name for p in sorted(config_dir().iterdir()) if p.is_dir()]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


CASES = [(g, o) for g in GROUPS for o in options(g)]


@pytest.mark.parametrize(("group", "option"), CASES, ids=[f"{g}={o}" for g, o in CASES])
def test_config_composes_and_resolves(group, option, tmp_path):
    cfg = compose([f"{group}={option}", f"paths.root_dir={tmp_path}"])
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert resolved["paths"]["root_dir"] == str(tmp_path)
    if group == "experiment":
        return
    assert cfg[group] is not None


@pytest.mark.parametrize("model", options("model"))
def test_every_model_config_builds_its_estimators(model):
    cfg = compose([f"model={model}"])
    assert cfg.model.name == model
    built = [kind for kind in TASK_KINDS if cfg.model.get(kind) is not None]
    assert built, f"model={model} builds no estimator"
    for kind in built:
        est = build_estimator(cfg.model, kind, seed=7)
        assert hasattr(est, "fit")
        if "random_state" in est.get_params():  # seeded models take the run's seed
            assert est.get_params()["random_state"] == 7


@pytest.mark.parametrize("task", options("task"))
def test_every_task_config_instantiates(task):
    cfg = compose([f"task={task}"])
    obj = build_task(cfg)
    assert obj.name == task
    assert hasattr(obj, "fit_evaluate")


def test_experiment_files_override_only_what_differs():
    for name in options("experiment"):
        text = (config_dir() / "experiment" / f"{name}.yaml").read_text()
        assert text.startswith("# @package _global_"), f"experiment/{name}.yaml"
    base, quick = compose([]), compose(["experiment=quick"])
    assert quick.data.name == "synthetic_small"
    assert quick.model == base.model and quick.seed == base.seed

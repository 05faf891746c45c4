"""Hyperparameter search: search spaces to sampled parameters, their errors, and the
tuning entry point end to end (nested MLflow runs, the best on the parent)."""

from __future__ import annotations

import io
import math

import mlflow
import optuna
import pandas as pd
import pytest
from omegaconf import OmegaConf

from socialcrm.config import compose
from socialcrm.data import load
from socialcrm.data.generate import run_generate
from socialcrm.runner import objective_value
from socialcrm.tracking import experiment_name
from socialcrm.tuning import (
    apply_overrides,
    check_paths,
    flatten_space,
    run_study,
    space_for,
    suggest,
    tune,
)

pytestmark = pytest.mark.xdist_group("tune")

SPACE = {
    "classification": {
        "num_leaves": {"type": "int", "low": 3, "high": 63, "log": True},
        "learning_rate": {"type": "float", "low": 0.01, "high": 0.2, "log": True},
        "subsample": {"type": "float", "low": 0.5, "high": 1.0, "step": 0.1},
        "max_depth": {"type": "int", "low": 2, "high": 10, "step": 2},
        "boosting": {"type": "categorical", "choices": ["gbdt", "dart"]},
    }
}
MODEL = {
    "name": "toy",
    "preprocessing": "tree",
    "classification": {
        "_target_": "lightgbm.LGBMClassifier",
        "num_leaves": 7,
        "learning_rate": 0.03,
        "subsample": 0.8,
        "max_depth": -1,
        "boosting": "gbdt",
    },
}


def _trials(space, n: int, seed: int = 0) -> list[tuple[optuna.trial.Trial, dict]]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append((trial, suggest(space, trial)))
    return out


def test_suggest_samples_every_parameter_with_its_type_bounds_and_scale():
    trials = _trials(SPACE, 200)
    for _, params in trials:
        assert set(params) == {f"classification.{k}" for k in SPACE["classification"]}
        n = params["classification.num_leaves"]
        assert isinstance(n, int) and 3 <= n <= 63
        lr = params["classification.learning_rate"]
        assert isinstance(lr, float) and 0.01 <= lr <= 0.2
        sub = params["classification.subsample"]
        assert 0.5 <= sub <= 1.0 and round(sub * 10) == pytest.approx(sub * 10)
        assert params["classification.max_depth"] in (2, 4, 6, 8, 10)
        assert params["classification.boosting"] in ("gbdt", "dart")
    dist = trials[-1][0].distributions
    assert dist["classification.num_leaves"].log and dist["classification.learning_rate"].log
    assert not dist["classification.subsample"].log
    assert dist["classification.subsample"].step == pytest.approx(0.1)
    # a log scale puts half the draws below the geometric mean of the bounds
    lrs = pd.Series([p["classification.learning_rate"] for _, p in _trials(SPACE, 400, seed=1)])
    assert 0.4 < (lrs < math.sqrt(0.01 * 0.2)).mean() < 0.6


def test_nested_and_dotted_spaces_are_the_same_space():
    dotted = {f"classification.{k}": v for k, v in SPACE["classification"].items()}
    assert flatten_space(dotted) == flatten_space(SPACE)
    a = [p for _, p in _trials(SPACE, 5, seed=3)]
    b = [p for _, p in _trials(dotted, 5, seed=3)]
    assert a == b


def test_overrides_set_dotted_keys_on_a_copy_and_reject_unknown_keys():
    out = apply_overrides(MODEL, {"classification.num_leaves": 31, "preprocessing": "linear"})
    assert out["classification"]["num_leaves"] == 31 and out["preprocessing"] == "linear"
    assert MODEL["classification"]["num_leaves"] == 7  # the input is not changed
    assert out["classification"]["learning_rate"] == 0.03
    with pytest.raises(ValueError, match=r"no key 'classification.num_leaf'"):
        apply_overrides(MODEL, {"classification.num_leaf": 3})
    with pytest.raises(ValueError, match=r"no config node 'regression'"):
        apply_overrides(MODEL, {"regression.alpha": 1.0})
    with pytest.raises(ValueError, match=r"no config node 'classification.num_leaves'"):
        check_paths(MODEL, ["classification.num_leaves.x"])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "normal", "low": 0, "high": 1}, "type must be one of"),
        ({"low": 0, "high": 1}, "expected a spec|type must be one of"),
        ({"type": "float", "low": 0.1}, "high must be a number"),
        ({"type": "float", "low": 1.0, "high": 0.5}, r"low \(1.0\) must be below high"),
        ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, "log scale needs low > 0"),
        ({"type": "int", "low": 1.5, "high": 10}, "low must be an int"),
        ({"type": "int", "low": 1, "high": 10, "log": True, "step": 2}, "cannot be combined"),
        ({"type": "float", "low": 0.1, "high": 1, "step": -0.1}, "step must be a positive"),
        ({"type": "float", "low": "1e-3", "high": 1}, "low must be a number"),
        ({"type": "float", "lo": 0.1, "high": 1}, r"unknown keys \['lo'\]"),
        ({"type": "float", "low": 0.1, "high": 1, "log": "yes"}, "log must be true or false"),
        ({"type": "categorical", "choices": []}, "non-empty list of choices"),
        ({"type": "categorical", "choices": [[1, 2]]}, "choices must be None, bool"),
    ],
)
def test_bad_specs_are_clear_errors_naming_the_parameter(spec, message):
    with pytest.raises(ValueError, match=message) as err:
        flatten_space({"classification": {"num_leaves": spec}})
    assert "classification.num_leaves" in str(err.value)


def test_space_shape_errors():
    with pytest.raises(ValueError, match="expected a spec"):
        flatten_space({"classification": {"C": 0.1}})
    with pytest.raises(ValueError, match="no parameters"):
        flatten_space({})


def test_a_model_without_a_space_is_a_clear_error():
    cfg = compose(["model=recency_rule"])
    spaces = OmegaConf.to_container(cfg.tune.spaces, resolve=True)
    with pytest.raises(ValueError, match=r"no search space for model 'recency_rule'.*lightgbm"):
        space_for(spaces, "recency_rule")


@pytest.mark.parametrize("model", ["lightgbm", "xgboost", "logreg"])
def test_the_configured_spaces_are_valid_for_their_models(model):
    cfg = compose([f"model={model}"])
    assert cfg.tune.seed == cfg.seed
    space = space_for(OmegaConf.to_container(cfg.tune.spaces, resolve=True), model)
    check_paths(OmegaConf.to_container(cfg.model, resolve=True), list(flatten_space(space)))


def test_objective_is_the_validation_metric_or_the_cv_mean():
    assert objective_value({"roc_auc": 0.9, "valid_roc_auc": 0.7}, "roc_auc") == 0.7
    assert objective_value({"roc_auc": 0.8, "roc_auc_sd": 0.01}, "roc_auc") == 0.8
    with pytest.raises(KeyError, match="valid_pr_auc"):
        objective_value({"roc_auc": 0.9, "valid_roc_auc": 0.7}, "pr_auc")


def test_the_study_is_seeded_and_needs_a_limit():
    space = {"x": {"type": "float", "low": -2.0, "high": 2.0}}

    def f(trial):
        return -((suggest(space, trial)["x"] - 0.5) ** 2)

    a, b = (run_study(f, 12, None, seed=7) for _ in range(2))
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert a.best_value == max(t.value for t in a.trials)
    with pytest.raises(ValueError, match="needs a limit"):
        run_study(f, None, None, seed=7)
    with pytest.raises(ValueError, match="at least 1"):
        run_study(f, 0, None, seed=7)


# -- end to end -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    root = tmp_path_factory.mktemp("tune_root")
    cfg = compose(
        [
            "experiment=quick",
            f"paths.root_dir={root}",
            "tune.n_trials=3",
            "tune.register=true",
            "task.explain=false",
            # fast trials: one thread (2 threads crawl on a busy 2-core machine), fewer trees
            "model.classification.n_jobs=1",
            "tune.spaces.lightgbm.classification.n_estimators.high=200",
        ]
    )
    run_generate(cfg)
    load.ingest(load.DataSource.from_config(cfg.data))
    outcome = tune(cfg)
    return cfg, outcome


@pytest.mark.slow
def test_every_trial_is_a_nested_run_and_the_parent_holds_the_best(tuned):
    cfg, outcome = tuned
    client = mlflow.MlflowClient(cfg.tracking.tracking_uri)
    exp = client.get_experiment_by_name(experiment_name(cfg.tracking, "churn"))
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [r.info.run_id for r in parents] == [outcome.run_id]
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 3 == len(runs) - 1
    assert {r.info.run_id for r in children} == set(outcome.trial_run_ids)

    valid = {r.info.run_id: r.data.metrics["valid_roc_auc"] for r in children}
    assert all("test_roc_auc" in r.data.metrics for r in children)  # test metrics logged too
    assert parent.data.metrics["best_value"] == pytest.approx(max(valid.values()))
    best_child = next(r for r in children if r.info.run_id == max(valid, key=valid.get))
    assert parent.data.tags["best_trial_run_id"] == best_child.info.run_id
    assert best_child.data.params  # the sampled hyperparameters
    best_on_parent = {
        k.removeprefix("best."): v for k, v in parent.data.params.items() if k.startswith("best.")
    }
    assert best_on_parent == best_child.data.params
    # the logged config is the best model's
    for key, value in best_child.data.params.items():
        assert parent.data.params[f"model.{key}"] == value
    # the refitted best model scores what its trial scored
    assert parent.data.metrics["valid_roc_auc"] == pytest.approx(parent.data.metrics["best_value"])


@pytest.mark.slow
def test_the_parent_has_the_trials_table_history_plot_and_registered_model(tuned):
    cfg, outcome = tuned
    client = mlflow.MlflowClient(cfg.tracking.tracking_uri)
    names = {a.path for a in client.list_artifacts(outcome.run_id, "tune")}
    assert names == {"tune/trials.csv", "tune/optimization_history.png"}
    local = client.download_artifacts(outcome.run_id, "tune/trials.csv")
    table = pd.read_csv(local)
    assert len(table) == 3 and table["best"].sum() == 1
    assert set(table["run_id"]) == set(outcome.trial_run_ids)
    assert table.loc[table["best"], "value"].item() == pytest.approx(outcome.best_value)
    version = client.get_model_version_by_alias("socialcrm-churn", "challenger")
    assert version.run_id == outcome.run_id
    assert outcome.version == str(version.version)


def test_stdout_summary_does_not_need_a_terminal():
    # the summary is printed with rich; smoke-check it renders to a plain buffer
    from rich.console import Console

    from socialcrm.tuning import TuneOutcome, _summary

    buf = io.StringIO()
    outcome = TuneOutcome(
        task="churn",
        model="lightgbm",
        metric="valid_roc_auc",
        best_value=0.7,
        best_params={"classification.num_leaves": 7, "classification.learning_rate": 0.05},
        best_trial=2,
        run_id="abc",
        trial_run_ids=["a", "b", "c"],
        result=type("R", (), {"metrics": {"roc_auc": 0.68}})(),
        trials=pd.DataFrame({"trial": [0, 1, 2]}),
        info={"refit_value": 0.7},
    )
    _summary(outcome, Console(file=buf, width=100), alias="challenger")
    text = buf.getvalue()
    assert "classification.num_leaves" in text and "0.7000" in text and "not registered" in text

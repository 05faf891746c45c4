"""The experiment grid: one loop over worlds, seeds, models, variants and feature sets
through the run edge, paired comparisons, the summary over seeds, the README table
and the one publishing path (results file, README block, MLflow run)."""

from __future__ import annotations

from functools import partial
from itertools import product

import mlflow
import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from socialcrm import runner
from socialcrm.config import compose
from socialcrm.data.example_export import telco_like_table
from socialcrm.experiments import telco
from socialcrm.experiments.grid import (
    DIMENSIONS,
    Grid,
    World,
    as_row,
    conf_models,
    fit_cell,
    markdown_table,
    publish,
    run_grid,
    summarise,
    summary_metrics,
    with_comparisons,
)

START, END = "<!-- results:start -->", "<!-- results:end -->"


@pytest.fixture(scope="module")
def telco_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("telco") / "telco.csv"
    telco_like_table(300, seed=0).to_csv(path, index=False)
    return path


def telco_overrides(csv) -> list[str]:
    return [*telco.BASE, f"data.path={csv}"]


def test_cells_run_in_order_and_a_world_is_prepared_once(telco_csv):
    prepared: list[tuple[str, int]] = []

    def prepare(world, cfg):
        prepared.append((world, int(cfg.seed)))
        return World(prepared=world)

    def measure(world, cell):
        return [{"value": float(cell.seed), "prepared_for": world.prepared}]

    grid = Grid(
        {"a": ["crm"], "b": ["crm", "derived"]},
        seeds=(1, 2),
        worlds={"w1": (), "w2": ("task.cv_folds=3",)},
        models=conf_models(["logreg"]),
        variants={"sigmoid": ["task.calibration=sigmoid"], "none": ["task.calibration=none"]},
        overrides=telco_overrides(telco_csv),
    )
    results = run_grid(grid, prepare, measure)
    assert len(results) == len(grid) == 2 * 2 * 2 * 2
    assert list(results.columns[: len(DIMENSIONS)]) == list(DIMENSIONS)
    assert results.loc[:3, "features"].tolist() == ["a", "b", "a", "b"]
    assert results.loc[:3, "variant"].tolist() == ["sigmoid", "sigmoid", "none", "none"]
    # the table does not depend on the seed or the task: one preparation per world
    assert prepared == [("w1", 1), ("w2", 1)]
    assert (results.prepared_for == results.world).all()


def test_cells_fit_through_the_run_edge(telco_csv):
    grid = Grid(
        telco.FEATURE_SETS,
        seeds=(1, 2),
        models=conf_models(["logreg"]),
        overrides=telco_overrides(telco_csv),
    )
    results = run_grid(grid, measure=partial(fit_cell, references=telco.worst_fold))
    assert results[["seed", "features"]].values.tolist() == [
        [1, "raw columns"],
        [1, "raw + derived"],
        [2, "raw columns"],
        [2, "raw + derived"],
    ]
    assert (results.model == "logreg").all() and (results.n_test == 300).all()
    assert (results.roc_auc > 0.6).all() and (results.worst_fold_roc_auc <= results.roc_auc).all()
    assert {"baseline_roc_auc", "roc_auc_sd"} <= set(results.columns)
    assert results.n_features.tolist()[:2] == [19, 24]
    # the same cell fitted by hand: same config, task, groups and seed, same numbers
    cfg = compose([*grid.overrides, "model=logreg", "task.explain=false", "seed=2"])
    frame, manifest, _ = runner.load_features(cfg)
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    by_hand = runner.build_task(cfg).fit_evaluate(frame, manifest, ["crm"], model_cfg, 2)
    assert results.roc_auc[2] == pytest.approx(by_hand.metrics["roc_auc"], abs=1e-12)


def _results() -> pd.DataFrame:
    """Two worlds x two seeds x three nested sets; the graph group helps in world "on",
    seed 2 shifts every score by 0.04."""
    cells = pd.DataFrame(
        list(product(("on", "off"), (1, 2), ("crm", "crm+social", "all"))),
        columns=["world", "seed", "features"],
    ).assign(model="m", variant="")
    shift = np.where(cells.seed == 2, 0.04, 0.0)
    graph = np.where((cells.world == "on") & (cells.features == "all"), 0.03, 0.0)
    auc = cells.features.map({"crm": 0.60, "crm+social": 0.62, "all": 0.62}) + graph + shift
    return cells[list(DIMENSIONS)].assign(auc=auc, oracle_auc=0.75 + shift, auc_sd=0.01)


def test_gains_are_paired_and_the_oracle_gap_per_cell():
    r = with_comparisons(_results(), "auc", ("crm+social", None))
    on = r[(r.world == "on") & (r.seed == 2)].set_index("features")
    assert on.loc["all", "gain_vs_crm+social"] == pytest.approx(0.03)
    assert on.loc["crm+social", "gain_vs_previous"] == pytest.approx(0.02)
    assert np.isnan(on.loc["crm", "gain_vs_previous"])
    assert on.loc["all", "oracle_gap"] == pytest.approx(0.75 - 0.65)


def test_summary_over_seeds_keeps_order_and_a_lone_cell_its_own_spread():
    r = with_comparisons(_results(), "auc", ("crm",))
    s = summarise(r, ["auc", "gain_vs_crm", "absent"], worst={"auc": "min"})
    assert s[["world", "features"]].values.tolist()[:3] == [
        ["on", "crm"],
        ["on", "crm+social"],
        ["on", "all"],
    ]
    row = s.set_index(["world", "features"]).loc[("on", "all")]
    # the seed shift cancels in the paired gain but not in the mean
    assert row.gain_vs_crm == pytest.approx(0.05) and row.gain_vs_crm_sd == pytest.approx(0.0)
    assert row.auc == pytest.approx(0.67) and row.auc_sd == pytest.approx(0.04 / 2**0.5)
    assert row.worst_auc == pytest.approx(0.65) and row.seeds == 2
    one = summarise(r[r.seed == 1], ["auc"])
    assert (one.auc_sd == 0.01).all()  # one seed: the cell's own sd (over CV folds)
    metrics = summary_metrics(s, ["auc"])
    assert metrics["on.crm_social.auc"] == pytest.approx(0.64)


def test_markdown_table_and_reference_rows():
    s = summarise(_results(), ["auc", "oracle_auc"])
    s["baseline_auc"], s["baseline_auc_sd"] = 0.5, 0.01
    rows = pd.concat([pd.DataFrame([as_row(s.iloc[0], "baseline", features="rule")]), s])
    md = markdown_table(
        rows, {"features": "features", "AUC": "auc", "oracle": "oracle_auc"}, ["auc"]
    )
    lines = md.splitlines()
    assert lines[0] == "| features | AUC | oracle |"
    assert lines[2] == "| rule | 0.500 ± 0.010 |  |"
    assert lines[5] == "| all | 0.670 ± 0.028 | 0.770 |"


def test_publish_writes_files_readme_and_one_mlflow_run(tmp_path):
    (tmp_path / "README.md").write_text(f"# x\n\n{START}\nold\n{END}\n")
    tracking = compose([f"paths.root_dir={tmp_path}"]).tracking
    results = _results()
    run_id = publish(
        tmp_path,
        "| table |",
        ".venv/bin/python -m x",
        {"results.csv": results, "notes.json": "{}\n"},
        tracking,
        "grid-test",
        {"on.all.auc": 0.67},
        {"seeds": "1, 2"},
    )
    assert (tmp_path / "README.md").read_text() == (
        f"# x\n\n{START}\n| table |\n\nReproduce: `.venv/bin/python -m x`\n{END}\n"
    )
    assert pd.read_csv(tmp_path / "results.csv").shape == results.shape
    run = mlflow.get_run(run_id)
    assert run.data.metrics == {"on.all.auc": 0.67}
    assert run.data.params == {"command": ".venv/bin/python -m x", "seeds": "1, 2"}
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id)}
    assert names == {"README-results.md", "results.csv", "notes.json"}


def test_telco_runs_its_three_grids_and_renders_its_block(telco_csv):
    results = telco.run_experiment([f"data.path={telco_csv}"], ["logreg"], (1,))
    assert len(results) == 2 + 2 + 3  # models x sets; the best on seed 1; calibrations
    assert results.variant.tolist()[-3:] == list(telco.CALIBRATIONS)
    text = telco.markdown(results, telco.data_facts([f"data.path={telco_csv}"]))
    assert "300 customers" in text and "| tenure rule | tenure < 72/2^k months |" in text
    assert "| logreg | raw + derived (24) |" in text and "| 1 |" in text
    assert "| isotonic |" in text

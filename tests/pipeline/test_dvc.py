"""The DVC pipeline (dvc.yaml) end to end, with DVC's Hydra composition.

The repo (tracked files plus untracked, not ignored ones, so an uncommitted tree
works too) is copied into a temporary folder that becomes its own git repo;
``dvc exp run`` runs there on the quick preset, with this environment's
``.venv/bin`` first on PATH and the copy's ``src/`` on PYTHONPATH (the editable
install points at this checkout). Nothing is written to the checkout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from socialcrm.config import COMPOSED_KEYS, load_params

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STAGES = (
    "generate",
    "validate_ingest",
    "features",
    "train_clv",
    "train_churn",
    "train_nbo",
    "score",
    "report",
)
# The quick preset (data=synthetic_small, cutoffs every 3 months) without SHAP.
QUICK = ["-S", "experiment=quick", "-S", "task.explain=false"]
# What `make params` runs: DVC's own composition, in a process without socialcrm.
COMPOSE = (
    "import sys; from dvc.utils.hydra import compose_and_dump; "
    "compose_and_dump(sys.argv[1], sys.argv[2] + '/conf', None, 'config', sys.argv[2], [])"
)

pytestmark = [
    pytest.mark.xdist_group("dvc"),
    pytest.mark.skipif(not (BIN / "dvc").is_file(), reason="dvc is not installed next to python"),
]


def _env(tmp: Path, src: Path | None = None) -> dict[str, str]:
    """A clean environment: no SOCIALCRM_* variables, caches under ``tmp``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALCRM_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the many subprocesses share compiled modules
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPYCACHEPREFIX=str(tmp / "cache" / "pycache"),
        MPLCONFIGDIR=str(tmp / "cache" / "matplotlib"),
        DVC_SITE_CACHE_DIR=str(tmp / "cache" / "dvc"),
        DVC_NO_ANALYTICS="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.com",
    )
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return env


def _copy_repo(dest: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # deleted but still in the index: skip
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-6000:]}"
    return done.stdout


def _ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([\w-]+)'", output))


def _skipped(output: str) -> set[str]:
    return set(re.findall(r"Stage '([\w-]+)' didn't change, skipping", output))


def test_params_yaml_is_the_default_composition(tmp_path):
    """The committed params.yaml is what `dvc exp run` composes from conf/, without
    machine-specific paths (the `${project_root:}` placeholder is kept)."""
    out = tmp_path / "params.yaml"
    _run([sys.executable, "-c", COMPOSE, str(out), str(ROOT)], tmp_path, _env(tmp_path))
    text = out.read_text()
    assert str(ROOT) not in text
    assert "root_dir: ${project_root:}" in text
    assert (ROOT / "params.yaml").read_text() == text, (
        "params.yaml is stale: regenerate it with `make params` (or `make repro`)"
    )


def test_load_params_resolves_the_checkout_and_rejects_other_files(tmp_path):
    cfg = load_params(ROOT / "params.yaml", ["seed=7", "data.generator.n_customers=10"])
    assert cfg.seed == 7 and cfg.data.generator.n_customers == 10
    assert all(k in cfg for k in COMPOSED_KEYS)
    assert Path(cfg.data.raw_dir).is_absolute()
    with pytest.raises(ValueError, match="config groups"):
        load_params(ROOT / "params.yaml", ["model=xgboost"])
    with pytest.raises(ValueError, match="not in struct"):
        load_params(ROOT / "params.yaml", ["sed=7"])
    with pytest.raises(ValueError, match="not a composed socialcrm config"):
        load_params(ROOT / "conf" / "model" / "logreg.yaml")
    with pytest.raises(FileNotFoundError):
        load_params(tmp_path / "params.yaml")


@pytest.mark.slow
def test_dvc_pipeline_runs_once_then_only_what_changed(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _copy_repo(repo)
    env = _env(tmp_path, src=repo / "src")
    _run(["git", "init", "-q"], repo, env)
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-q", "-m", "copy"], repo, env)
    dvc = str(BIN / "dvc")

    # 1. Everything runs; DVC composed params.yaml with the overrides.
    first = _run([dvc, "exp", "run", *QUICK], repo, env)
    assert _ran(first) == set(STAGES), first[-4000:]
    params = (repo / "params.yaml").read_text()
    assert "name: synthetic_small" in params and "every_months: 3" in params
    assert str(repo) not in params  # the placeholder is kept, stages resolve it
    for out in (
        "data/raw/synthetic_small",
        "data/interim/synthetic_small",
        "data/processed/synthetic_small/all/features.parquet",
        "reports/insights/synthetic_small/report.md",
        *(f"reports/train/synthetic_small/churn/{f}" for f in ("metrics.json", "lift.csv")),
        *(f"reports/train/synthetic_small/clv/{f}" for f in ("metrics.json", "deciles.csv")),
        *(f"reports/train/synthetic_small/nbo/{f}" for f in ("metrics.json", "policy_dr.csv")),
        "reports/train/synthetic_small/churn/model.json",
        "reports/score/synthetic_small/churn/summary.json",
        "mlruns/mlflow.db",
    ):
        assert (repo / out).exists(), out
    # the score stage scored every active customer with the model train_churn names
    scores = list((repo / "data/scores/synthetic_small/pipeline").glob("churn-*.parquet"))
    assert len(scores) == 1 and pd.read_parquet(scores[0])["probability"].between(0, 1).all()

    metrics = json.loads(_run([dvc, "metrics", "show", "--json"], repo, env))
    churn = next(iter(metrics.values()))["data"]["reports/train/synthetic_small/churn/metrics.json"]
    assert 0.5 < churn["data"]["model"]["roc_auc"] <= 1.0
    clv = next(iter(metrics.values()))["data"]["reports/train/synthetic_small/clv/metrics.json"]
    assert 0.5 < clv["data"]["model"]["normalized_gini"] <= 1.0
    assert "normalized_gini" in clv["data"]["btyd"]
    nbo = next(iter(metrics.values()))["data"]["reports/train/synthetic_small/nbo/metrics.json"]
    assert nbo["data"]["model"]["policy_value"] > nbo["data"]["random"]["policy_value"]
    plots = json.loads(_run([dvc, "plots", "show", "--json"], repo, env))
    assert not plots.get("errors"), plots.get("errors")
    for task, name in (
        ("churn", "calibration"),
        ("churn", "lift"),
        ("churn", "profit"),
        ("clv", "deciles"),
        ("clv", "gain"),
        ("nbo", "policy_dr"),
        ("nbo", "offer_mix"),
    ):
        shown_plots = plots["data"][f"reports/train/synthetic_small/{task}/{name}.csv"]
        assert shown_plots and all(p["content"]["data"]["values"] for p in shown_plots), name
    (deciles,) = plots["data"]["CLV decile calibration"]
    fields = {v["field"] for v in deciles["content"]["data"]["values"]}
    assert fields == {"mean_predicted", "mean_actual"}
    lock = (repo / "dvc.lock").read_text()

    # 2. The same again: nothing runs, the lock file stays as it was.
    second = _run([dvc, "exp", "run", *QUICK], repo, env)
    assert _ran(second) == set(), second[-4000:]
    assert _skipped(second) == set(STAGES), second[-4000:]
    assert (repo / "dvc.lock").read_text() == lock

    # 3. A churn setting: only the churn training reruns (a model change reruns every
    # training stage: they all declare `model`; the third run of the whole training is
    # left out to keep the suite short)
    third = _run([dvc, "exp", "run", *QUICK, "-S", "task.calibration=sigmoid"], repo, env)
    # (and the scores: model.json names the new model)
    assert _ran(third) == {"train_churn", "score"}, third[-4000:]
    assert _skipped(third) == set(STAGES) - {"train_churn", "score"}
    assert "calibration: sigmoid" in (repo / "params.yaml").read_text()

    # Experiments carry their params and metrics (params.yaml and dvc.lock are in git).
    shown = json.loads(_run([dvc, "exp", "show", "--json"], repo, env))
    calibrations = set()
    for baseline in shown[1:]:
        for exp in baseline.get("experiments") or []:
            for rev in exp["revs"]:
                data = rev.get("data") or {}
                p = data.get("params", {}).get("params.yaml", {}).get("data", {})
                m = data.get("metrics", {}).get(
                    "reports/train/synthetic_small/churn/metrics.json", {}
                )
                if "roc_auc" in m.get("data", {}).get("model", {}):
                    calibrations.add(p.get("task", {}).get("calibration"))
    assert calibrations == {"isotonic", "sigmoid"}, json.dumps(shown)[:4000]

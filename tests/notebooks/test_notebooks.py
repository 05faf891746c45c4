"""Every notebook runs top to bottom on the small preset, quietly (nothing on stderr), and is
committed without outputs; the model notebooks register nothing and log to their own experiments."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import nbformat
import pytest
from nbclient import NotebookClient

from socialcrm.paths import project_root

NOTEBOOKS = sorted((project_root() / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks_named_by_convention():
    assert NOTEBOOKS
    for nb in NOTEBOOKS:
        major, minor = nb.name.split("-", 1)[0].split(".")
        assert major.isdigit() and minor.isdigit(), nb.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path: Path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


# each notebook is its own xdist group: they share nothing, and run on both workers
@pytest.mark.parametrize(
    "path",
    [pytest.param(nb, marks=pytest.mark.xdist_group(f"notebook-{nb.stem}")) for nb in NOTEBOOKS],
    ids=lambda p: p.name,
)
def test_notebook_runs(path: Path, tmp_path, monkeypatch):
    monkeypatch.setenv(
        "SOCIALCRM_NOTEBOOK_OVERRIDES", f"data=synthetic_small paths.root_dir={tmp_path}"
    )
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline figures
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # warnings, progress bars and MLflow's log lines are silenced inside the notebook
    stderr = [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    assert not stderr, f"{path.name} writes to stderr: {''.join(stderr)[:2000]}"
    if path.name.startswith(("3.", "4.", "5.")):  # the model stories show their figures
        images = [o for o in outputs if "image/png" in o.get("data", {})]
        assert images, f"{path.name} shows no figure"
        # they train into their own experiments and register nothing (conf/tracking/local.yaml)
        client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
        assert client.search_registered_models() == []
        experiments = {e.experiment_id: e.name for e in client.search_experiments()}
        runs = client.search_runs(list(experiments))
        assert runs, f"{path.name} logged no run"
        names = {experiments[r.info.experiment_id] for r in runs}
        assert all(n.startswith("socialcrm-notebooks") for n in names), names
    # the notebook made its own data in the temporary folder, not in the repo
    assert (tmp_path / "data" / "interim" / "synthetic_small" / "_manifest.json").is_file()

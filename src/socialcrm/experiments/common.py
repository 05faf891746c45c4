"""What the experiment runners share: fitting a task on nested feature sets against
an oracle, and at their edge the results file, the README table with its
reproduce command, and one MLflow run with the summary."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from socialcrm.data.io import atomic_file
from socialcrm.reports.markdown import render_into_readme


def publish(
    out_dir: Path,
    results: pd.DataFrame,
    table_markdown: str,
    module: str,
    seeds: int,
    overrides: Sequence[str],
    default_seeds: int = 5,
) -> bool:
    """Write ``results.csv`` and render the table, the seeds and the command into the README.

    ``results`` needs ``model``, ``seed`` and ``n_test`` columns. Returns whether
    the README had a results section to render into.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_file(out_dir / "results.csv") as tmp:
        results.to_csv(tmp, index=False, float_format="%.6f")
    command = (
        f"python -m {module}"
        + (f" --seeds {seeds}" if seeds != default_seeds else "")
        + "".join(f" {o}" for o in overrides)
    )
    seed_list = ", ".join(map(str, sorted(results.seed.unique())))
    text = table_markdown + (
        f"\n\nModel `{results.model.iloc[0]}`, seeds {seed_list}; "
        f"{int(results.n_test.mean()):,} customers at the test cutoff on average. "
        f"Reproduce: `.venv/bin/{command}`"
    )
    return render_into_readme(out_dir / "README.md", text)


def log_summary(
    tracking: Any,
    experiment: str,
    results: pd.DataFrame,
    summary: pd.DataFrame,
    key: Callable[[Any], str],
    metrics: Sequence[str],
) -> str:
    """One MLflow run: seeds and model as params, ``<key(row)>.<metric>`` per summary row,
    and both tables. Returns the run id."""
    import mlflow

    from socialcrm.tracking import log as tlog
    from socialcrm.tracking import start_run

    with start_run(tracking, experiment, run_name=experiment, tags=tlog.git_info()) as run:
        mlflow.log_params(
            {"seeds": sorted(results.seed.unique().tolist()), "model": str(results.model.iloc[0])}
        )
        for row in summary.itertuples():
            mlflow.log_metrics({f"{key(row)}.{m}": getattr(row, m) for m in metrics})
        tlog.log_tables({"results": results, "summary": summary})
        return run.info.run_id


def each_feature_set(
    frame: pd.DataFrame,
    manifest: Sequence[Mapping[str, str]],
    truth: pd.Series,
    task: Any,
    model_cfg: Mapping[str, Any],
    seed: int,
    feature_sets: Mapping[str, Sequence[str]],
) -> Iterator[tuple[str, Any, np.ndarray]]:
    """Fit and test ``task`` on each feature set of the same table.

    Yields
    ------
    (name, result, oracle)
        The set's name, its :class:`~socialcrm.tasks.base.TaskResult` (figures
        closed: only numbers are kept) and ``truth`` aligned to its scored rows.
    """
    import matplotlib.pyplot as plt

    for name, groups in feature_sets.items():
        result = task.fit_evaluate(frame, manifest, list(groups), model_cfg, seed)
        for fig in result.figures.values():
            plt.close(fig)
        oracle = truth.reindex(result.scored.customer_id).to_numpy()
        if np.isnan(oracle).any():
            raise ValueError(f"the truth ({truth.name}) lacks some test customers")
        yield name, result, oracle

"""Hyperparameter search for one task and model: the Hydra entry point.

Usage::

    python -m socialcrm.tune                                   # churn, lightgbm, 30 trials
    python -m socialcrm.tune model=xgboost tune.n_trials=50 tune.timeout=1800
    python -m socialcrm.tune model=logreg tune.register=true   # best -> socialcrm-churn@challenger
    python -m socialcrm.tune tune.spaces.lightgbm.classification.num_leaves.high=31
    python -m socialcrm.tune experiment=telco model=logreg tune.n_trials=10   # CV tasks too

The search is :func:`socialcrm.tuning.tune`, on the run edge (:mod:`socialcrm.runner`).
"""

from __future__ import annotations

import matplotlib

# a headless entry point: figures are saved, never shown (library modules choose no
# backend, so notebooks keep their inline figures)
matplotlib.use("Agg")

import hydra
from omegaconf import DictConfig
from rich.console import Console

from socialcrm.errors import exit_on_user_error, run_hydra_app
from socialcrm.tuning import tune


@hydra.main(config_path="../../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    from socialcrm.data.customer_table import check_task

    # data errors end here, inside the job, as the report and exit code 1
    with exit_on_user_error():
        check_task(cfg)
        return tune(cfg, console=Console()).best_value


if __name__ == "__main__":
    run_hydra_app(main)  # config and override errors: one paragraph, exit code 2

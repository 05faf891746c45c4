"""Train, evaluate, explain, log and register one model: the Hydra entry point.

Usage::

    python -m socialcrm.train                                   # task=churn model=lightgbm
    python -m socialcrm.train task=churn model=xgboost features=crm_social
    python -m socialcrm.train --multirun model=logreg,lightgbm,xgboost seed=1,2

Each run (each ``--multirun`` job too) is one MLflow run in the task's
experiment. The job returns the validation metric the task names
(``task.metric``), which sweeps maximise. The work is done by the run edge,
:mod:`socialcrm.runner`.
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
from socialcrm.runner import run


@hydra.main(config_path="../../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    from socialcrm.data.customer_table import check_task

    # data errors end here, inside the job, as the report and exit code 1
    with exit_on_user_error():
        check_task(cfg)
        return run(cfg, console=Console())


if __name__ == "__main__":
    run_hydra_app(main)  # config and override errors: one paragraph, exit code 2

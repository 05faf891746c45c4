"""MLflow tracking: the one place runs are started and the store is chosen."""

from socialcrm.tracking.mlflow_store import configure, experiment_name, start_run

__all__ = ["configure", "experiment_name", "start_run"]

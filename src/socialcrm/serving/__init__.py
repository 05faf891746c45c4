"""REST serving of a registered model: MLflow's own scoring server, started and stopped
for the REST tests and the load benchmark (``make serve`` starts it by hand)."""

from socialcrm.serving.server import ModelServer, free_port

__all__ = ["ModelServer", "free_port"]

"""The deployed model's code, logged as a file: MLflow's models-from-code.

MLflow runs this file when it loads the model (the ``socialcrm`` package travels
with the model as its code path) and takes the model that :func:`set_model`
names; the fitted model itself is a joblib artifact read in ``load_context``.
No Python object is cloudpickled, so the model loads wherever the pinned
requirements install.
"""

from mlflow.models import set_model

from socialcrm.tracking.pyfunc import ScoringPyfunc

set_model(ScoringPyfunc())

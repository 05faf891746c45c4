"""The deployable model: an MLflow pyfunc that takes canonical feature-table rows
and returns the score plus the top reasons.

It carries its own preprocessing (the sklearn pipeline), calibration and
explainer, so ``mlflow.pyfunc.load_model("models:/socialcrm-churn@challenger")``
in a fresh process scores the feature table with nothing else. Extra columns
(``customer_id``, ``cutoff``, labels) are ignored; zero rows give an empty
result with the output columns.

The model guards its own door: a missing feature column, text in a numeric
column or an infinity raises
:class:`~socialcrm.models.calibration.ModelInputError`, whose short message
names the columns and the rule broken (``missing_column``, ``not_numeric``,
``non_finite``) and never a value; behind ``mlflow models serve`` (``make
serve``) it is an HTTP 400 with that message and the ``problems`` in its JSON
body. MLflow enforces a signature's input schema before the model sees the
frame, and its failure message prints the frame (customer ids included); so the
signature lists every feature column as optional and of type ``Any`` (MLflow
then only drops unknown columns), and the column types and rules travel in the
model's metadata as ``input_contract``.
"""

from __future__ import annotations

import json
import platform
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import joblib
import mlflow
import pandas as pd
from mlflow.models import ModelSignature, infer_signature
from mlflow.types.schema import AnyType, ColSpec, Schema

from socialcrm.explain.shap_values import (
    empty_reasons,
    reason_codes,
    synthetic_background,
)
from socialcrm.models.calibration import RULES, ScoringModel

REQUIREMENTS = ("scikit-learn", "lightgbm", "xgboost-cpu", "shap", "pandas", "numpy", "pyarrow")
EXAMPLE_ROWS = 5


class ScoringPyfunc(mlflow.pyfunc.PythonModel):
    """Feature-table rows in; ``probability`` (or ``prediction``) and reason codes out."""

    def load_context(self, context) -> None:
        self.model: ScoringModel = joblib.load(context.artifacts["model"])
        meta = json.loads(Path(context.artifacts["meta"]).read_text())
        self.output = meta["output"]
        self.top = int(meta["top_reasons"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """Scores, plus ``params["top_reasons"]`` reasons each way (0: scores only).

        Raises
        ------
        ModelInputError
            The input breaks the feature contract (see the module docstring).
        """
        X = self.model.frame(pd.DataFrame(model_input))
        top = int((params or {}).get("top_reasons", self.top))
        out = self.model.scores(X)
        if top and self.model.explainable:
            out = out.join(self._reasons(X, top))
        return out.reset_index(drop=True)

    def _reasons(self, X: pd.DataFrame, top: int) -> pd.DataFrame:
        if X.empty:
            return empty_reasons(top, X.index)
        return reason_codes(self.model.explanation(X), top)


def _requirements() -> list[str]:
    out = [f"mlflow=={version('mlflow')}"]
    for pkg in REQUIREMENTS:
        try:
            out.append(f"{pkg}=={version(pkg)}")
        except PackageNotFoundError:  # not installed: not needed by this model
            continue
    return out


def _conda_env(requirements: list[str]) -> dict:
    """The environment MLflow writes from ``pip_requirements``, written here instead.

    MLflow pins pip in ``conda.yaml`` from the running environment; the project's
    environment is built by uv and has no pip, so MLflow would warn ("Failed to
    resolve installed pip version") and leave pip unpinned. Unpinned is right:
    any pip installs the pinned requirements.
    """
    try:
        pip = f"pip<={version('pip')}"
    except PackageNotFoundError:
        pip = "pip"
    return {
        "name": "mlflow-env",
        "channels": ["conda-forge"],
        "dependencies": [f"python={platform.python_version()}", pip, {"pip": requirements}],
    }


def input_schema(model: ScoringModel) -> Schema:
    """Every feature column, optional and of any type: the model checks them itself."""
    return Schema([ColSpec(AnyType(), c, required=False) for c in model.features])


def input_contract(model: ScoringModel) -> dict:
    """The feature columns by type and the rules the model enforces (for the MLmodel file)."""
    return {
        "numeric": list(model.numeric),
        "categorical": list(model.categorical),
        "rules": dict(RULES),
        "error": "socialcrm.models.calibration.ModelInputError",
    }


def log_scoring_model(
    model: ScoringModel,
    example: pd.DataFrame,
    registered_name: str | None,
    top_reasons: int = 3,
) -> mlflow.models.model.ModelInfo:
    """Log the model as a pyfunc with signature and input example; register it if named.

    Parameters
    ----------
    model
        The fitted scoring model.
    example
        Feature rows the input example summarises: it holds quantile rows of
        them (:func:`synthetic_background`), not their rows.
    registered_name
        Registered model name (``socialcrm-churn``), or None not to register.
    top_reasons
        Reasons each way returned per row.
    """
    import socialcrm

    output = model.output_name
    rows = model.frame(example)
    example = synthetic_background(rows, k=EXAMPLE_ROWS) if len(rows) else None
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / "scoring_model.joblib"
        meta_path = Path(tmp) / "meta.json"
        joblib.dump(model, model_path)
        meta_path.write_text(json.dumps({"output": output, "top_reasons": top_reasons}))
        artifacts = {"model": str(model_path), "meta": str(meta_path)}
        pyfunc = ScoringPyfunc()
        pyfunc.load_context(type("Ctx", (), {"artifacts": artifacts})())
        scored = pyfunc.predict(None, example if example is not None else rows.iloc[:0])
        inferred = infer_signature(params={"top_reasons": top_reasons}, model_output=scored)
        signature = ModelSignature(input_schema(model), inferred.outputs, inferred.params)
        return mlflow.pyfunc.log_model(
            name="model",
            # models-from-code: the file that defines the model, never a pickled object
            python_model=str(Path(__file__).with_name("model_code.py")),
            artifacts=artifacts,
            signature=signature,
            input_example=example,
            registered_model_name=registered_name,
            conda_env=_conda_env(_requirements()),
            code_paths=[str(Path(socialcrm.__file__).parent)],
            metadata={"input_contract": input_contract(model)},
        )


def set_alias(name: str, alias: str, version_: str | int) -> None:
    """Point ``models:/<name>@<alias>`` at a registered version (no registry stages)."""
    mlflow.MlflowClient().set_registered_model_alias(name, alias, str(version_))

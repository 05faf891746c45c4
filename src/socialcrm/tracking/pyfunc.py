"""The deployable model: an MLflow pyfunc that takes canonical feature-table rows
and returns the score plus the top reasons.

It carries its own preprocessing (the sklearn pipeline), calibration and
explainer, so ``mlflow.pyfunc.load_model("models:/socialcrm-churn@challenger")``
in a fresh process scores the feature table with nothing else. Extra columns
(``customer_id``, ``cutoff``, labels) are ignored.
"""

from __future__ import annotations

import json
import tempfile
from importlib.metadata import version
from pathlib import Path

import joblib
import mlflow
import pandas as pd
from mlflow.models import infer_signature

from socialcrm.explain.shap_values import explain, explainable, reason_codes
from socialcrm.models.calibration import ScoringModel

REQUIREMENTS = ("scikit-learn", "lightgbm", "xgboost-cpu", "shap", "pandas", "numpy", "pyarrow")


class ScoringPyfunc(mlflow.pyfunc.PythonModel):
    """Feature-table rows in; ``probability`` (or ``prediction``) and reason codes out."""

    def load_context(self, context) -> None:
        self.model: ScoringModel = joblib.load(context.artifacts["model"])
        meta = json.loads(Path(context.artifacts["meta"]).read_text())
        self.output = meta["output"]
        self.top = int(meta["top_reasons"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """Scores, plus ``params["top_reasons"]`` reasons each way (0: scores only)."""
        X = pd.DataFrame(model_input)
        top = int((params or {}).get("top_reasons", self.top))
        out = pd.DataFrame({self.output: self.model.predict(X)}, index=X.index)
        if self.model.kind == "classification":
            out["decision"] = out[self.output] >= self.model.threshold
        if top and explainable(self.model.pipeline):
            expl = explain(
                self.model.pipeline, self.model.frame(X), self.model.info.get("background")
            )
            out = out.join(reason_codes(expl, top))
        return out.reset_index(drop=True)


def _requirements() -> list[str]:
    out = [f"mlflow=={version('mlflow')}"]
    for pkg in REQUIREMENTS:
        try:
            out.append(f"{pkg}=={version(pkg)}")
        except Exception:  # not installed: not needed by this model
            continue
    return out


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
        A few feature rows (identifiers are dropped: only the model's columns are kept).
    registered_name
        Registered model name (``socialcrm-churn``), or None not to register.
    top_reasons
        Reasons each way returned per row.
    """
    import socialcrm

    output = "probability" if model.kind == "classification" else "prediction"
    example = model.frame(example).head(5).reset_index(drop=True)
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / "scoring_model.joblib"
        meta_path = Path(tmp) / "meta.json"
        joblib.dump(model, model_path)
        meta_path.write_text(json.dumps({"output": output, "top_reasons": top_reasons}))
        artifacts = {"model": str(model_path), "meta": str(meta_path)}
        pyfunc = ScoringPyfunc()
        pyfunc.load_context(type("Ctx", (), {"artifacts": artifacts})())
        signature = infer_signature(
            example, pyfunc.predict(None, example), params={"top_reasons": top_reasons}
        )
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=pyfunc,
            artifacts=artifacts,
            signature=signature,
            input_example=example,
            registered_model_name=registered_name,
            pip_requirements=_requirements(),
            code_paths=[str(Path(socialcrm.__file__).parent)],
        )


def set_alias(name: str, alias: str, version_: str | int) -> None:
    """Point ``models:/<name>@<alias>`` at a registered version (no registry stages)."""
    mlflow.MlflowClient().set_registered_model_alias(name, alias, str(version_))

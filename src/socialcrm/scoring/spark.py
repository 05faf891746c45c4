"""Scoring a Spark DataFrame of feature rows with a registered model:
:func:`mlflow.pyfunc.spark_udf` over the project's pyfunc
(:class:`socialcrm.tracking.pyfunc.ScoringPyfunc`).

The pyfunc returns a frame of several columns (churn: ``probability`` and
``decision``; CLV: ``prediction``; next-best-offer: ``action``,
``expected_<reward>_<action>``..., ``propensity``; plus ``raising_k`` /
``lowering_k`` reason codes when asked for). By default the UDF's result type is a
struct of every output the model's signature declares (without the reason codes
unless ``top_reasons`` > 0), and the struct's fields become columns of the result,
next to the input frame's columns: the same values, row for row, as
:func:`socialcrm.scoring.batch.predict_outputs` gives in pandas. A primitive
``result_type`` (``"double"``) instead gives MLflow's pick, the leftmost numeric
output (the score: ``probability`` or ``prediction``), as the column ``score``.

The model runs in Spark's Python workers with this environment
(``env_manager="local"``), loaded once per worker; the features go in as one struct
column, so the model sees them by name. Needs the optional ``spark`` dependency group
and a session (e.g. :class:`socialcrm.features.backends.spark.SparkBackend`'s).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from socialcrm.scoring.batch import REASON_PREFIXES

#: The struct column the UDF writes before its fields are spread into columns.
RESULT_COLUMN = "__socialcrm_scores__"
#: The column of a primitive (non-struct) result.
SCORE_COLUMN = "score"
#: MLflow signature type -> Spark SQL type.
SPARK_TYPES = {
    "double": "double",
    "float": "float",
    "long": "bigint",
    "integer": "int",
    "boolean": "boolean",
    "string": "string",
    "datetime": "timestamp",
    "binary": "binary",
}


def output_type(signature, top_reasons: int = 0) -> str:
    """The struct the UDF returns (Spark DDL) for a model ``signature``: every declared
    output, the reason codes only when ``top_reasons`` > 0 (``raising_1..k``,
    ``lowering_1..k``, strings).

    Raises
    ------
    ValueError
        If the model declares no outputs (then pass ``result_type``).
    """
    if signature is None or signature.outputs is None:
        raise ValueError("the model has no output signature: pass result_type")
    fields = []
    for spec in signature.outputs.inputs:
        name = spec.name
        if name is None or str(name).startswith(REASON_PREFIXES):
            continue
        kind = getattr(spec.type, "name", str(spec.type))
        if kind not in SPARK_TYPES:
            raise ValueError(f"model output {name!r} has type {kind}: pass result_type")
        fields.append(f"`{name}` {SPARK_TYPES[kind]}")
    for direction in ("raising", "lowering"):
        fields += [f"`{direction}_{j}` string" for j in range(1, int(top_reasons) + 1)]
    return ", ".join(fields)


def resolved_uri(model_uri: str) -> str:
    """``models:/<name>@<alias>`` as ``models:/<name>/<version>``: the UDF and its result
    type describe the same version even if the alias moves meanwhile."""
    from socialcrm.scoring.run import resolve_model

    return resolve_model(model_uri, None, {}).uri


def score_spark(
    spark,
    model_uri: str,
    frame,
    columns: Sequence[str] | None = None,
    result_type: Any = None,
    top_reasons: int = 0,
):
    """``frame`` with the model's outputs for each row.

    Parameters
    ----------
    spark
        The SparkSession.
    model_uri
        A registered model (``models:/socialcrm-churn@champion``) or any pyfunc URI.
    frame
        A Spark DataFrame of feature-table rows (keys and labels may stay in it).
    columns
        The columns the model reads; None: the inputs its signature names that
        ``frame`` has (as :func:`socialcrm.scoring.batch.model_inputs`).
    result_type
        None: a struct of the model's outputs (:func:`output_type`), spread into
        columns. A Spark type or DDL string: passed to ``spark_udf``; a struct is
        spread into its fields, anything else is the column ``score``.
    top_reasons
        Reason codes each way (the pyfunc's ``top_reasons`` parameter; 0: none).

    Returns
    -------
    pyspark.sql.DataFrame
        ``frame``'s columns, then the outputs (lazy: computed when an action runs).

    Raises
    ------
    ValueError
        If an output column already is a column of ``frame``.
    """
    import mlflow
    from pyspark.sql import functions as F
    from pyspark.sql.types import DataType, StructType, _parse_datatype_string

    uri = resolved_uri(model_uri) if model_uri.startswith("models:/") else model_uri
    info = mlflow.models.get_model_info(uri)
    signature = info.signature
    if columns is None:
        names = signature.inputs.input_names() if signature and signature.inputs else None
        columns = [c for c in names if c in frame.columns] if names else list(frame.columns)
    if result_type is None:
        result_type = output_type(signature, top_reasons)
    parsed = (
        result_type if isinstance(result_type, DataType) else _parse_datatype_string(result_type)
    )
    outputs = parsed.fieldNames() if isinstance(parsed, StructType) else [SCORE_COLUMN]
    clash = sorted(set(outputs) & set(frame.columns))
    if clash:
        raise ValueError(f"the frame already has the model's output columns {clash}")
    udf = mlflow.pyfunc.spark_udf(
        spark,
        uri,
        result_type=parsed,
        env_manager="local",
        params={"top_reasons": int(top_reasons)},
    )
    scored = udf(F.struct(*[F.col(f"`{c}`") for c in columns]))
    if isinstance(parsed, StructType):
        keep = [F.col(f"`{c}`") for c in frame.columns]
        return frame.withColumn(RESULT_COLUMN, scored).select(*keep, f"{RESULT_COLUMN}.*")
    return frame.withColumn(SCORE_COLUMN, scored)

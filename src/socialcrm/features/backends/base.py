"""The one interface the feature SQL runs behind: register tables, materialise
intermediate results, fetch pandas frames.

Every SQL text given to a backend is written in DuckDB's dialect with the project's
macros (:mod:`socialcrm.features.sql`); the Spark backend transpiles it
(:mod:`socialcrm.features.backends.dialect`). Results come back as pandas frames
with DuckDB's conventions (what ``DuckDBPyConnection.df()`` returns), whichever
engine ran them: :func:`arrow_to_pandas`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

import pandas as pd
import pyarrow as pa


@runtime_checkable
class FeatureBackend(Protocol):
    """An engine that runs DuckDB-dialect feature SQL over the canonical tables."""

    #: ``"duckdb"`` or ``"spark"``
    name: str

    def register_folder(self, folder: str | Path) -> list[str]:
        """Register ``<folder>/<table>.parquet`` for every canonical table
        (:data:`socialcrm.data.schemas.TABLES`; an absent one as an empty view with the
        canonical columns), then the consent views
        (:data:`socialcrm.features.engine.CONSENT_VIEWS`). Returns the tables present."""
        ...

    def register_frames(self, tables: Mapping[str, pd.DataFrame]) -> list[str]:
        """:meth:`register_folder` from in-memory canonical tables."""
        ...

    def register_frame(self, name: str, frame: pd.DataFrame) -> None:
        """A temporary table (view) ``name`` over a pandas frame."""
        ...

    def materialise(self, name: str, sql: str) -> None:
        """``CREATE OR REPLACE TEMP TABLE name AS <sql>``: computed once, here."""
        ...

    def fetch(self, sql: str) -> pd.DataFrame:
        """Run a query; pandas with timestamps as naive ``datetime64[us]`` (UTC)."""
        ...

    def execute(self, sql: str) -> None:
        """Run statements (``CREATE VIEW ...``; several separated by ``;``)."""
        ...

    def close(self) -> None:
        """Release the engine (connection, session, temporary folders)."""
        ...


def _integer_dtype(t: pa.DataType) -> str:
    return f"{'U' if pa.types.is_unsigned_integer(t) else ''}Int{t.bit_width}"


def arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    """An Arrow result as DuckDB's ``.df()`` would return it.

    - DECIMAL as ``float64``; DATE and TIMESTAMP as naive ``datetime64[us]`` (a time
      zone-aware timestamp is converted to UTC first);
    - integers and booleans with NULLs as pandas' nullable ``Int64`` / ``boolean``
      (without NULLs as numpy ``int64`` / ``bool``);
    - strings as pandas' default string dtype, but a string column without a value
      (all NULL, or no rows) as ``object`` (of None); anything else as Arrow converts it.
    """
    columns: list[pd.Series] = []
    for name, col in zip(table.column_names, table.columns, strict=True):
        t = col.type
        if pa.types.is_decimal(t):
            col = col.cast(pa.float64())
        elif pa.types.is_timestamp(t) or pa.types.is_date(t):
            if pa.types.is_timestamp(t) and t.tz is not None:
                col = col.cast(pa.timestamp(t.unit, tz="UTC")).cast(pa.timestamp(t.unit))
            col = col.cast(pa.timestamp("us"))
        if pa.types.is_null(col.type):  # an untyped NULL column: DuckDB's INTEGER
            series = pd.Series([pd.NA] * len(col), dtype="Int32")
        elif (pa.types.is_string(t) or pa.types.is_large_string(t)) and col.null_count == len(col):
            series = pd.Series([None] * len(col), dtype=object)  # DuckDB: no string, no str
        elif (pa.types.is_integer(col.type) or pa.types.is_boolean(col.type)) and col.null_count:
            dtype = "boolean" if pa.types.is_boolean(col.type) else _integer_dtype(col.type)
            series = col.to_pandas(types_mapper={col.type: pd.api.types.pandas_dtype(dtype)}.get)
        else:
            series = col.to_pandas()
        columns.append(series.rename(name).reset_index(drop=True))
    if not columns:
        return pd.DataFrame(index=pd.RangeIndex(table.num_rows))
    out = pd.concat(columns, axis=1)
    out.columns = table.column_names  # duplicate names stay as they are
    return out


def normalise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Timestamps as naive ``datetime64[us]`` (UTC): time zone-aware ones converted."""
    for i, dtype in enumerate(frame.dtypes):
        if isinstance(dtype, pd.DatetimeTZDtype):
            col = frame.iloc[:, i].dt.tz_convert("UTC").dt.tz_localize(None)
            frame.isetitem(i, col.astype("datetime64[us]"))
        elif pd.api.types.is_datetime64_dtype(dtype) and dtype != "datetime64[us]":
            frame.isetitem(i, frame.iloc[:, i].astype("datetime64[us]"))
    return frame

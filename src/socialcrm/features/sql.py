"""SQL helpers shared by the feature groups.

The group queries are plain SQL with the engine-specific pieces defined as
macros, so the same text can run on DuckDB and (later) Spark SQL:
``days_between(a, b)`` (fractional days from ``a`` to ``b``), ``ordered_sum(x)``
(a floating-point sum in a fixed order) and interval arithmetic
``ts - INTERVAL n DAY``.

Results are bit-for-bit reproducible with parallel execution: money, hours
and sentiment are summed as exact decimals (their inputs have fixed decimal
places), averages of counts and 0/1 flags are exact in floating point, and
the one remaining floating-point sum (category entropy) uses ``ordered_sum``.
"""

from __future__ import annotations

import duckdb

DUCKDB_MACROS = """
CREATE OR REPLACE MACRO days_between(a, b) AS date_diff('second', a, b) / 86400.0;
CREATE OR REPLACE MACRO ordered_sum(x) AS list_sum(list(x ORDER BY x));
"""


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Define the helper macros on a DuckDB connection."""
    con.execute(DUCKDB_MACROS)


def quote(value: str) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def ident(name: str) -> str:
    """A safe column-name fragment from a data value (``App Store`` -> ``app_store``)."""
    out = "".join(ch if ch.isalnum() else "_" for ch in str(name).lower()).strip("_")
    return out or "blank"

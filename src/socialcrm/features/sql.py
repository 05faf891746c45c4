"""SQL helpers shared by the feature groups.

The group queries are plain SQL with the engine-specific pieces defined as
macros, so the same text runs on DuckDB and, transpiled by sqlglot, on Spark SQL
(:mod:`socialcrm.features.backends.dialect`): ``days_between(a, b)`` (fractional
days from ``a`` to ``b``), ``epoch_seconds(ts)`` (whole seconds since 1970),
``ordered_sum(x)`` (a floating-point sum in a fixed order) and interval
arithmetic ``ts - INTERVAL n DAY``.

Windows without a join per cutoff
---------------------------------
A feature "over the last ``w`` days before the cutoff" is computed without
joining every event to every later cutoff (which costs events x cutoffs): the
events of an entity (a customer, an account) and one *query row* per
(entity, cutoff) are put in one stream ordered by ``k = epoch_seconds(time)``,
and each feature is a window aggregate over a value range of ``k`` ending just
before the query row's own key (see :func:`frame`). Only query rows are kept.
The cost grows with events plus entities x cutoffs. Every time is compared in
whole seconds, as ``days_between`` counts them, so the windows are exact:
``age < w`` (``age = days_between(t, cutoff)``) is ``k > K - 86400 w``, i.e. a
frame from ``86400 w - 1`` to ``1`` PRECEDING.

Shards
------
A window operator holds its whole stream. So that memory stays bounded on one
machine whatever the number of customers, DuckDB builds the per-customer groups
a shard of customers at a time (``in_shard(customer_id)``, a hash of the id;
see :func:`socialcrm.features.build.build_features`): the ``population`` view
and every stream keyed by customer show one shard only. Each customer's rows
are computed from that customer's events alone, so the result is the same.
Spark partitions by itself and sees every customer at once (``in_shard`` is
true there).

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
CREATE OR REPLACE MACRO epoch_seconds(ts) AS date_diff('second', TIMESTAMP '1970-01-01', ts);
CREATE OR REPLACE MACRO in_shard(key) AS hash(key) % coalesce(getvariable('feature_shards'), 1)
    = coalesce(getvariable('feature_shard'), 0);
"""

DAY = 86400  # seconds


def frame(
    older_than_days: float | None = None,
    within_days: float | None = None,
    inclusive: bool = False,
) -> str:
    """A RANGE frame over ``k`` (seconds) for events strictly before the query row.

    Parameters
    ----------
    older_than_days
        Keep events with ``age >= older_than_days`` (``k <= K - 86400 d``); None: from ``age > 0``.
    within_days
        Keep events with ``age < within_days`` (``k > K - 86400 w``), or with
        ``inclusive``, ``age <= within_days`` (``k >= K - 86400 w``, as in
        ``t >= cutoff - INTERVAL w DAY``); None: the whole history.
    """
    lo = (
        "UNBOUNDED PRECEDING"
        if within_days is None
        else f"{int(within_days * DAY) - (0 if inclusive else 1)} PRECEDING"
    )
    hi = "1 PRECEDING" if older_than_days is None else f"{int(older_than_days * DAY)} PRECEDING"
    return f"RANGE BETWEEN {lo} AND {hi}"


def ahead_frame(days: float) -> str:
    """A RANGE frame over ``k`` for events in ``[cutoff, cutoff + days)`` (the label horizon)."""
    return f"RANGE BETWEEN CURRENT ROW AND {int(days * DAY) - 1} FOLLOWING"


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


def event_stream(
    keys: list[str],
    events_sql: str,
    queries_sql: str,
    columns: list[tuple[str, str]],
) -> str:
    """The events of each entity and its query rows as one stream (see the module docstring).

    Parameters
    ----------
    keys
        The entity's key columns (the window partition).
    events_sql
        A SELECT giving ``keys``, ``k`` (seconds) and every name in ``columns``.
    queries_sql
        A SELECT giving ``keys``, ``k`` and ``cutoff``: one row per (entity, cutoff).
    columns
        (name, SQL type) of the event values; null on query rows.

    Returns
    -------
    str
        A SELECT with ``keys``, ``k``, ``cutoff`` (null on event rows) and ``columns``.
    """
    part = ", ".join(keys)
    names = ", ".join(n for n, _ in columns)
    nulls = ", ".join(f"CAST(NULL AS {t}) AS {n}" for n, t in columns)
    shard = f" WHERE in_shard({keys[0]})" if keys[0] == "customer_id" else ""
    return (
        f"SELECT {part}, k, CAST(NULL AS TIMESTAMP) AS cutoff, {names}"
        f" FROM ({events_sql}) AS ev{shard}\n"
        f"UNION ALL\n"
        f"SELECT {part}, k, cutoff, {nulls} FROM ({queries_sql}) AS qr{shard}"
    )


def windowed(
    keys: list[str], stream_sql: str, aggregates: list[str], windows: dict[str, str]
) -> str:
    """Window aggregates over a :func:`event_stream`, kept on the query rows only.

    ``windows`` maps a window name used in ``aggregates`` (``... OVER name``) to its
    frame (:func:`frame`); every window is partitioned by ``keys`` and ordered by ``k``.
    """
    part = ", ".join(keys)
    aggs = ",\n        ".join(aggregates)
    wins = ",\n        ".join(
        f"{name} AS (PARTITION BY {part} ORDER BY k {fr})" for name, fr in windows.items()
    )
    return f"""SELECT * FROM (
    SELECT {part}, cutoff,
        {aggs}
    FROM ({stream_sql}) AS st
    WINDOW {wins}
) AS wq WHERE cutoff IS NOT NULL"""

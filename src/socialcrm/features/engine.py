"""The DuckDB engine the feature definitions run on.

Canonical tables are registered as views: over the Parquet files of an ingested
data set (out of core: DuckDB reads only what a query needs and spills to
``temp_dir``), or over in-memory DataFrames (tests). Absent optional tables
(own data without social media) become empty views with the canonical columns,
so every feature query runs unchanged and a CRM-only data set simply yields
empty social aggregates.

Consent is applied here, once, as views every feature group reads:

- ``linked_accounts``: accounts of customers who consented to social linkage;
- ``visible_accounts``: linked accounts plus accounts of non-customers (latent
  customers); accounts of customers who did not consent are dropped entirely;
- ``visible_edges`` / ``visible_posts``: edges and posts among visible accounts.

So a customer without consent contributes nothing to anyone's social features.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from socialcrm.data.schemas import PANDAS_DTYPES, TABLES

CONSENT_VIEWS = """
CREATE OR REPLACE VIEW linked_accounts AS
    SELECT a.* FROM social_accounts a
    JOIN customers c ON c.customer_id = a.customer_id
    WHERE c.consent_social;
CREATE OR REPLACE VIEW visible_accounts AS
    SELECT * FROM social_accounts WHERE customer_id IS NULL
    UNION ALL
    SELECT * FROM linked_accounts;
CREATE OR REPLACE VIEW visible_edges AS
    SELECT e.* FROM social_edges e
    SEMI JOIN visible_accounts s ON s.account_id = e.src_account_id
    SEMI JOIN visible_accounts d ON d.account_id = e.dst_account_id;
CREATE OR REPLACE VIEW visible_posts AS
    SELECT p.* FROM posts p SEMI JOIN visible_accounts a ON a.account_id = p.account_id;
"""


def empty_table(name: str) -> pd.DataFrame:
    """A zero-row DataFrame with the canonical columns and dtypes of ``name``."""
    spec = TABLES[name]
    return pd.DataFrame({c.name: pd.Series([], dtype=PANDAS_DTYPES[c.dtype]) for c in spec.columns})


def connect(threads: int = 2, memory_limit: str = "10GB", temp_dir: str | None = None):
    """A DuckDB connection with explicit resource limits."""
    con = duckdb.connect(database=":memory:")
    con.execute(f"SET threads = {int(threads)}")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute("SET preserve_insertion_order = false")
    if temp_dir:
        Path(temp_dir).mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = '{Path(temp_dir).as_posix()}'")
    return con


def ingested_tables(folder: str | Path) -> dict[str, Path | None]:
    """``<folder>/<table>.parquet`` of every canonical table (None: absent).

    Raises
    ------
    FileNotFoundError
        If the folder holds no ingested data set (no ``customers.parquet``).
    """
    folder = Path(folder)
    if not (folder / "customers.parquet").is_file():
        raise FileNotFoundError(
            f"no ingested data set in {folder} (customers.parquet is missing): "
            "run `socialcrm ingest` (or `make run`) first"
        )
    return {
        n: (folder / f"{n}.parquet" if (folder / f"{n}.parquet").is_file() else None)
        for n in TABLES
    }


def register_folder(con: duckdb.DuckDBPyConnection, folder: str | Path) -> list[str]:
    """Register ``<folder>/<table>.parquet`` for every canonical table (empty views if absent).

    Returns
    -------
    list of str
        The tables that were present.
    """
    present = []
    for name, path in ingested_tables(folder).items():
        if path is not None:
            con.execute(
                f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet('{path.as_posix()}')"
            )
            present.append(name)
        else:
            _register_frame(con, name, empty_table(name))
    con.execute(CONSENT_VIEWS)
    return present


def register_frames(
    con: duckdb.DuckDBPyConnection, tables: Mapping[str, pd.DataFrame]
) -> list[str]:
    """Register in-memory canonical tables (absent ones as empty views)."""
    present = []
    for name in TABLES:
        if name in tables:
            _register_frame(con, name, tables[name])
            present.append(name)
        else:
            _register_frame(con, name, empty_table(name))
    con.execute(CONSENT_VIEWS)
    return present


def _register_frame(con: duckdb.DuckDBPyConnection, name: str, df: pd.DataFrame) -> None:
    # as Arrow: DuckDB scans pandas' Arrow-backed strings row by row (minutes at 10M rows)
    con.register(f"_frame_{name}", pa.Table.from_pandas(df, preserve_index=False))
    con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM _frame_{name}")

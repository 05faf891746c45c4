"""The DuckDB backend: the project's DuckDB engine (:mod:`socialcrm.features.engine`)
behind :class:`~socialcrm.features.backends.base.FeatureBackend`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from socialcrm.features import engine
from socialcrm.features.backends.base import normalise_frame
from socialcrm.features.backends.dialect import EPOCH_SECONDS_MACRO
from socialcrm.features.sql import install_macros, quote


class DuckDBBackend:
    """An in-memory DuckDB connection with explicit resource limits and the macros.

    Parameters
    ----------
    threads, memory_limit, temp_dir
        As :func:`socialcrm.features.engine.connect`.
    max_temp_directory_size
        DuckDB's ``max_temp_directory_size`` (``"50GB"``): without it DuckDB spills to
        ``temp_dir`` without bound. None keeps DuckDB's default.

    Attributes
    ----------
    con
        The raw connection, for code that needs DuckDB itself.
    """

    name = "duckdb"

    def __init__(
        self,
        threads: int = 2,
        memory_limit: str = "10GB",
        temp_dir: str | Path | None = None,
        max_temp_directory_size: str | None = None,
    ):
        self.con = engine.connect(
            threads=threads,
            memory_limit=memory_limit,
            temp_dir=str(temp_dir) if temp_dir else None,
        )
        if max_temp_directory_size:
            self.con.execute(f"SET max_temp_directory_size = {quote(max_temp_directory_size)}")
        install_macros(self.con)
        if not self._has_macro("epoch_seconds"):
            self.con.execute(EPOCH_SECONDS_MACRO)

    @classmethod
    def wrap(cls, con) -> DuckDBBackend:
        """A backend over an existing connection whose tables are registered already."""
        self = cls.__new__(cls)
        self.con = con
        install_macros(con)
        return self

    def _has_macro(self, name: str) -> bool:
        rows = self.con.execute(
            "SELECT count(*) FROM duckdb_functions() WHERE function_name = ?"
            " AND function_type IN ('macro', 'table_macro')",
            [name],
        ).fetchone()
        return bool(rows and rows[0])

    def register_folder(self, folder: str | Path) -> list[str]:
        return engine.register_folder(self.con, folder)

    def register_frames(self, tables: Mapping[str, pd.DataFrame]) -> list[str]:
        return engine.register_frames(self.con, tables)

    def register_frame(self, name: str, frame: pd.DataFrame) -> None:
        engine._register_frame(self.con, name, frame)

    def materialise(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")

    def fetch(self, sql: str) -> pd.DataFrame:
        return normalise_frame(self.con.execute(sql).df())

    def execute(self, sql: str) -> None:
        self.con.execute(sql)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> DuckDBBackend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

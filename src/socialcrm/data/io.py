"""Reading and writing canonical tables; every write is atomic.

Outputs are written to a temporary sibling folder and renamed into place only
when complete, so a failure (bad input, a crash, Ctrl-C) leaves nothing
half-written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary folder that replaces ``target`` when the block succeeds.

    On any exception the temporary folder is removed and ``target`` is left as
    it was (absent, or the previous complete version).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        target.rename(old)
    tmp.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """Yield a temporary path that is renamed to ``target`` when the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.tmp-", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(target)


_PARQUET_OPTIONS = {"compression": "zstd", "write_statistics": True, "store_schema": True}
_ROW_GROUP = 1 << 20


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write a table deterministically (same table, same bytes)."""
    pq.write_table(table, path, row_group_size=_ROW_GROUP, **_PARQUET_OPTIONS)


class ParquetSink:
    """Write tables that arrive in chunks: consecutive chunks of one name go to one file.

    Parameters
    ----------
    folder
        Files are written to ``<folder>/<name>.parquet`` (``name`` may contain ``/``).
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.rows: dict[str, int] = {}
        self._name: str | None = None
        self._writer: pq.ParquetWriter | None = None

    def write(self, name: str, table: pa.Table) -> None:
        if name != self._name:
            self._close_current()
            if name in self.rows:
                raise ValueError(f"chunks of table {name!r} must arrive consecutively")
            path = self.folder / f"{name}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(path, table.schema, **_PARQUET_OPTIONS)
            self._name = name
            self.rows[name] = 0
        assert self._writer is not None
        self._writer.write_table(table, row_group_size=_ROW_GROUP)
        self.rows[name] += table.num_rows

    def _close_current(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writer, self._name = None, None

    def close(self) -> dict[str, int]:
        """Finish the last file; return rows written per table."""
        self._close_current()
        return dict(self.rows)

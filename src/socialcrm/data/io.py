"""Reading and writing canonical tables; every write is atomic.

Outputs are written to a temporary sibling folder and renamed into place only
when complete, so a failure (bad input, a crash, Ctrl-C) leaves nothing
half-written.

A writer killed outright (SIGKILL, power loss) cannot clean up after itself: its
temporary ``.<name>.tmp-<pid>@<host>-*`` (or the previous version it was
replacing, ``.<name>.old-<pid>@<host>-*``) stays next to the target. The next
write to the same target removes such leftovers whose writer is gone
(:func:`sweep_stale`), without reading them; a concurrent writer that is still
running keeps its temporary.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

#: Leftovers without a writer id (written before ids were recorded) are removed
#: when older than this many seconds; no write takes that long.
LEGACY_MAX_AGE = 24 * 3600


def _host() -> str:
    """This machine's name as it may appear in a file name (no ``@``, ``-`` or ``/``)."""
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"


def temp_prefix(target: Path, kind: str = "tmp") -> str:
    """``.<name>.<kind>-<pid>@<host>-``: the prefix of this process's temporaries for ``target``."""
    return f".{Path(target).name}.{kind}-{os.getpid()}@{_host()}-"


def _leftover(target: Path, entry: str) -> tuple[int | None, str | None] | None:
    """``(pid, host)`` of a temporary of ``target`` named ``entry``; ``(None, None)`` for
    one without a writer id; ``None`` when ``entry`` is not a temporary of ``target``."""
    name = re.escape(Path(target).name)
    found = re.fullmatch(rf"\.{name}\.(?:tmp|old)-(?:(\d+)@([A-Za-z0-9._]+)-)?[^/]*", entry)
    if found is None:
        return None
    pid, host = found.groups()
    return (int(pid), host) if pid else (None, None)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:  # killed but not yet reaped by its parent: state Z in /proc/<pid>/stat
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def is_stale(target: Path, entry: Path) -> bool:
    """Whether ``entry`` is a temporary of ``target`` whose writer is gone.

    A temporary made on another machine (a shared file system) is never stale
    here: whether its writer runs cannot be known.
    """
    owner = _leftover(target, entry.name)
    if owner is None:
        return False
    pid, host = owner
    if pid is None:
        try:
            return time.time() - entry.lstat().st_mtime > LEGACY_MAX_AGE
        except FileNotFoundError:
            return False
    return host == _host() and not process_alive(pid)


def sweep_stale(target: Path) -> list[Path]:
    """Remove the leftover temporaries of ``target`` whose writer is gone; return them.

    Only names of the form ``.<name>.tmp-*`` and ``.<name>.old-*`` next to
    ``target`` are considered; their contents are never read.
    """
    target = Path(target)
    if not target.parent.is_dir():
        return []
    removed = []
    for entry in target.parent.iterdir():
        if not is_stale(target, entry):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary folder that replaces ``target`` when the block succeeds.

    On any exception the temporary folder is removed and ``target`` is left as
    it was (absent, or the previous complete version). Leftovers of killed
    earlier writers to ``target`` are swept first (:func:`sweep_stale`).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(target)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(target), dir=target.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.parent / f"{temp_prefix(target, 'old')}{secrets.token_hex(4)}"
        target.rename(old)
    tmp.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """Yield a temporary path that is renamed to ``target`` when the block succeeds.

    Leftovers of killed earlier writers to ``target`` are swept first.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(target)
    fd, name = tempfile.mkstemp(prefix=temp_prefix(target), dir=target.parent)
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

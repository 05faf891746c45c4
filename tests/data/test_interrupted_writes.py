"""A writer killed outright (SIGKILL) leaves its temporary behind; the next write to the
same target sweeps it, but never the temporary of a writer that is still running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from socialcrm.data import load
from socialcrm.data.io import (
    LEGACY_MAX_AGE,
    atomic_dir,
    atomic_file,
    process_alive,
    sweep_stale,
    temp_prefix,
)

from .conftest import canonical_source

# Writes a half-finished output, prints the temporary's path, then waits to be killed.
WRITER = """
import sys, time
from pathlib import Path
from socialcrm.data.io import atomic_dir, atomic_file

kind, target = sys.argv[1], Path(sys.argv[2])
with (atomic_dir if kind == "dir" else atomic_file)(target) as tmp:
    (tmp / "part-0.parquet" if kind == "dir" else tmp).write_bytes(b"half")
    print(tmp, flush=True)
    time.sleep(600)
"""

# A real ingest that stops (sleeps) after writing its first table, printing where.
INGEST = """
import sys, time
from socialcrm.config import compose
from socialcrm.data import load

raw, root = sys.argv[1], sys.argv[2]
write = load.write_parquet

def write_then_wait(table, path):
    write(table, path)
    print(path.parent, flush=True)
    time.sleep(600)

load.write_parquet = write_then_wait
cfg = compose([f"paths.root_dir={root}", "data.salt=test-salt", "data.as_of=2025-06-30"])
load.ingest(load.DataSource.from_config(cfg.data).with_raw_dir(raw))
"""


def start(script: str, *args: str) -> tuple[subprocess.Popen, Path]:
    """Run ``script`` and wait until it reports the temporary it is writing."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True
    )
    line = proc.stdout.readline().strip()
    assert line, f"the writer exited with {proc.wait()} before writing"
    return proc, Path(line)


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL (no cleanup can run) and reap."""
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()


@pytest.fixture
def writers():
    """Writers started by a test; any still running at the end are killed."""
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            kill(proc)


def leftovers(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}."))


def dead_pid() -> int:
    """The id of a process that has exited (and was reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("kind", ["dir", "file"])
def test_killed_writer_is_swept_by_the_next_write(tmp_path, writers, kind):
    target = tmp_path / "out" / "interim"
    proc, tmp = start(WRITER, kind, str(target))
    writers.append(proc)
    assert tmp.exists() and tmp.name.startswith(f".interim.tmp-{proc.pid}@")
    kill(proc)
    assert tmp.exists() and not target.exists()  # the kill left it, and nothing else

    if kind == "dir":
        with atomic_dir(target) as new:
            (new / "part-0.parquet").write_bytes(b"complete")
        assert (target / "part-0.parquet").read_bytes() == b"complete"
    else:
        with atomic_file(target) as new:
            new.write_bytes(b"complete")
        assert target.read_bytes() == b"complete"
    assert not tmp.exists()
    assert leftovers(target) == []


def test_live_writer_keeps_its_temporary(tmp_path, writers):
    target = tmp_path / "interim"
    proc, live = start(WRITER, "dir", str(target))
    writers.append(proc)
    with atomic_dir(target) as new:
        (new / "done").write_text("x")
    assert (target / "done").read_text() == "x"
    assert live.is_dir() and (live / "part-0.parquet").read_bytes() == b"half"
    assert leftovers(target) == [live.name]

    kill(proc)  # now it is stale: the next write takes it away
    with atomic_dir(target) as new:
        (new / "done").write_text("y")
    assert not live.exists() and leftovers(target) == []
    assert (target / "done").read_text() == "y"


def test_killed_ingest_is_swept_by_the_next_ingest(tmp_path, root, tables, writers):
    source = canonical_source(tables, tmp_path / "raw", root)
    proc, tmp = start(INGEST, str(tmp_path / "raw"), str(root))
    writers.append(proc)
    interim = Path(source.interim_dir)
    assert tmp.parent == interim.parent and tmp.name.startswith(f".{interim.name}.tmp-")
    kill(proc)
    assert [p.name for p in tmp.iterdir()] == ["customers.parquet"]  # half written
    assert not interim.exists()

    rows = load.ingest(source)
    assert not tmp.exists() and leftovers(interim) == []
    assert load.read_manifest(interim)["tables"] == rows
    assert set(load.load_canonical(interim)) == set(rows)


def test_zombie_writer_counts_as_gone(tmp_path, writers):
    target = tmp_path / "interim"
    proc, tmp = start(WRITER, "dir", str(target))
    writers.append(proc)
    proc.send_signal(signal.SIGKILL)  # not reaped yet: a zombie
    deadline = time.monotonic() + 30
    while process_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(proc.pid)
    assert sweep_stale(target) == [tmp]
    kill(proc)


def test_old_versions_of_a_killed_swap_are_swept(tmp_path):
    target = tmp_path / "interim"
    target.mkdir()
    (target / "v1").write_text("1")
    prefix = temp_prefix(target, "old").replace(f"-{os.getpid()}@", f"-{dead_pid()}@")
    old = tmp_path / f"{prefix}abcd"
    old.mkdir()
    (old / "v0").write_text("0")
    with atomic_dir(target) as new:
        (new / "v2").write_text("2")
    assert [p.name for p in target.iterdir()] == ["v2"]
    assert leftovers(target) == []


def test_what_is_never_swept(tmp_path):
    target = tmp_path / "interim"
    target.parent.mkdir(exist_ok=True)
    dead = dead_pid()
    keep = [
        tmp_path / f".interim.tmp-{dead}@another.host-abcd",  # another machine: unknowable
        tmp_path / f".interim.tmp-{os.getpid()}@{temp_prefix(target).split('@')[1]}abcd",  # us
        tmp_path / f".other.tmp-{dead}@{temp_prefix(target).split('@')[1]}abcd",  # other target
        tmp_path / ".interim.tmp-legacy1",  # no writer id and recent
        tmp_path / "interim.tmp-x",  # not hidden: not ours
    ]
    legacy_old = tmp_path / ".interim.tmp-legacy2"
    for p in [*keep, legacy_old]:
        p.mkdir()
    week_ago = time.time() - LEGACY_MAX_AGE - 7 * 24 * 3600
    os.utime(legacy_old, (week_ago, week_ago))
    assert sweep_stale(target) == [legacy_old]
    assert all(p.exists() for p in keep)

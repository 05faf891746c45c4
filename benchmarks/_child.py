"""Shared by the benchmarks that time a real command in a child process."""

from __future__ import annotations

import json
import os
import platform
import resource
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from socialcrm.redact import redact, secret_values

ROOT = Path(__file__).resolve().parents[1]


def time_child(
    cmd: list[str], capture: bool = False
) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run ``cmd`` from the repo root; return the process, wall seconds and the peak
    resident memory (GB) of the largest child so far."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, check=False, capture_output=capture, text=capture)
    seconds = time.perf_counter() - t0
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9
    return proc, seconds, peak_gb


def save_result(name: str, result: dict) -> Path:
    """Add machine facts and write ``benchmarks/results/<name>.json`` (secrets that a
    command line or an environment variable carried are redacted)."""
    result = {
        **result,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    result = redact(result, values=secret_values({}))
    out = ROOT / "benchmarks" / "results" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return out


def print_targets(
    console: Console, title: str, rows: list[tuple[str, str, str, bool | None]]
) -> None:
    """A measure / measured / target / met table."""
    table = Table(title=title)
    for col in ("measure", "measured", "target", "met"):
        table.add_column(col)
    for measure, measured, target, ok in rows:
        table.add_row(measure, measured, target, "" if ok is None else "yes" if ok else "NO")
    console.print(table)


# --- sampling a child process tree (Linux /proc) -----------------------------------------


def _stat(pid: str) -> tuple[int, int] | None:
    """``(parent pid, session id)`` of a live process, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()  # the name may hold spaces and ')'
    return int(fields[1]), int(fields[3])


def process_tree(pid: int) -> list[int]:
    """``pid`` and its live descendants: by parent id, and, when ``pid`` leads a session
    (``start_new_session=True``), every process of that session (an orphan re-parented
    to init stays counted)."""
    children: dict[int, list[int]] = {}
    tree = {pid}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        info = _stat(entry)
        if info is None:
            continue
        child = int(entry)
        children.setdefault(info[0], []).append(child)
        if info[1] == pid:
            tree.add(child)
    todo = list(tree)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in tree:
                tree.add(child)
                todo.append(child)
    return sorted(tree)


def memory_bytes(pid: int) -> tuple[int, int]:
    """Resident memory of one process: ``(RSS, PSS)``. PSS splits each shared page among
    the processes sharing it (a forked worker's inherited pages count once over the tree);
    ``(0, 0)`` if it is gone or has none (a zombie)."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) * 1024
                    break
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    return rss, pss


def dir_bytes(path: str | Path) -> int:
    """Disk space the files under ``path`` take (allocated blocks, like ``du``); 0 if it
    does not exist. Files that vanish during the walk are skipped."""
    total = 0
    stack = [str(path)]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        else:
                            total += entry.stat(follow_symlinks=False).st_blocks * 512
                    except OSError:
                        continue
        except OSError:
            continue
    return total


@dataclass
class Sample:
    """One look at the child: wall clock, the tree's summed RSS and PSS, the largest
    process's RSS, process count, bytes under each watched folder."""

    t: float
    rss: int
    pss: int
    max_process_rss: int
    processes: int
    dirs: dict[str, int]

    @property
    def temp(self) -> int:
        return sum(self.dirs.values())


class TreeSampler(threading.Thread):
    """Samples the process tree of ``pid`` and the size of ``dirs`` every ``interval`` s."""

    def __init__(self, pid: int, dirs: Mapping[str, str | Path], interval: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.dirs, self.interval = pid, dict(dirs), interval
        self.samples: list[Sample] = []
        self.stop = threading.Event()

    def sample(self) -> Sample:
        t = time.time()
        mem = [memory_bytes(p) for p in process_tree(self.pid)]
        rss = [m[0] for m in mem]
        sizes = {name: dir_bytes(path) for name, path in self.dirs.items()}
        return Sample(
            t, sum(rss), sum(m[1] for m in mem), max(rss, default=0), sum(r > 0 for r in rss), sizes
        )

    def run(self) -> None:
        while not self.stop.is_set():
            t0 = time.perf_counter()
            self.samples.append(self.sample())
            self.stop.wait(max(0.0, self.interval - (time.perf_counter() - t0)))


@dataclass
class Measured:
    """A child run with sampling: exit code (negative: killed by that signal), wall
    seconds, wall-clock start and end, the samples, the kernel's peak RSS of the largest
    process of the tree (wait4), and whether ``timeout`` killed it."""

    returncode: int
    seconds: float
    t_start: float
    t_end: float
    samples: list[Sample] = field(default_factory=list)
    max_process_peak_rss: int = 0
    timed_out: bool = False


def run_sampled(
    cmd: Sequence[str],
    log_path: Path,
    dirs: Mapping[str, str | Path],
    env: Mapping[str, str] | None = None,
    interval: float = 0.5,
    timeout: float | None = None,
    on_tick: Callable[[], None] | None = None,
) -> Measured:
    """Run ``cmd`` from the repo root in a session of its own, its output (stdout and
    stderr) to ``log_path``, sampling its process tree and ``dirs`` every ``interval`` s;
    ``on_tick`` is called about once a second while it runs. On ``timeout`` (seconds) or
    Ctrl-C the child's process group is terminated (then killed)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        t_start, t0 = time.time(), time.perf_counter()
        proc = subprocess.Popen(
            list(cmd), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )  # fmt: skip
        sampler = TreeSampler(proc.pid, dirs, interval)
        sampler.start()
        timed_out = False
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if not timed_out and timeout and time.perf_counter() - t0 > timeout:
                    timed_out = True
                    _stop_group(proc.pid)
                    continue
                if on_tick is not None:
                    on_tick()
                time.sleep(1.0)
        except BaseException:
            _stop_group(proc.pid)
            proc.wait()
            raise
        finally:
            sampler.stop.set()
            sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        seconds = time.perf_counter() - t0
    if on_tick is not None:
        on_tick()
    return Measured(
        returncode=proc.returncode,
        seconds=seconds,
        t_start=t_start,
        t_end=time.time(),
        samples=sampler.samples,
        max_process_peak_rss=usage.ru_maxrss * 1024,
        timed_out=timed_out,
    )


def _stop_group(pgid: int, grace: float = 10.0) -> None:
    """SIGTERM the process group ``pgid`` (a child started in its own session), then
    SIGKILL what is left of it after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _group_alive(pgid):
            time.sleep(0.2)
        if not _group_alive(pgid):
            return


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is still running (zombies do not count)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False

"""``mlflow models serve`` as a context manager: start on 127.0.0.1, wait for ``/ping``,
stop the whole process group.

What ``make serve`` runs, for code that needs a live server (the REST tests, the load
benchmark): the model is loaded by URI from the given tracking store, in this
environment (``--env-manager local``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ModelServer:
    """MLflow's scoring server for one model URI, as a context manager.

    Parameters
    ----------
    model_uri
        ``models:/<name>@<alias>`` (or any URI MLflow loads).
    tracking_uri
        The store the URI resolves in.
    log_path
        Where the server's output goes (its folder is the working directory).
    port
        Default: a free port.
    workers, timeout
        Server workers and the per-request timeout (s).
    start_seconds
        How long to wait for ``/ping``.

    Attributes
    ----------
    url
        ``http://127.0.0.1:<port>``.
    startup_seconds
        How long the server took to answer ``/ping``.
    """

    def __init__(
        self,
        model_uri: str,
        tracking_uri: str,
        log_path: Path,
        port: int | None = None,
        workers: int = 1,
        timeout: int = 60,
        start_seconds: float = 180.0,
    ):
        self.model_uri = model_uri
        self.tracking_uri = tracking_uri
        self.log_path = Path(log_path)
        self.port = port or free_port()
        self.workers = workers
        self.timeout = timeout
        self.start_seconds = start_seconds
        self.url = f"http://127.0.0.1:{self.port}"
        self.startup_seconds = float("nan")
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "mlflow", "models", "serve", "-m", self.model_uri,
            "--env-manager", "local", "--host", "127.0.0.1", "--port", str(self.port),
            "--workers", str(self.workers), "--timeout", str(self.timeout),
        ]  # fmt: skip

    def __enter__(self) -> ModelServer:
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            # the server starts `uvicorn` by name: the one next to this interpreter
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        env.pop("SOCIALCRM_ROOT", None)
        with open(self.log_path, "w") as log:
            # a session of its own: stopping it ends the CLI and its uvicorn child together
            self.proc = subprocess.Popen(
                self.command(),
                cwd=self.log_path.parent,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self.startup_seconds = self._wait_until_up()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _wait_until_up(self) -> float:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < self.start_seconds:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=2) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - t0
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"no answer on /ping in {self.start_seconds:.0f} s:\n{self.tail()}")

    def stop(self) -> None:
        """End the server and its workers (SIGTERM, then SIGKILL after 20 s)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def tail(self, lines: int = 40) -> str:
        """The end of the server's log (without MLflow's download progress lines)."""
        text = self.log_path.read_text(errors="ignore") if self.log_path.is_file() else ""
        kept = [x for x in text.splitlines() if "Downloading" not in x]
        return "\n".join(kept[-lines:])

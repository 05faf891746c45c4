"""Benchmark: the REST scoring server (what ``make serve`` runs) under a bounded load.

Starts ``mlflow models serve`` on 127.0.0.1 for ``models:/socialcrm-<task>@<alias>``
in the repo's tracking store (``mlruns/``; with ``--alias champion``, the default,
it falls back to ``@challenger`` when no version is the champion yet), sends
``--requests`` requests of ``--rows`` feature-table rows each (the test split of
``data/processed/synthetic/all/features.parquet``, as ``dataframe_split``) from
``--clients`` concurrent clients, stops the server, and reports throughput and
latency. Any request that fails (not 200, or not one prediction per row) fails the
benchmark. Writes ``benchmarks/results/serve_load.json``.

    .venv/bin/python benchmarks/serve_load.py
    .venv/bin/python benchmarks/serve_load.py --requests 200 --clients 2 --alias challenger

The clients run on the same machine as the server and share its cores: the
figures are a floor for a server with cores of its own.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import requests
from _child import ROOT, save_result
from rich.console import Console
from rich.table import Table

from socialcrm.serving import ModelServer

STORE = ROOT / "mlruns" / "mlflow.db"
TRACKING_URI = f"sqlite:///{STORE}"
FEATURES = ROOT / "data" / "processed" / "synthetic" / "all" / "features.parquet"
START_SECONDS = 180
REQUEST_TIMEOUT = 60
WARMUP = 4


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000, help="requests to send")
    parser.add_argument("--rows", type=int, default=100, help="feature rows per request")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--task", default="churn", help="registered model socialcrm-<task>")
    parser.add_argument("--alias", default="champion", help="registry alias to serve")
    parser.add_argument("--workers", type=int, default=1, help="server (uvicorn) workers")
    return parser.parse_args()


def resolve_version(name: str, alias: str, console: Console) -> tuple[str, str] | None:
    """The alias to serve and its version (``champion`` falls back to ``challenger``)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(TRACKING_URI)
    candidates = [alias, "challenger"] if alias == "champion" else [alias]
    for candidate in candidates:
        try:
            version = client.get_model_version_by_alias(name, candidate).version
        except MlflowException:
            continue
        if candidate != alias:
            console.print(
                f"[yellow]note: no {name}@{alias} in {TRACKING_URI}; serving @{candidate} "
                f"(version {version}) instead"
            )
        return candidate, str(version)
    return None


def request_bodies(n_rows: int, n_requests: int) -> list[bytes]:
    """Distinct ``dataframe_split`` bodies of ``n_rows`` test rows each (reused in turn)."""
    frame = pd.read_parquet(FEATURES)
    test = frame[frame["split"] == "test"].reset_index(drop=True)
    n_bodies = max(1, min(n_requests, len(test) // n_rows))
    bodies = []
    for i in range(n_bodies):
        chunk = test.iloc[i * n_rows : (i + 1) * n_rows]
        if len(chunk) < n_rows:  # fewer test rows than one request holds: repeat them
            chunk = pd.concat([test] * (n_rows // len(test) + 1)).head(n_rows)
        payload = chunk.to_json(orient="split", index=False, date_format="iso", double_precision=15)
        bodies.append(b'{"dataframe_split": ' + payload.encode() + b"}")
    return bodies


def run_load(url: str, bodies: list[bytes], n_requests: int, n_rows: int, n_clients: int):
    """Send the requests from ``n_clients`` threads; per-request latencies (s) and errors."""
    latencies = np.full(n_requests, np.nan)
    errors: list[str] = []
    counter = iter(range(n_requests))
    lock = threading.Lock()
    headers = {"Content-Type": "application/json"}

    def client() -> None:
        with requests.Session() as session:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                t0 = time.perf_counter()
                try:
                    r = session.post(
                        url, data=bodies[i % len(bodies)], headers=headers, timeout=REQUEST_TIMEOUT
                    )
                    latencies[i] = time.perf_counter() - t0
                    if r.status_code != 200:
                        errors.append(f"request {i}: HTTP {r.status_code} {r.text[:200]}")
                    elif len(r.json()["predictions"]) != n_rows:
                        errors.append(f"request {i}: {len(r.json()['predictions'])} predictions")
                except requests.RequestException as err:
                    errors.append(f"request {i}: {type(err).__name__}")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(n_clients) as pool:
        for future in [pool.submit(client) for _ in range(n_clients)]:
            future.result()
    return time.perf_counter() - t0, latencies, errors


def main() -> int:
    args = parse_args()
    console = Console()
    name = f"socialcrm-{args.task}"
    # (opening a missing SQLite store would create an empty one)
    found = resolve_version(name, args.alias, console) if STORE.is_file() else None
    if found is None:
        tried = "@champion or @challenger" if args.alias == "champion" else f"@{args.alias}"
        console.print(
            f"[red]no registered model {name}{tried} in {TRACKING_URI}: "
            "run `make run` first to train and register one"
        )
        return 2
    alias, version = found
    if not FEATURES.is_file():
        console.print(f"[red]no feature table {FEATURES.relative_to(ROOT)}: run `make run` first")
        return 2
    bodies = request_bodies(args.rows, args.requests)
    model_uri = f"models:/{name}@{alias}"

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="serve_load-") as tmp:
        server = ModelServer(
            model_uri,
            TRACKING_URI,
            Path(tmp) / "server.log",
            workers=args.workers,
            timeout=REQUEST_TIMEOUT,
            start_seconds=START_SECONDS,
        )
        console.print(f"serving {model_uri} (version {version}) on {server.url}")
        try:
            with server:
                base = server.url
                startup = server.startup_seconds
                for body in bodies[:WARMUP]:  # the first calls build the SHAP explainer
                    requests.post(
                        f"{base}/invocations", data=body,
                        headers={"Content-Type": "application/json"}, timeout=REQUEST_TIMEOUT,
                    )  # fmt: skip
                console.print(
                    f"up in {startup:.1f} s; sending {args.requests:,} requests of "
                    f"{args.rows} rows from {args.clients} clients"
                )
                wall, latencies, errors = run_load(
                    f"{base}/invocations", bodies, args.requests, args.rows, args.clients
                )
        except RuntimeError as err:
            console.print(f"[red]{err}")
            return 1
    load_after = os.getloadavg()[0]

    done = latencies[~np.isnan(latencies)]
    p50, p95, p99 = (float(np.percentile(done, q)) * 1000 for q in (50, 95, 99))
    result = {
        "benchmark": "serve_load",
        "command": " ".join(["benchmarks/serve_load.py", *sys.argv[1:]]),
        "model_uri": model_uri,
        "model_version": version,
        "server": f"mlflow models serve --env-manager local --workers {args.workers} "
        f"--timeout {REQUEST_TIMEOUT}",
        "requests": args.requests,
        "rows_per_request": args.rows,
        "clients": args.clients,
        "distinct_bodies": len(bodies),
        "errors": len(errors),
        "startup_seconds": round(startup, 1),
        "wall_seconds": round(wall, 2),
        "requests_per_second": round(args.requests / wall, 1),
        "rows_per_second": round(args.requests * args.rows / wall, 0),
        "latency_ms": {
            "p50": round(p50, 1),
            "p95": round(p95, 1),
            "p99": round(p99, 1),
            "max": round(float(done.max()) * 1000, 1),
        },
        "load_average_1min": [round(load_before, 2), round(load_after, 2)],
    }
    out = save_result("serve_load", result)

    table = Table(title=f"REST scoring, {model_uri} (v{version}), {args.workers} worker(s)")
    for col in ("measure", "measured"):
        table.add_column(col)
    for measure, measured in (
        ("requests x rows", f"{args.requests:,} x {args.rows} from {args.clients} clients"),
        ("errors", f"{len(errors)}"),
        ("wall time", f"{wall:.1f} s"),
        ("throughput", f"{result['requests_per_second']:,.1f} requests/s"),
        ("", f"{result['rows_per_second']:,.0f} rows/s"),
        ("latency p50 / p95 / p99", f"{p50:.0f} / {p95:.0f} / {p99:.0f} ms"),
        ("latency max", f"{result['latency_ms']['max']:.0f} ms"),
        ("server start", f"{startup:.1f} s"),
        ("1-min load before / after", f"{load_before:.1f} / {load_after:.1f}"),
    ):
        table.add_row(measure, measured)
    console.print(table)
    console.print(f"written to {out.relative_to(ROOT)}")
    if errors:
        console.print(f"[red]{len(errors)} requests failed, e.g.:", *errors[:5], sep="\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

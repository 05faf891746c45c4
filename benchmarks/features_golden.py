"""Golden check of the scale rewrite on the default preset (20,000 customers): the feature
table of the rewritten queries equals the old queries' table (``tests/features/legacy``),
column by column, counts exactly and floats to 1e-9 relative. The test suite checks the
small preset; this is the same comparison on the default world, with both build times.

    .venv/bin/python benchmarks/features_golden.py                 # default preset
    .venv/bin/python benchmarks/features_golden.py data=synthetic_small
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from _child import ROOT, print_targets, save_result
from rich.console import Console

sys.path.insert(0, str(ROOT))  # the reference queries live with the tests

from tests.features.golden import assert_same_table
from tests.features.legacy import build as legacy

from socialcrm.config import compose
from socialcrm.data.generate import write_synthetic
from socialcrm.features.build import build_features
from socialcrm.features.config import feature_config
from socialcrm.features.engine import connect, register_folder
from socialcrm.listening import build_scorer_fn


def main() -> int:
    console = Console()
    overrides = sys.argv[1:] or ["data=synthetic"]
    cfg = compose(overrides)
    fcfg = feature_config(cfg.features)
    scorer = build_scorer_fn(cfg.listening)
    seconds, frames = {}, {}
    with tempfile.TemporaryDirectory(prefix="golden-") as tmp:
        raw = Path(tmp) / "raw"
        write_synthetic(cfg.data.generator, raw, cfg.data.salt)
        for name, build in (("old", legacy.build_features), ("new", build_features)):
            con = connect(fcfg.duckdb.threads, fcfg.duckdb.memory_limit, str(Path(tmp) / "duck"))
            register_folder(con, raw)
            t0 = time.perf_counter()
            frames[name] = build(con, fcfg, list(cfg.data.platforms), scorer).frame
            seconds[name] = round(time.perf_counter() - t0, 1)
            con.close()
    try:
        assert_same_table(frames["old"], frames["new"])
        problem = None
    except AssertionError as err:
        problem = str(err)
    old = frames["old"]
    out = save_result(
        f"features_golden_{cfg.data.name}",
        {
            "benchmark": "features_golden",
            "command": " ".join(["benchmarks/features_golden.py", *overrides]),
            "rows": len(old),
            "columns": old.shape[1],
            "equal": problem is None,
            "difference": problem,
            "old_seconds": seconds["old"],
            "new_seconds": seconds["new"],
        },
    )
    print_targets(
        console,
        f"rewritten vs old feature queries, {cfg.data.name} ({len(old):,} rows)",
        [
            ("tables equal (counts exact, floats 1e-9)", "yes" if problem is None else problem,
             "equal", problem is None),
            ("old build", f"{seconds['old']} s", "", None),
            ("new build", f"{seconds['new']} s", "", None),
        ],
    )  # fmt: skip
    console.print(f"written to {out.relative_to(ROOT)}")
    return 0 if problem is None else 1


if __name__ == "__main__":
    sys.exit(main())

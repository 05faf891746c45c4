"""The feature build before issue 16, with its population query: the golden tests'
reference. The helpers that did not change are the live module's."""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pandas as pd

from socialcrm.features.build import (
    FeatureTable,
    _check_manifest,
    _Timer,
    as_backend,
    choose_cutoffs,
    score_posts,
)
from socialcrm.features.config import FeatureConfig
from socialcrm.features.cutoffs import assign_split
from socialcrm.features.manifest import FeatureSpec
from socialcrm.features.sql import install_macros

from . import btyd, crm, graph, labels, listening, referral, social


def create_population(
    con: duckdb.DuckDBPyConnection, cutoffs: list[pd.Timestamp], active_within_days: int | None
) -> int:
    """Create ``cutoffs`` and ``population`` tables; return the number of rows.

    ``active_within_days`` None means no activity condition (an open contract suffices).
    """
    activity = (
        ""
        if active_within_days is None
        else f"""
  AND greatest(coalesce(b.last_buy, c.signup_date), c.signup_date)
      >= k.cutoff - INTERVAL {int(active_within_days)} DAY"""
    )
    con.execute("CREATE OR REPLACE TEMP TABLE cutoffs (cutoff TIMESTAMP)")
    con.executemany("INSERT INTO cutoffs VALUES (?)", [[c.to_pydatetime()] for c in cutoffs])
    con.execute(
        f"""
CREATE OR REPLACE TEMP TABLE population AS
WITH last_buy AS (
    SELECT k.cutoff, t.customer_id, max(t.timestamp) AS last_buy
    FROM cutoffs k JOIN transactions t ON t.timestamp < k.cutoff AND NOT t.is_return
    GROUP BY k.cutoff, t.customer_id
)
SELECT c.customer_id, k.cutoff
FROM customers c
JOIN cutoffs k ON c.signup_date < k.cutoff
LEFT JOIN last_buy b ON b.customer_id = c.customer_id AND b.cutoff = k.cutoff
WHERE (c.closed_at IS NULL OR c.closed_at >= k.cutoff){activity}
ORDER BY k.cutoff, c.customer_id
"""
    )
    return con.execute("SELECT count(*) FROM population").fetchone()[0]


def _materialise(con: duckdb.DuckDBPyConnection, name: str, sql: str) -> None:
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")


def _register_table(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> None:
    """Copy a DataFrame into a temporary DuckDB table."""
    con.register(f"_{name}", frame)
    _materialise(con, name, f"SELECT * FROM _{name}")
    con.unregister(f"_{name}")


def build_features(
    con: duckdb.DuckDBPyConnection,
    cfg: FeatureConfig,
    platforms: list[str],
    scorer_fn: Callable[[list[str]], pd.DataFrame] | None = None,
    cutoffs: list[pd.Timestamp] | None = None,
    with_labels: bool = True,
    on_stage: Callable[[str], None] | None = None,
) -> FeatureTable:
    """Build features (and labels) for every customer in the population at each cutoff.

    Parameters
    ----------
    con
        DuckDB connection with the canonical tables registered.
    cfg
        Feature configuration.
    platforms
        The data set's platform vocabulary (one presence feature each).
    scorer_fn
        Post text -> scores; required when ``social_listening`` is enabled.
    cutoffs
        Cutoffs to build; default: :func:`choose_cutoffs`.
    with_labels
        Add the label columns (needs the horizon after each cutoff).
    on_stage
        Called with each stage's name when it starts (progress display).

    Returns
    -------
    FeatureTable
    """
    install_macros(con)
    timer = _Timer()
    stage = on_stage or (lambda name: None)
    cutoffs = sorted(cutoffs) if cutoffs is not None else choose_cutoffs(con, cfg)

    _check_churn_definition(con, cfg)
    stage("population")
    timer("population", lambda: create_population(con, cutoffs, cfg.active_within_days))

    if "social_listening" in cfg.groups and scorer_fn is None:
        raise ValueError("the social_listening group needs a post scorer (scorer_fn)")

    def _listening() -> None:
        score_posts(as_backend(con), scorer_fn, max(cutoffs))
        _materialise(con, "f_listening", listening.query(cfg))

    def _graph() -> None:
        graph.prepare(con, cfg)
        _materialise(con, "g_exposure", graph.exposure_query(cfg))
        infl = [graph.influence(con, c, cfg.graph.damping, cfg.graph.seed) for c in cutoffs]
        _register_table(con, "g_influence", pd.concat(infl, ignore_index=True))
        _materialise(con, "f_graph", graph.assemble_query(cfg))

    def _btyd() -> None:
        rfm = con.execute(btyd.rfm_query()).df()
        out = btyd.btyd_outputs(rfm, cfg.horizon_days, cfg.btyd.refit_every_months)
        out["cutoff"] = out["cutoff"].astype("datetime64[us]")
        _register_table(con, "f_btyd", out)

    # group -> (its table, how to build it, its manifest entries); built in this order
    steps: dict[str, tuple[str, Callable[[], None], list[FeatureSpec]]] = {
        "crm": ("f_crm", lambda: _materialise(con, "f_crm", crm.query(cfg)), crm.specs(cfg)),
        "social_activity": (
            "f_social",
            lambda: _materialise(con, "f_social", social.query(cfg, platforms)),
            social.specs(cfg, platforms),
        ),
        "social_listening": ("f_listening", _listening, listening.specs(cfg)),
        "social_graph": ("f_graph", _graph, graph.specs(cfg)),
        "referral": (
            "f_referral",
            lambda: _materialise(con, "f_referral", referral.query(cfg)),
            referral.specs(cfg),
        ),
        "btyd": ("f_btyd", _btyd, btyd.specs(cfg)),
    }
    if with_labels:
        steps["labels"] = (
            "f_labels",
            lambda: _materialise(con, "f_labels", labels.query(cfg)),
            labels.specs(cfg),
        )
    manifest: list[FeatureSpec] = []
    parts: list[str] = []
    for name, (table, run, specs) in steps.items():
        if name != "labels" and name not in cfg.groups:
            continue
        stage(name)
        timer(name, run)
        manifest += specs
        parts.append(table)

    stage("assemble")
    frame = timer("assemble", lambda: _assemble(con, parts, manifest))
    split = assign_split(cutoffs, cfg.horizon_days, cfg.split.test_cutoffs, cfg.split.valid_cutoffs)
    frame.insert(2, "split", frame["cutoff"].map(split).astype("str"))
    _check_manifest(frame, manifest)
    return FeatureTable(frame=frame, manifest=manifest, cutoffs=cutoffs, timings=timer.timings)


def _check_churn_definition(con: duckdb.DuckDBPyConnection, cfg: FeatureConfig) -> None:
    if cfg.churn.definition == "inactivity":
        return
    closed = con.execute("SELECT count(closed_at) FROM customers").fetchone()[0]
    if closed == 0:
        raise ValueError(
            f"features.churn.definition={cfg.churn.definition} needs contract ends, but "
            "customers.closed_at is empty in this data set: use "
            "features.churn.definition=inactivity (no purchase in the horizon)"
        )


def _assemble(
    con: duckdb.DuckDBPyConnection, parts: list[str], manifest: list[FeatureSpec]
) -> pd.DataFrame:
    cols = ",\n    ".join(f"{s.name}" for s in manifest)
    joins = "\n".join(f"LEFT JOIN {t} USING (customer_id, cutoff)" for t in parts)
    sql = f"""
SELECT p.customer_id, p.cutoff,
    {cols}
FROM population p
{joins}
ORDER BY p.cutoff, p.customer_id
"""
    frame = con.execute(sql).df()
    for s in manifest:
        if s.dtype == "category":
            frame[s.name] = frame[s.name].astype("str")
        elif s.dtype == "bool":
            frame[s.name] = frame[s.name].astype(bool)
        else:
            frame[s.name] = frame[s.name].astype("float64")
    frame["cutoff"] = frame["cutoff"].astype("datetime64[us]")
    return frame

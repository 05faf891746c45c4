"""Build the feature table: cutoffs -> population -> feature groups -> labels -> split.

:func:`build_features` runs on a feature backend (DuckDB or Spark, see
:mod:`socialcrm.features.backends`) whose canonical tables are already
registered; it reads nothing from disk itself and returns the table, its
manifest and per-group timings. Each group is one SQL query, written once in
DuckDB's dialect, that reads every event table once (see
:mod:`socialcrm.features.sql`); the graph measures and the BTYD fit run on the
driver.

The population at a cutoff: customers who signed up before it, whose contract
was not closed before it, and who bought (or signed up) within
``population.active_within_days`` before it.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from socialcrm.features import btyd, crm, graph, labels, listening, referral, social
from socialcrm.features.config import FeatureConfig
from socialcrm.features.cutoffs import assign_split, explicit_cutoffs, rolling_cutoffs
from socialcrm.features.manifest import KEY_COLUMNS, FeatureSpec
from socialcrm.features.sql import event_stream, frame, windowed


@dataclass
class FeatureTable:
    """The result of a build.

    Attributes
    ----------
    frame
        One row per (customer, cutoff): keys, ``split``, features, labels; None when the
        build streamed the table, a cutoff at a time, to a ``sink`` (large data).
    manifest
        One :class:`FeatureSpec` per feature and label column, in column order.
    cutoffs
        The cutoffs built.
    timings
        Per stage: wall seconds and the process's peak resident memory (GB) so far.
    splits
        Per split: ``cutoffs``, ``rows``, ``churn_rate`` and ``mean_future_spend`` (NaN
        without labels), in the order train, gap, valid, test.
    n_customers
        Distinct customers in the table.
    """

    frame: pd.DataFrame | None
    manifest: list[FeatureSpec]
    cutoffs: list[pd.Timestamp]
    timings: dict[str, dict[str, float]] = field(default_factory=dict)
    splits: pd.DataFrame = field(default_factory=pd.DataFrame)
    n_customers: int = 0

    @property
    def n_rows(self) -> int:
        return int(self.splits["rows"].sum()) if len(self.splits) else 0

    @property
    def feature_names(self) -> list[str]:
        return [s.name for s in self.manifest if s.role == "feature"]

    @property
    def label_names(self) -> list[str]:
        return [s.name for s in self.manifest if s.role == "label"]


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, dict[str, float]] = {}

    def __call__(self, name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = fn()
        self.timings[name] = {
            "seconds": round(time.perf_counter() - t0, 3),
            "peak_rss_gb": round(_peak_rss_gb(), 3),
        }
        return out


def data_bounds(db) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last transaction time of the registered data set."""
    b = as_backend(db).fetch("SELECT min(timestamp) AS lo, max(timestamp) AS hi FROM transactions")
    lo, hi = b["lo"].iloc[0], b["hi"].iloc[0]
    if pd.isna(lo):
        raise ValueError("the transactions table is empty: no cutoffs can be built")
    return pd.Timestamp(lo), pd.Timestamp(hi)


def choose_cutoffs(db, cfg: FeatureConfig) -> list[pd.Timestamp]:
    """Explicit cutoffs from config, or rolling month starts that fit the data."""
    if cfg.cutoffs.dates:
        return explicit_cutoffs(list(cfg.cutoffs.dates))
    start, end = data_bounds(db)
    cutoffs = rolling_cutoffs(
        start,
        end,
        cfg.horizon_days,
        every_months=cfg.cutoffs.every_months,
        min_history_days=cfg.cutoffs.min_history_days,
        first=cfg.cutoffs.first,
        last=cfg.cutoffs.last,
    )
    if not cutoffs:
        raise ValueError(
            f"the data ({start:%Y-%m-%d} .. {end:%Y-%m-%d}) are too short for "
            f"{cfg.cutoffs.min_history_days} days of history plus a {cfg.horizon_days}-day "
            "horizon: lower features.cutoffs.min_history_days or features.horizon_days"
        )
    return cutoffs


def create_population(db, cutoffs: list[pd.Timestamp], active_within_days: int | None) -> int:
    """Create ``cutoffs`` and ``population`` tables; return the number of rows.

    ``active_within_days`` None means no activity condition (an open contract suffices).
    """
    db.register_frame(
        "cutoffs", pd.DataFrame({"cutoff": pd.Series(cutoffs, dtype="datetime64[us]")})
    )
    base = """SELECT c.customer_id, k.cutoff, c.signup_date
    FROM customers c
    JOIN cutoffs k ON c.signup_date < k.cutoff
    WHERE (c.closed_at IS NULL OR c.closed_at >= k.cutoff)"""
    if active_within_days is None:
        sql = f"SELECT customer_id, cutoff FROM ({base}) AS b"
    else:
        last_buy = windowed(
            ["customer_id"],
            event_stream(
                ["customer_id"],
                """SELECT customer_id, epoch_seconds(timestamp) AS k, timestamp AS ts
                FROM transactions WHERE NOT is_return""",
                f"SELECT customer_id, epoch_seconds(cutoff) AS k, cutoff FROM ({base}) AS b",
                [("ts", "TIMESTAMP")],
            ),
            ["max(ts) OVER w AS last_buy"],
            {"w": frame()},
        )
        sql = f"""SELECT b.customer_id, b.cutoff
    FROM ({base}) AS b
    JOIN ({last_buy}) AS lb ON lb.customer_id = b.customer_id AND lb.cutoff = b.cutoff
    WHERE greatest(coalesce(lb.last_buy, b.signup_date), b.signup_date)
        >= b.cutoff - INTERVAL {int(active_within_days)} DAY"""
    db.materialise("population_all", f"{sql}\nORDER BY cutoff, customer_id")
    # what the groups read: one shard of customers at a time on DuckDB (see Shards)
    db.execute(
        "CREATE OR REPLACE VIEW population AS "
        "SELECT * FROM population_all WHERE in_shard(customer_id)"
    )
    return int(db.fetch("SELECT count(*) AS n FROM population_all")["n"].iloc[0])


class Shards:
    """Build per-customer tables a shard of customers at a time (DuckDB; see
    :mod:`socialcrm.features.sql`): memory is bounded by one shard's streams.

    Parameters
    ----------
    db
        The backend; other engines than DuckDB always use one shard.
    n
        The number of shards.
    """

    def __init__(self, db, n: int) -> None:
        self.db = db
        self.n = n if getattr(db, "name", "") == "duckdb" else 1

    @classmethod
    def for_rows(cls, db, rows: int, rows_per_shard: int | None) -> Shards:
        """Enough shards for ``rows`` population rows at ``rows_per_shard`` each."""
        n = 1 if not rows_per_shard else max(1, -(-int(rows) // int(rows_per_shard)))
        return cls(db, n)

    def _each(self):
        try:
            for s in range(self.n):
                if self.n > 1:
                    self.db.execute(f"SET VARIABLE feature_shards = {self.n}")
                    self.db.execute(f"SET VARIABLE feature_shard = {s}")
                yield s
        finally:
            if self.n > 1:
                self.db.execute("RESET VARIABLE feature_shards")
                self.db.execute("RESET VARIABLE feature_shard")

    def materialise(self, name: str, sql: str) -> None:
        """``name`` as the union of ``sql`` over the shards."""
        for s in self._each():
            if s == 0:
                self.db.materialise(name, sql)
            else:
                self.db.execute(f"INSERT INTO {name} {sql}")

    def fetch(self, sql: str) -> pd.DataFrame:
        """The union of ``sql`` over the shards, as one frame (in shard order)."""
        return pd.concat([self.db.fetch(sql) for _ in self._each()], ignore_index=True)


def score_posts(
    db,
    scorer_fn: Callable[[list[str]], pd.DataFrame],
    before: pd.Timestamp,
) -> int:
    """Score the posts of consenting customers dated before ``before``; register ``post_scores``.

    ``scorer_fn`` maps texts to a frame with ``sentiment``, ``label`` and
    ``complaint`` (see :mod:`socialcrm.listening`). Only linked accounts' posts
    are read: posts of customers without consent are never scored.
    """
    posts = db.fetch(
        f"""
        SELECT po.post_id, po.text FROM posts po
        SEMI JOIN linked_accounts a ON a.account_id = po.account_id
        WHERE po.timestamp < {timestamp_literal(before)}
        ORDER BY po.post_id
        """
    )
    if len(posts):
        scores = scorer_fn(posts["text"].tolist())
        frame = pd.DataFrame(
            {
                "post_id": posts["post_id"].to_numpy(),
                # six decimals: summed exactly as decimals downstream (reproducible)
                "sentiment": np.round(scores["sentiment"].to_numpy(dtype=float), 6),
                "negative": (scores["label"] == "negative").to_numpy(),
                "complaint": (scores["complaint"].to_numpy(dtype=float) >= 0.5),
            }
        )
    else:
        frame = pd.DataFrame(
            {
                "post_id": pd.Series([], dtype="str"),
                "sentiment": pd.Series([], dtype=float),
                "negative": pd.Series([], dtype=bool),
                "complaint": pd.Series([], dtype=bool),
            }
        )
    db.register_frame("post_scores", frame)
    return len(frame)


def timestamp_literal(ts: pd.Timestamp) -> str:
    """A SQL timestamp literal (both engines)."""
    return f"TIMESTAMP '{pd.Timestamp(ts):%Y-%m-%d %H:%M:%S}'"


def as_backend(db):
    """A feature backend; a raw DuckDB connection is wrapped (its tables stay as they are)."""
    if isinstance(db, duckdb.DuckDBPyConnection):
        from socialcrm.features.backends.duckdb import DuckDBBackend

        return DuckDBBackend.wrap(db)
    return db


def build_features(
    db,
    cfg: FeatureConfig,
    platforms: list[str],
    scorer_fn: Callable[[list[str]], pd.DataFrame] | None = None,
    cutoffs: list[pd.Timestamp] | None = None,
    with_labels: bool = True,
    on_stage: Callable[[str], None] | None = None,
    sink: Callable[[pd.DataFrame], None] | None = None,
) -> FeatureTable:
    """Build features (and labels) for every customer in the population at each cutoff.

    Parameters
    ----------
    db
        Feature backend (:mod:`socialcrm.features.backends`) or DuckDB connection with
        the canonical tables registered.
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
    sink
        Called with the table a cutoff at a time (in row order) instead of returning it
        whole: the memory the table needs stays that of one cutoff (``frame`` is None).

    Returns
    -------
    FeatureTable
    """
    db = as_backend(db)
    timer = _Timer()
    stage = on_stage or (lambda name: None)
    cutoffs = sorted(cutoffs) if cutoffs is not None else choose_cutoffs(db, cfg)
    check_cutoffs(cutoffs)

    _check_churn_definition(db, cfg)
    stage("population")
    rows = timer("population", lambda: create_population(db, cutoffs, cfg.active_within_days))
    shards = Shards.for_rows(db, rows, cfg.duckdb.shard_rows)
    timer.timings["population"]["shards"] = shards.n

    if "social_listening" in cfg.groups and scorer_fn is None:
        raise ValueError("the social_listening group needs a post scorer (scorer_fn)")

    def _listening() -> None:
        score_posts(db, scorer_fn, max(cutoffs))
        shards.materialise("f_listening", listening.query(cfg))

    def _graph() -> None:
        # SQL on the backend, then sparse algebra and igraph on the driver, a cutoff at a time
        graph.prepare(db, cfg, materialise=shards.materialise)
        edges = graph.EdgeEvents.fetch(db)
        g = cfg.graph
        statuses = [graph.status_at(db, c) for c in cutoffs]
        frame = graph.features_all(edges, statuses, cutoffs, g.recent_churn_days, g.damping, g.seed)
        frame["cutoff"] = frame["cutoff"].astype("datetime64[us]")
        db.register_frame("g_features", frame)
        db.materialise("f_graph", graph.assemble_query(cfg))

    def _btyd() -> None:
        rfm = shards.fetch(btyd.rfm_query()).sort_values(["cutoff", "customer_id"])
        rfm = rfm.reset_index(drop=True)
        out = btyd.btyd_outputs(rfm, cfg.horizon_days, cfg.btyd.refit_every_months)
        out["cutoff"] = out["cutoff"].astype("datetime64[us]")
        db.register_frame("f_btyd", out)

    # group -> (its table, how to build it, its manifest entries); built in this order
    steps: dict[str, tuple[str, Callable[[], None], list[FeatureSpec]]] = {
        "crm": ("f_crm", lambda: shards.materialise("f_crm", crm.query(cfg)), crm.specs(cfg)),
        "social_activity": (
            "f_social",
            lambda: shards.materialise("f_social", social.query(cfg, platforms)),
            social.specs(cfg, platforms),
        ),
        "social_listening": ("f_listening", _listening, listening.specs(cfg)),
        "social_graph": ("f_graph", _graph, graph.specs(cfg)),
        "referral": (
            "f_referral",
            lambda: shards.materialise("f_referral", referral.query(cfg)),
            referral.specs(cfg),
        ),
        "btyd": ("f_btyd", _btyd, btyd.specs(cfg)),
    }
    if with_labels:
        steps["labels"] = (
            "f_labels",
            lambda: shards.materialise("f_labels", labels.query(cfg)),
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
    split = assign_split(cutoffs, cfg.horizon_days, cfg.split.test_cutoffs, cfg.split.valid_cutoffs)
    db.materialise("f_table", _assemble_sql(parts, manifest))
    stats = _SplitStats()

    def chunks():
        # a cutoff at a time: memory is bounded by one cutoff's rows, whatever the data size
        for c in cutoffs:
            chunk = _typed(
                db.fetch(
                    f"SELECT * FROM f_table WHERE cutoff = {timestamp_literal(c)}"
                    " ORDER BY customer_id"
                ),
                manifest,
            )
            chunk.insert(2, "split", chunk["cutoff"].map(split).astype("str"))
            _check_manifest(chunk, manifest)
            stats.add(chunk)
            yield chunk

    def assemble() -> pd.DataFrame | None:
        if sink is not None:
            for chunk in chunks():
                sink(chunk)
            return None
        return pd.concat(list(chunks()), ignore_index=True)

    frame = timer("assemble", assemble)
    n_customers = int(
        db.fetch("SELECT count(DISTINCT customer_id) AS n FROM population_all")["n"][0]
    )
    return FeatureTable(
        frame=frame,
        manifest=manifest,
        cutoffs=cutoffs,
        timings=timer.timings,
        splits=stats.table(),
        n_customers=n_customers,
    )


class _SplitStats:
    """Rows, cutoffs, churn rate and mean future spend per split, accumulated over chunks."""

    ORDER = ("train", "gap", "valid", "test")

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, chunk: pd.DataFrame) -> None:
        g = chunk.assign(
            churn=chunk["label_churn"].astype(float) if "label_churn" in chunk else np.nan,
            spend=chunk.get("label_future_spend", np.nan),
        ).groupby("split")
        self.parts.append(
            pd.DataFrame(
                {
                    "cutoffs": g["cutoff"].nunique(),
                    "rows": g.size(),
                    "churn": g["churn"].sum(min_count=1),
                    "spend": g["spend"].sum(min_count=1),
                }
            )
        )

    def table(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame(columns=["cutoffs", "rows", "churn_rate", "mean_future_spend"])
        t = pd.concat(self.parts).groupby(level=0).sum(min_count=1)
        known = [s for s in self.ORDER if s in t.index]
        t = t.reindex(known + sorted(set(t.index) - set(self.ORDER)))
        return pd.DataFrame(
            {
                "cutoffs": t["cutoffs"].astype(int),
                "rows": t["rows"].astype(int),
                "churn_rate": t["churn"] / t["rows"],
                "mean_future_spend": t["spend"] / t["rows"],
            }
        )


def check_cutoffs(cutoffs: list[pd.Timestamp]) -> None:
    """Cutoffs must be midnights: the daily purchase summary of the BTYD group relies on it."""
    odd = [c for c in cutoffs if pd.Timestamp(c) != pd.Timestamp(c).normalize()]
    if odd:
        raise ValueError(
            f"cutoffs must be dates (midnight), got {', '.join(str(c) for c in odd[:3])}: "
            "set features.cutoffs.dates to plain dates such as 2026-06-01"
        )


def _check_churn_definition(db, cfg: FeatureConfig) -> None:
    if cfg.churn.definition == "inactivity":
        return
    closed = int(db.fetch("SELECT count(closed_at) AS n FROM customers")["n"].iloc[0])
    if closed == 0:
        raise ValueError(
            f"features.churn.definition={cfg.churn.definition} needs contract ends, but "
            "customers.closed_at is empty in this data set: use "
            "features.churn.definition=inactivity (no purchase in the horizon)"
        )


def _assemble_sql(parts: list[str], manifest: list[FeatureSpec]) -> str:
    cols = ",\n    ".join(f"{s.name}" for s in manifest)
    joins = "\n".join(f"LEFT JOIN {t} USING (customer_id, cutoff)" for t in parts)
    return f"""
SELECT p.customer_id, p.cutoff,
    {cols}
FROM population_all p
{joins}
ORDER BY p.cutoff, p.customer_id
"""


def _typed(frame: pd.DataFrame, manifest: list[FeatureSpec]) -> pd.DataFrame:
    for s in manifest:
        if s.dtype == "category":
            frame[s.name] = frame[s.name].astype("str")
        elif s.dtype == "bool":
            frame[s.name] = frame[s.name].astype(bool)
        else:
            frame[s.name] = frame[s.name].astype("float64")
    frame["cutoff"] = frame["cutoff"].astype("datetime64[us]")
    return frame


def _check_manifest(frame: pd.DataFrame, manifest: list[FeatureSpec]) -> None:
    expected = [*KEY_COLUMNS, *(s.name for s in manifest)]
    if list(frame.columns) != expected:
        missing = sorted(set(expected) - set(frame.columns))
        extra = sorted(set(frame.columns) - set(expected))
        raise AssertionError(
            f"feature table and manifest disagree: missing {missing}, extra {extra}"
        )
    if len({s.name for s in manifest}) != len(manifest):
        raise AssertionError("duplicate feature names in the manifest")

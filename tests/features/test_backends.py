"""The feature backends: the same DuckDB-dialect SQL gives the same rows on DuckDB and
on Spark (transpiled by sqlglot with the project's rules), over small canonical
tables built by hand with the cases that tell engines apart: sub-second timestamps
on window and interval boundaries, NULLs, decimals, ties, consent.

Counts and integers must match exactly, floats to 1e-9 (relative), timestamps to the
microsecond. One Spark session serves the module; without Java the Spark tests are
skipped with the reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from socialcrm.data.schemas import PLATFORMS, TABLES
from socialcrm.features.backends import open_backend
from socialcrm.features.backends.dialect import (
    TESTED_CONSTRUCTS,
    UnsupportedSQL,
    duckdb_macros,
    to_duckdb,
    to_spark,
)
from socialcrm.features.backends.duckdb import DuckDBBackend
from socialcrm.features.engine import empty_table
from spark_session import spark_backend

CUTOFFS = [pd.Timestamp("2023-07-01"), pd.Timestamp("2023-10-01")]
DAY = pd.Timedelta(days=1)
SECOND = pd.Timedelta(seconds=1)
#: Primary keys to order every canonical table by.
KEYS = {name: list(spec.primary_key) or spec.column_names[:3] for name, spec in TABLES.items()}


# -- the tables ---------------------------------------------------------------------


def canonical(name: str, columns: dict) -> pd.DataFrame:
    """A canonical table from the given columns (the others missing), canonical dtypes."""
    empty = empty_table(name)
    n = len(next(iter(columns.values())))
    out = {}
    for col in empty.columns:
        values = columns.get(col, [None] * n)
        out[col] = pd.Series(list(values), dtype=object).astype(empty[col].dtype)
    return pd.DataFrame(out)


def micro(rng, n: int) -> pd.TimedeltaIndex:
    """Random offsets with microseconds."""
    return pd.to_timedelta(rng.integers(0, 10**6, n), unit="us")


def make_tables() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(20261129)
    ids = [f"c{i}" for i in range(6)]
    start = pd.Timestamp("2023-01-01")
    customers = canonical(
        "customers",
        {
            "customer_id": ids,
            "signup_date": [
                start - pd.Timedelta(days=int(d)) + o
                for d, o in zip(rng.integers(10, 900, 6), micro(rng, 6), strict=True)
            ],
            "region": ["north", None, "south", "north", "east", "south"],
            "plan": ["basic", "plus", None, "premium", "basic", "plus"],
            "consent_social": [True, False, True, True, False, True],
            "closed_at": [None, None, None, None, pd.Timestamp("2023-08-15 10:00:00.123456"), None],
        },
    )
    n = 80
    times = [
        start + pd.Timedelta(seconds=float(s)) + o
        for s, o in zip(rng.uniform(0, 330 * 86400, n), micro(rng, n), strict=True)
    ]
    who = list(rng.choice(ids, n))
    c0 = CUTOFFS[0]
    # boundaries of the 30-day window before and the 90-day window after the first cutoff
    edges = [
        c0 - 30 * DAY,
        c0 - 30 * DAY + 0.5 * SECOND,
        c0 - 30 * DAY + 1.5 * SECOND,
        c0 - 0.25 * SECOND,
        c0,
        c0 + 90 * DAY - 0.5 * SECOND,
        c0 + 90 * DAY,
    ]
    times += edges
    who += ["c0"] * len(edges)
    m = len(times)
    amounts = np.round(rng.lognormal(3.5, 1.0, m), 2)
    amounts[:3] = [1234567.89, 0.01, 0.1]
    transactions = canonical(
        "transactions",
        {
            "transaction_id": [f"t{i:03d}" for i in range(m)],
            "customer_id": who,
            "timestamp": times,
            "amount": amounts,
            "is_return": rng.random(m) < 0.15,
            "category": rng.choice(np.array(["books", "games", "music", None], dtype=object), m),
            "channel": rng.choice(["web", "app", "store"], m),
            "quantity": [None if q == 0 else int(q) for q in rng.integers(0, 4, m)],
        },
    )
    accounts = [f"a{i}" for i in range(8)]
    social_accounts = canonical(
        "social_accounts",
        {
            "account_id": accounts,
            "platform": [PLATFORMS[i % len(PLATFORMS)] for i in range(8)],
            "customer_id": ["c0", "c1", "c2", None, "c3", "c4", None, "c5"],
            "handle_hash": [f"h{i}" for i in range(8)],
            "followers": rng.integers(0, 5000, 8),
            "created_at": [start - pd.Timedelta(days=int(d)) for d in rng.integers(1, 500, 8)],
            "follows_brand": rng.random(8) < 0.5,
        },
    )
    pairs = sorted({tuple(rng.choice(accounts, 2, replace=False)) for _ in range(20)})
    social_edges = canonical(
        "social_edges",
        {
            "src_account_id": [p[0] for p in pairs],
            "dst_account_id": [p[1] for p in pairs],
            "edge_type": rng.choice(["follow", "mention", "reply"], len(pairs)),
            "timestamp": [
                start + pd.Timedelta(hours=int(h)) for h in rng.integers(0, 8000, len(pairs))
            ],
        },
    )
    posts = canonical(
        "posts",
        {
            "post_id": [f"p{i:02d}" for i in range(16)],
            "account_id": rng.choice(accounts, 16),
            "platform": rng.choice(list(PLATFORMS), 16),
            "timestamp": [
                start + pd.Timedelta(minutes=int(x)) for x in rng.integers(0, 400000, 16)
            ],
            "text": [f"post {i} about the brand" for i in range(16)],
            "likes": rng.integers(0, 100, 16),
            "shares": rng.integers(0, 10, 16),
            "mentions_brand": rng.random(16) < 0.5,
        },
    )
    # support_tickets, offers, offer_log and referrals stay absent (empty views)
    return {
        "customers": customers,
        "transactions": transactions,
        "social_accounts": social_accounts,
        "social_edges": social_edges,
        "posts": posts,
    }


def cutoff_frame() -> pd.DataFrame:
    return pd.DataFrame({"cutoff": pd.Series(CUTOFFS, dtype="datetime64[us]")})


def register(backend, tables) -> list[str]:
    present = backend.register_frames(tables)
    backend.register_frame("cutoffs", cutoff_frame())
    return present


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return make_tables()


@pytest.fixture(scope="module")
def duck(tables):
    backend = DuckDBBackend(threads=2, memory_limit="1GB")
    register(backend, tables)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def spark(tables):
    for backend in spark_backend():
        register(backend, tables)
        yield backend


# -- comparing ----------------------------------------------------------------------


def assert_same(a: pd.DataFrame, b: pd.DataFrame, rtol: float = 1e-9) -> None:
    """Same columns and rows: integers and counts exactly, floats to ``rtol``
    (both float), timestamps to the microsecond, everything else equal."""
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b), (len(a), len(b))
    for col in a.columns:
        x, y = a[col].reset_index(drop=True), b[col].reset_index(drop=True)
        if pd.api.types.is_datetime64_any_dtype(x) or pd.api.types.is_datetime64_any_dtype(y):
            assert x.dtype == y.dtype == "datetime64[us]", (col, x.dtype, y.dtype)
            assert x.isna().equals(y.isna()), col
            assert (x[x.notna()] == y[y.notna()]).all(), col
        elif (
            pd.api.types.is_numeric_dtype(x)
            and pd.api.types.is_numeric_dtype(y)
            and not pd.api.types.is_bool_dtype(x)
            and not pd.api.types.is_bool_dtype(y)
        ):
            floats = pd.api.types.is_float_dtype(x) and pd.api.types.is_float_dtype(y)
            np.testing.assert_allclose(
                x.astype("float64").to_numpy(),
                y.astype("float64").to_numpy(),
                rtol=rtol if floats else 0,
                atol=0,
                equal_nan=True,
                err_msg=col,
            )
        else:
            plain = [None if pd.isna(v) else v for v in x.astype(object)]
            other = [None if pd.isna(v) else v for v in y.astype(object)]
            assert plain == other, col


def both(duck, spark, sql: str) -> pd.DataFrame:
    """The query on both engines (and with the macros expanded on DuckDB): DuckDB's rows."""
    expected = duck.fetch(sql)
    assert len(expected), "a test query should return rows"
    pd.testing.assert_frame_equal(duck.fetch(to_duckdb(sql)), expected)
    assert_same(expected, spark.fetch(sql))
    return expected


# -- the queries --------------------------------------------------------------------

W30 = "RANGE BETWEEN 2591999 PRECEDING AND 1 PRECEDING"
BY_K = "PARTITION BY customer_id ORDER BY epoch_seconds(ts)"

WINDOWS = f"""
WITH stream AS (
    SELECT t.customer_id, t.timestamp AS ts, CAST(t.amount AS DECIMAL(18, 2)) AS amount,
           t.is_return, t.category, NULL AS cutoff
    FROM transactions t
    UNION ALL
    SELECT c.customer_id, k.cutoff AS ts, NULL AS amount, NULL AS is_return,
           NULL AS category, k.cutoff
    FROM customers c CROSS JOIN cutoffs k
),
keyed AS (SELECT *, epoch_seconds(ts) AS k FROM stream),
windows AS (
    SELECT customer_id, cutoff,
        sum(CASE WHEN cutoff IS NULL AND NOT is_return THEN amount END)
            OVER (PARTITION BY customer_id ORDER BY k {W30}) AS spend_30d,
        count(CASE WHEN cutoff IS NULL THEN 1 END) OVER ({BY_K} {W30}) AS n_30d,
        min(CASE WHEN cutoff IS NULL THEN amount END) OVER ({BY_K} {W30}) AS min_30d,
        max(CASE WHEN cutoff IS NULL THEN amount::DOUBLE END) OVER ({BY_K} {W30}) AS max_30d,
        avg(CASE WHEN cutoff IS NULL THEN amount END) OVER ({BY_K} {W30}) AS avg_30d,
        count(CASE WHEN cutoff IS NULL THEN 1 END) OVER (
            {BY_K} RANGE BETWEEN UNBOUNDED PRECEDING AND 2592000 PRECEDING) AS n_older_30d,
        sum(CASE WHEN cutoff IS NULL THEN amount ELSE 0 END) OVER (
            {BY_K} RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS spend_before,
        max(CASE WHEN cutoff IS NULL THEN k END) OVER (
            {BY_K} RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS last_k,
        count(CASE WHEN cutoff IS NULL THEN 1 END) OVER (
            {BY_K} RANGE BETWEEN CURRENT ROW AND 7775999 FOLLOWING) AS n_ahead_90d
    FROM keyed
)
SELECT customer_id, cutoff, spend_30d, n_30d, min_30d, max_30d, avg_30d, n_older_30d,
       spend_before, (epoch_seconds(cutoff) - last_k) / 86400.0 AS days_since_last,
       n_ahead_90d
FROM windows WHERE cutoff IS NOT NULL
ORDER BY customer_id, cutoff
"""

GROUPED = """
WITH events AS (
    SELECT k.cutoff, t.customer_id, CAST(t.amount AS DECIMAL(18, 2)) AS amount, t.is_return,
           t.category, t.channel, t.quantity, days_between(t.timestamp, k.cutoff) AS age
    FROM transactions t JOIN cutoffs k
      ON t.timestamp < k.cutoff AND t.timestamp >= k.cutoff - INTERVAL 365 DAY
)
SELECT customer_id, cutoff,
    count(*) AS n,
    count(*) FILTER (WHERE age < 30) AS n_30d,
    coalesce(sum(amount) FILTER (WHERE NOT is_return AND age < 90), 0) AS spend_90d,
    sum(amount) AS net,
    min(age) FILTER (WHERE NOT is_return) AS recency_days,
    count(DISTINCT category) AS n_categories,
    count(DISTINCT channel) FILTER (WHERE age < 180) AS n_channels_180d,
    avg(amount) AS avg_amount,
    avg(quantity) AS avg_quantity,
    sum(quantity) AS units,
    count(*) FILTER (WHERE is_return)
        / nullif(count(*) FILTER (WHERE NOT is_return), 0)::DOUBLE AS return_rate,
    count(*) FILTER (WHERE is_return) / count(*) AS return_share,
    sum(amount) / count(*) AS mean_amount,
    greatest(max(age), 30.0) AS g,
    least(min(age), 30.0) AS l,
    ln(1 + count(*)::DOUBLE) AS ln_n,
    log(10 * count(*)) AS log10_n,
    arg_min(amount, age) AS last_amount,
    CASE WHEN sum(amount) > 300 THEN 'high' WHEN sum(amount) > 0 THEN 'mid' ELSE 'low' END
        AS band,
    'account:' || customer_id AS label
FROM events
GROUP BY customer_id, cutoff
ORDER BY customer_id, cutoff
"""

LABELS = """
WITH labels AS (
    SELECT c.customer_id, k.cutoff,
        count(t.transaction_id) AS n_next_90d,
        coalesce(sum(CAST(t.amount AS DECIMAL(18, 2))), 0) AS revenue_next_90d
    FROM customers c CROSS JOIN cutoffs k
    LEFT JOIN transactions t
      ON t.customer_id = c.customer_id AND t.timestamp >= k.cutoff
     AND t.timestamp < k.cutoff + INTERVAL 90 DAY
    GROUP BY ALL
),
closed AS (
    SELECT customer_id, k.cutoff, (closed_at < k.cutoff + INTERVAL 90 DAY)::BIGINT AS closes
    FROM customers CROSS JOIN cutoffs k WHERE closed_at IS NOT NULL
)
SELECT * FROM labels LEFT JOIN closed USING (customer_id, cutoff)
ORDER BY customer_id, cutoff
"""

ENTROPY = """
WITH cat AS (
    SELECT customer_id, category, sum(CAST(amount AS DECIMAL(18, 2))) AS spend
    FROM transactions WHERE category IS NOT NULL AND NOT is_return
    GROUP BY ALL
)
SELECT customer_id,
    -ordered_sum((spend / total)::DOUBLE * ln((spend / total)::DOUBLE)) AS entropy,
    ordered_sum(spend::DOUBLE / 7) AS sum_7,
    ordered_sum(CASE WHEN spend < 0 THEN spend::DOUBLE END) AS no_values,
    max(spend / total) AS top_share
FROM (SELECT *, sum(spend) OVER (PARTITION BY customer_id) AS total FROM cat)
GROUP BY customer_id
ORDER BY customer_id
"""

DATES = """
SELECT t.transaction_id,
    date_diff('second', c.signup_date, t.timestamp) AS d_second,
    date_diff('minute', c.signup_date, t.timestamp) AS d_minute,
    date_diff('hour', c.signup_date, t.timestamp) AS d_hour,
    date_diff('day', c.signup_date, t.timestamp) AS d_day,
    date_diff('month', c.signup_date, t.timestamp) AS d_month,
    date_diff('year', c.signup_date, t.timestamp) AS d_year,
    days_between(c.signup_date, t.timestamp) * 24.0 AS hours,
    epoch_seconds(t.timestamp) AS k,
    date_trunc('day', t.timestamp) AS day,
    t.timestamp - INTERVAL 30 DAY AS month_before,
    CAST(floor(CAST(t.amount AS DECIMAL(18, 4)) * 3600) AS BIGINT) AS amount_s,
    abs(t.amount - 100) AS distance,
    t.quantity::BIGINT AS q
FROM transactions t JOIN customers c USING (customer_id)
ORDER BY t.transaction_id
"""

RANKED = """
SELECT t.transaction_id,
    row_number() OVER (ORDER BY t.timestamp, t.transaction_id) AS rn,
    'account:' || t.customer_id AS who,
    'n:' || t.quantity AS q
FROM transactions t SEMI JOIN linked_accounts a ON a.customer_id = t.customer_id
ORDER BY rn
"""

CONSENT = """
SELECT 'linked' AS view, account_id AS id FROM linked_accounts
UNION ALL SELECT 'visible', account_id FROM visible_accounts
UNION ALL SELECT 'edge', src_account_id || '>' || dst_account_id FROM visible_edges
UNION ALL SELECT 'post', post_id FROM visible_posts
ORDER BY 1, 2
"""


# -- DuckDB and the dialect (no Spark needed) ----------------------------------------


def test_macros_are_read_from_the_duckdb_definitions():
    assert {"days_between", "ordered_sum", "epoch_seconds"} <= set(duckdb_macros())
    assert len(TESTED_CONSTRUCTS) >= 15


def test_spark_text_of_the_traps():
    sql = to_spark(
        "SELECT log(x) AS a, avg(d) AS b, d / 2 AS c, x // 2 AS e FROM t SEMI JOIN u ON u.k = t.k"
    )
    assert "LOG(10, x)" in sql
    assert "AVG(CAST(d AS DOUBLE))" in sql
    assert "CAST(d AS DOUBLE) / CAST(2 AS DOUBLE)" in sql
    assert "x DIV 2" in sql and "SEMI JOIN u" in sql
    assert "CREATE OR REPLACE TEMPORARY VIEW v" in to_spark("CREATE OR REPLACE VIEW v AS SELECT 1")
    # boundaries, not elapsed time: no DATEDIFF(SECOND, ...) left
    assert "DATEDIFF" not in to_spark("SELECT days_between(a, b) * 24 FROM t").upper()
    with pytest.raises(UnsupportedSQL, match="week"):
        to_spark("SELECT date_diff('week', a, b) FROM t")


def test_duckdb_backend_defines_epoch_seconds_when_the_macros_lack_it(monkeypatch, tmp_path):
    import socialcrm.features.backends.duckdb as module

    monkeypatch.setattr(module, "install_macros", lambda con: None)
    backend = DuckDBBackend(
        threads=1, memory_limit="1GB", temp_dir=tmp_path, max_temp_directory_size="3GB"
    )
    try:
        out = backend.fetch(
            "SELECT epoch_seconds(TIMESTAMP '1970-01-02 00:00:00.5') AS s,"
            " epoch_seconds(TIMESTAMP '1969-12-31 23:59:59.5') AS neg,"
            " current_setting('max_temp_directory_size') AS cap"
        )
        assert out.s.tolist() == [86400] and out.neg.tolist() == [-1]  # floored
        assert out.cap[0].replace(" ", "").upper().startswith(("3GB", "2.7GIB", "2.79"))
    finally:
        backend.close()


def test_open_backend_refuses_an_unknown_engine():
    with pytest.raises(ValueError, match="duckdb"):
        open_backend("polars")


def test_java_check_gives_the_reason(monkeypatch, tmp_path):
    from socialcrm.features.backends.spark import java_available

    ok, reason = java_available()
    assert isinstance(ok, bool) and reason
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))  # no bin/java there
    ok, reason = java_available.__wrapped__()
    assert not ok
    assert "Java runtime" in reason or "pyspark" in reason


# -- both engines -------------------------------------------------------------------


def test_window_aggregates_over_epoch_seconds_ranges(duck, spark):
    rows = both(duck, spark, WINDOWS)
    grouped = duck.fetch(GROUPED)
    labels = duck.fetch(LABELS)
    # the RANGE frames count what the join with `age < 30` and the 90-day label count
    assert rows.n_30d.tolist() == grouped.n_30d.tolist()
    assert rows.n_ahead_90d.tolist() == labels.n_next_90d.tolist()
    first = rows[(rows.customer_id == "c0") & (rows.cutoff == CUTOFFS[0])].iloc[0]
    assert first.n_30d >= 2 and first.n_ahead_90d >= 2  # the boundary rows are in the data


def test_grouped_aggregates_filters_and_scalar_functions(duck, spark):
    rows = both(duck, spark, GROUPED)
    assert rows.label.str.startswith("account:").all()
    # DuckDB's log is base 10 (Spark's LOG(x) would be natural)
    np.testing.assert_allclose(rows.log10_n, np.log10(10.0 * rows.n), rtol=1e-12)


def test_interval_labels_and_using_joins(duck, spark):
    rows = both(duck, spark, LABELS)
    assert rows.closes.notna().sum() == 2  # c4 closes, at both cutoffs


def test_ordered_sum_and_decimal_division(duck, spark):
    rows = both(duck, spark, ENTROPY)
    spark_rows = spark.fetch(ENTROPY)
    # the same additions in the same order: the same bits
    assert rows.sum_7.tolist() == spark_rows.sum_7.tolist()
    assert rows.no_values.isna().all() and spark_rows.no_values.isna().all()


def test_date_arithmetic_counts_boundaries_like_duckdb(duck, spark):
    rows = both(duck, spark, DATES)
    assert (rows.day == rows.day.dt.floor("D")).all()


def test_semi_join_row_number_and_concatenation(duck, spark):
    rows = both(duck, spark, RANKED)
    assert rows.rn.tolist() == list(range(1, len(rows) + 1))


def test_consent_views_hide_customers_without_consent(duck, spark, tables):
    rows = both(duck, spark, CONSENT)
    accounts = tables["social_accounts"]
    consenting = set(tables["customers"].query("consent_social").customer_id)
    hidden = set(
        accounts[accounts.customer_id.notna() & ~accounts.customer_id.isin(consenting)].account_id
    )
    visible = set(rows[rows.view == "visible"].id)
    assert visible == set(accounts.account_id) - hidden
    edges = rows[rows.view == "edge"].id.str.split(">")
    assert all(not (set(e) & hidden) for e in edges)


def test_materialise_computes_once_and_execute_runs_statements(duck, spark):
    for backend in (duck, spark):
        backend.materialise("draws", "SELECT customer_id, random() AS r FROM customers")
        first = backend.fetch("SELECT * FROM draws ORDER BY customer_id")
        again = backend.fetch("SELECT * FROM draws ORDER BY customer_id")
        pd.testing.assert_frame_equal(first, again)
        backend.materialise("draws", "SELECT customer_id, r * 2 AS r FROM draws")
        doubled = backend.fetch("SELECT * FROM draws ORDER BY customer_id")
        np.testing.assert_array_equal(doubled.r, first.r * 2)
        backend.execute(
            "CREATE OR REPLACE TEMP TABLE big AS SELECT * FROM transactions WHERE amount > 50;"
            "CREATE OR REPLACE VIEW big_count AS SELECT count(*) AS n FROM big"
        )
    # stored rows: the plan reads the checkpoint, not transactions
    plan = spark.spark.table("big")._jdf.queryExecution().optimizedPlan().toString()
    assert "transactions" not in plan.lower() and "LogicalRDD" in plan
    assert_same(duck.fetch("SELECT * FROM big_count"), spark.fetch("SELECT * FROM big_count"))


def test_register_folder_reads_parquet_as_duckdb_does(tmp_path, tables, duck, spark):
    for name, frame in tables.items():
        frame.to_parquet(tmp_path / f"{name}.parquet", index=False)
    folder_duck = DuckDBBackend(threads=1, memory_limit="1GB")
    try:
        present = folder_duck.register_folder(tmp_path)
        assert spark.register_folder(tmp_path) == present == list(tables)
        for name in TABLES:
            sql = f"SELECT * FROM {name} ORDER BY {', '.join(KEYS[name])}"
            expected = folder_duck.fetch(sql)
            pd.testing.assert_frame_equal(spark.fetch(sql), expected)
            if name in tables:  # timestamps exactly as written
                original = tables[name].sort_values(KEYS[name]).reset_index(drop=True)
                for col in TABLES[name].timestamp_columns:
                    assert expected[col].equals(original[col]), (name, col)
        folder_duck.register_frame("cutoffs", cutoff_frame())
        assert_same(folder_duck.fetch(CONSENT), spark.fetch(CONSENT))
        assert_same(folder_duck.fetch(WINDOWS), spark.fetch(WINDOWS))
    finally:
        folder_duck.close()
    with pytest.raises(FileNotFoundError, match=r"customers\.parquet"):
        spark.register_folder(tmp_path / "nothing")


# -- the whole feature table on both engines (issue 16's golden test) --------------------


def test_feature_table_on_spark_equals_duckdb(duck, spark, tables, small_tables):
    """Every group's SQL, transpiled, gives on Spark the table DuckDB gives (counts exact,
    floats to 1e-9), on the small preset; the BTYD group's SQL input (the RFM summary) is
    compared too, its fit being the same driver-side code on both."""
    from socialcrm.config import compose
    from socialcrm.features import btyd
    from socialcrm.features.build import build_features
    from socialcrm.features.config import feature_config

    from .conftest import SCORER
    from .golden import assert_same_table

    cfg = compose(
        [
            "data=synthetic_small",
            "features.groups=[crm,social_activity,social_listening,social_graph,referral]",
            # Spark's cost here is per query, and the graph and the table are read a
            # cutoff at a time: a quarterly grid keeps the test short
            "features.cutoffs.every_months=3",
        ]
    )
    fcfg = feature_config(cfg.features)
    frames, rfm = {}, {}
    try:
        for name, backend in (("duckdb", duck), ("spark", spark)):
            backend.register_frames(small_tables)
            ft = build_features(backend, fcfg, list(cfg.data.platforms), SCORER)
            frames[name] = ft.frame
            rfm[name] = backend.fetch(btyd.rfm_query())
    finally:  # the other tests of this module read the micro tables
        register(duck, tables)
        register(spark, tables)
    assert len(frames["spark"]) > 5_000
    assert_same_table(frames["duckdb"], frames["spark"])
    assert_same_table(rfm["duckdb"], rfm["spark"])

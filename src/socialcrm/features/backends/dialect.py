"""DuckDB-dialect feature SQL as Spark SQL: sqlglot plus the project's own rules.

The feature SQL is written once, in DuckDB's dialect, with the engine-specific
pieces as macros (:data:`socialcrm.features.sql.DUCKDB_MACROS`). :func:`to_spark`
parses it with sqlglot (``read="duckdb"``), rewrites the expression tree and writes
Spark SQL (``write="spark"``). The rewrites, all on the tree (no text
substitution):

- **macros** are expanded from their DuckDB definitions (parsed from
  ``DUCKDB_MACROS``: one source of truth), except where DuckDB's body has no Spark
  equivalent and a Spark form is given here (:data:`SPARK_MACROS`):
  ``epoch_seconds(ts)`` is ``unix_seconds(CAST(ts AS TIMESTAMP_LTZ))`` (the session
  time zone is UTC, so a naive timestamp is read as UTC) and ``ordered_sum(x)``
  (``list_sum(list(x ORDER BY x))``) is a left fold over the sorted values,
  ``aggregate(array_sort(collect_list(x)), NULL, (acc, v) -> coalesce(acc, 0D) + v)``:
  the same additions in the same order, NULL for no values, as in DuckDB;
- ``date_diff(unit, a, b)`` counts unit *boundaries* between ``a`` and ``b`` in
  DuckDB; sqlglot writes Spark's ``DATEDIFF(unit, a, b)``, which counts whole
  *elapsed* units (00:00:00.9 to 00:00:01.1 is 1 second in DuckDB and 0 in Spark).
  Written here from floored epoch seconds (second, minute, hour, day) or calendar
  fields (month, quarter, year); other units raise :class:`UnsupportedSQL`;
- ``a / b`` is a DOUBLE division in DuckDB for every numeric type (DECIMAL and
  INTEGER included); in Spark a DECIMAL division is DECIMAL, rounded to a scale of
  6 to 10 digits. Written as ``CAST(a AS DOUBLE) / CAST(b AS DOUBLE)``, DuckDB's
  own arithmetic (``days_between``'s ``/ 86400.0`` divides by a DECIMAL literal);
- ``avg(x)`` is DOUBLE in DuckDB for a DECIMAL ``x``, a rounded DECIMAL in Spark:
  written as ``avg(CAST(x AS DOUBLE))``;
- ``log(x)`` is the base-10 logarithm in DuckDB and the natural one in Spark
  (sqlglot 30.30 keeps ``LOG(x)``): written as ``LOG(10, x)``;
- ``CREATE [OR REPLACE] VIEW`` becomes a TEMPORARY view: Spark's permanent views
  cannot read temporary ones (every registered table is one).

What sqlglot already does right, and the tests check on both engines
(:data:`TESTED_CONSTRUCTS`): ``ORDER BY`` gets DuckDB's ``NULLS LAST``, ``::T``
becomes ``CAST``, ``TIMESTAMP`` is ``TIMESTAMP_NTZ``, ``INTERVAL 30 DAY`` is
``INTERVAL '30' DAY``, ``SEMI JOIN`` stays (Spark reads ``[LEFT] SEMI JOIN``),
``arg_min`` is ``MIN_BY``, ``FILTER (WHERE ...)`` stays.

Known differences that no rewrite hides: division by zero (DuckDB: ``inf`` or
NULL; Spark in ANSI mode: an error: guard with ``nullif``), ``ln(0)`` (DuckDB: an
error; Spark: NULL), and ``round`` and ``CAST(double AS DECIMAL)`` on a double
that is not exactly its decimal (DuckDB rounds the scaled double, Spark the exact
binary value half up).
"""

from __future__ import annotations

import functools

import sqlglot
from sqlglot import exp

from socialcrm.features import sql as feature_sql

#: The ``epoch_seconds`` macro, for a ``DUCKDB_MACROS`` that does not define it yet.
EPOCH_SECONDS_MACRO = (
    "CREATE OR REPLACE MACRO epoch_seconds(ts) AS date_diff('second', TIMESTAMP '1970-01-01', ts);"
)

#: Macros whose DuckDB body does not transpile: their Spark form, ``{0}``, ``{1}``...
#: standing for the (parenthesised) arguments.
SPARK_MACROS: dict[str, str] = {
    "epoch_seconds": "unix_seconds(CAST({0} AS TIMESTAMP_LTZ))",
    # Spark partitions the work itself: no customer shards (see socialcrm.features.sql)
    "in_shard": "TRUE",
    "ordered_sum": (
        "aggregate(array_sort(collect_list({0})), CAST(NULL AS DOUBLE),"
        " (acc__, v__) -> coalesce(acc__, CAST(0 AS DOUBLE)) + v__)"
    ),
}

#: What the tests run on both engines and compare (tests/features/test_backends.py).
TESTED_CONSTRUCTS: tuple[str, ...] = (
    "sum/count/min/max/avg(CASE WHEN ... END) OVER (PARTITION BY k ORDER BY epoch_seconds(ts)"
    " RANGE BETWEEN n PRECEDING AND 1 PRECEDING)",
    "RANGE BETWEEN UNBOUNDED PRECEDING AND n PRECEDING",
    "RANGE BETWEEN CURRENT ROW AND n FOLLOWING",
    "UNION ALL of event rows and query rows with NULL-typed columns",
    "sum(CAST(x AS DECIMAL(18, 2))), CAST(floor(CAST(x AS DECIMAL(18, 4)) * n) AS BIGINT)",
    "x::DOUBLE, x::BIGINT",
    "coalesce, nullif, greatest, least, ln, log (base 10), abs",
    "CASE WHEN ... THEN ... ELSE ... END",
    "count(DISTINCT x) in a GROUP BY",
    "agg(...) FILTER (WHERE ...) in a GROUP BY, count(DISTINCT x) FILTER (WHERE ...)",
    "ts - INTERVAL 30 DAY, ts + INTERVAL 90 DAY in comparisons",
    "SEMI JOIN (the consent views), LEFT JOIN ... USING (a, b)",
    "row_number() OVER (ORDER BY ...)",
    "'account:' || x",
    "days_between(a, b), epoch_seconds(ts), ordered_sum(x)",
    "date_diff('second' | 'minute' | 'hour' | 'day' | 'month' | 'year', a, b)",
    "date_trunc('day', ts), arg_min(x, y)",
    "decimal / decimal, integer / integer, avg(decimal)",
    "FROM (subquery) without an alias, GROUP BY ALL",
    "CREATE OR REPLACE VIEW (temporary in Spark)",
)


class UnsupportedSQL(ValueError):
    """A construct of the DuckDB SQL that has no faithful Spark translation here."""


# -- macros ---------------------------------------------------------------------------


@functools.cache
def duckdb_macros() -> dict[str, tuple[tuple[str, ...], exp.Expression]]:
    """``name -> (parameters, body)`` of the DuckDB macros (``epoch_seconds`` included)."""
    text = feature_sql.DUCKDB_MACROS
    out: dict[str, tuple[tuple[str, ...], exp.Expression]] = {}
    for stmt in sqlglot.parse(text + "\n" + EPOCH_SECONDS_MACRO, read="duckdb"):
        if not isinstance(stmt, exp.Create) or str(stmt.kind).upper() != "MACRO":
            continue
        fn = stmt.this  # UserDefinedFunction(this=Table(name), expressions=[parameters])
        name = (fn.this.name if isinstance(fn.this, exp.Expression) else str(fn.this)).lower()
        if name in out:  # DUCKDB_MACROS first: EPOCH_SECONDS_MACRO is only a fallback
            continue
        params = tuple(p.name.lower() for p in fn.expressions)
        out[name] = (params, stmt.expression)
    return out


def _atomic(node: exp.Expression) -> bool:
    return isinstance(
        node, exp.Column | exp.Literal | exp.Func | exp.Paren | exp.Null | exp.Boolean
    )


def _wrap(node: exp.Expression) -> exp.Expression:
    return node if _atomic(node) else exp.paren(node, copy=False)


def _macro_call(node: exp.Expression) -> tuple[str, list[exp.Expression]] | None:
    if isinstance(node, exp.Anonymous):
        name = str(node.this).lower()
        if name in duckdb_macros() or name in SPARK_MACROS:
            return name, list(node.expressions)
    return None


def _expand_macro(name: str, args: list[exp.Expression], spark: bool) -> exp.Expression:
    if spark and name in SPARK_MACROS:
        text = SPARK_MACROS[name].format(*(f"__arg{i}__" for i in range(len(args))))
        body = sqlglot.parse_one(text, read="spark")
        slots = {f"__arg{i}__": a for i, a in enumerate(args)}
    else:
        params, template = duckdb_macros()[name]
        if len(params) != len(args):
            raise UnsupportedSQL(f"{name}() takes {len(params)} arguments, got {len(args)}")
        body = template.copy()
        slots = dict(zip(params, args, strict=True))

    def fill(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name.lower() in slots:
            return _wrap(slots[node.name.lower()].copy())
        return node

    return _wrap(body.transform(fill, copy=False))


def expand_macros(tree: exp.Expression, spark: bool = False) -> exp.Expression:
    """The tree with every project macro call replaced by its definition (nested calls too).

    ``spark=False`` expands the DuckDB definitions (a DuckDB query that runs without the
    macros installed: the tests check it gives what the macros give).
    """
    for _ in range(10):  # macros calling macros: expand until none is left
        found = False

        def repl(node: exp.Expression) -> exp.Expression:
            nonlocal found
            call = _macro_call(node)
            if call is None:
                return node
            found = True
            return _expand_macro(*call, spark=spark)

        tree = tree.transform(repl, copy=False)
        if not found:
            return tree
    raise UnsupportedSQL("macros nested more than 10 deep (a macro calling itself?)")


# -- Spark rewrites -------------------------------------------------------------------

_EPOCH = SPARK_MACROS["epoch_seconds"]
_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
_MONTHS = {"MONTH": 1, "QUARTER": 3, "YEAR": 12}


def _epoch(node: exp.Expression) -> exp.Expression:
    return exp.paren(sqlglot.parse_one(_EPOCH.format("__t__"), read="spark"), copy=False).transform(
        lambda n: _wrap(node.copy()) if isinstance(n, exp.Column) and n.name == "__t__" else n,
        copy=False,
    )


def _units_since_epoch(node: exp.Expression, unit: str) -> exp.Expression:
    """Whole ``unit``s since 1970 (floored): boundaries crossed, as DuckDB counts them."""
    if unit in _SECONDS:
        step = _SECONDS[unit]
        seconds = _epoch(node)
        if step == 1:
            return seconds
        # (s - pmod(s, step)) DIV step: a floor, also before 1970 (DIV truncates)
        floored = exp.Sub(
            this=seconds,
            expression=exp.Anonymous(
                this="pmod", expressions=[seconds.copy(), exp.Literal.number(step)]
            ),
        )
        return exp.paren(exp.IntDiv(this=exp.paren(floored), expression=exp.Literal.number(step)))
    months = exp.Add(
        this=exp.Mul(this=exp.Year(this=_wrap(node.copy())), expression=exp.Literal.number(12)),
        expression=exp.Sub(
            this=exp.Month(this=_wrap(node.copy())), expression=exp.Literal.number(1)
        ),
    )
    step = _MONTHS[unit]
    if step == 1:
        return exp.paren(months)
    return exp.paren(exp.IntDiv(this=exp.paren(months), expression=exp.Literal.number(step)))


def _date_diff(node: exp.DateDiff) -> exp.Expression:
    unit = (node.unit.name if node.unit is not None else "DAY").upper().rstrip("S")
    # sqlglot marks DuckDB's boundary-counting units (all but WEEK: whole 7-day spans)
    if not node.args.get("date_part_boundary") or (unit not in _SECONDS and unit not in _MONTHS):
        raise UnsupportedSQL(
            f"date_diff('{unit.lower()}', ...) has no exact Spark translation here "
            f"(supported: {', '.join(u.lower() for u in (*_SECONDS, *_MONTHS))})"
        )
    # DuckDB date_diff(unit, start, end): sqlglot stores end as `this`, start as `expression`
    end, start = node.this, node.expression
    return exp.paren(
        exp.Sub(this=_units_since_epoch(end, unit), expression=_units_since_epoch(start, unit))
    )


def _is_double(node: exp.Expression) -> bool:
    return isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.DOUBLE)


def _double(node: exp.Expression) -> exp.Expression:
    if _is_double(node):
        return node
    if isinstance(node, exp.Paren) and _is_double(node.this):
        return node.this
    return exp.cast(node.unnest(), exp.DataType.Type.DOUBLE)


def _spark_rules(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.DateDiff):
        return _date_diff(node)
    if isinstance(node, exp.Div):
        return exp.Div(this=_double(node.this), expression=_double(node.expression))
    if isinstance(node, exp.Avg) and not _is_double(node.this):
        if isinstance(node.this, exp.Distinct):
            return exp.Avg(this=exp.Distinct(expressions=[_double(node.this.expressions[0])]))
        return exp.Avg(this=_double(node.this))
    if isinstance(node, exp.Log) and node.expression is None:
        return exp.Log(this=exp.Literal.number(10), expression=node.this)
    if isinstance(node, exp.Create) and str(node.kind).upper() == "VIEW":
        props = node.args.get("properties")
        if not props or not props.find(exp.TemporaryProperty):
            node.set(
                "properties",
                exp.Properties(
                    expressions=[*(props.expressions if props else []), exp.TemporaryProperty()]
                ),
            )
    return node


def spark_tree(statement: exp.Expression) -> exp.Expression:
    """One parsed DuckDB statement rewritten for Spark (:func:`to_spark` without text)."""
    tree = expand_macros(statement, spark=True)
    return _bottom_up(tree, _spark_rules)


def _bottom_up(tree: exp.Expression, rule) -> exp.Expression:
    """``rule`` applied to every node, children before their parent (so that a rewrite
    of a parent sees rewritten children, and a rewritten node's children are visited)."""
    for node in reversed(list(tree.dfs())):
        new = rule(node)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree


@functools.lru_cache(maxsize=512)
def to_spark_statements(sql: str) -> tuple[str, ...]:
    """Each statement of the DuckDB SQL ``sql`` as Spark SQL."""
    out = []
    for statement in sqlglot.parse(sql, read="duckdb"):
        if statement is None:  # an empty statement (";;")
            continue
        out.append(spark_tree(statement).sql(dialect="spark"))
    return tuple(out)


def to_spark(sql: str) -> str:
    """DuckDB SQL (one or more statements) as Spark SQL (statements joined by ``;``).

    Raises
    ------
    UnsupportedSQL
        For a construct without a faithful translation (see the module docstring).
    sqlglot.errors.ParseError
        For SQL that sqlglot cannot read as DuckDB's.
    """
    return ";\n".join(to_spark_statements(sql))


def to_duckdb(sql: str) -> str:
    """DuckDB SQL with the project macros expanded (runs without them installed)."""
    return ";\n".join(
        expand_macros(s, spark=False).sql(dialect="duckdb")
        for s in sqlglot.parse(sql, read="duckdb")
        if s is not None
    )

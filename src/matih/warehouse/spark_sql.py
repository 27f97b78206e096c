"""DuckDB-dialect statements made into Spark SQL over the warehouse's Parquet tables.

sqlglot transpiles the syntax. Two things it cannot know are done here:

- **Names.** The seed's ``catalog.schema.table`` names are tables of this warehouse, not Spark catalogs:
  each reference becomes a temporary view over that table's current Parquet files (named after the table
  and its version, so a concurrent rewrite never changes what a running statement reads). Names resolve as
  on DuckDB: ``schema.table`` is in the ``analytics`` catalog, a bare ``table`` in ``analytics.main``.
- **Meanings.** Functions spelt alike that compute different things: DuckDB's ``EXTRACT(DOW)`` and
  ``dayofweek`` count Sunday as 0, Spark's as 1; DuckDB's one-argument ``log`` is base 10, Spark's is
  natural. Each is rewritten so the same SQL gives the same rows on both engines
  (``tests/warehouse/test_engines.py`` holds them to it). Known differences left as they are: a cast of a
  fraction to an integer rounds on DuckDB and truncates on Spark, and dividing by zero is infinity or NULL
  on DuckDB and an error on Spark (ANSI mode): ``docs/warehouse.md`` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

from matih.exceptions import WarehouseError
from matih.warehouse.names import DEFAULT_CATALOG, TableName

_JVM_CALLS = frozenset({"reflect", "java_method", "try_reflect"})
"""Spark functions that call any Java method: never from SQL that reaches MATIH (the HTTP API's callers
included)."""


@dataclass
class Translated:
    """One statement, ready for Spark."""

    kind: str
    """``query``, ``create_table``, ``drop_table`` or ``describe``."""
    sql: str
    """The query to run (for a CREATE TABLE AS, its body)."""
    reads: list[TableName] = field(default_factory=list)
    target: TableName | None = None
    if_exists: bool = False


def parse_script(sql: str) -> list[exp.Expr]:
    """The statements of a DuckDB-dialect script (comments kept in the trees)."""
    try:
        trees = [
            t for t in sqlglot.parse(sql, read="duckdb") if t is not None and not isinstance(t, exp.Semicolon)
        ]
    except sqlglot.errors.ParseError as err:
        raise WarehouseError(
            f"cannot read the SQL: {err.errors[0]['description'] if err.errors else err}"
        ) from None
    if not trees:
        raise WarehouseError("no SQL statement to run")
    return trees


def name_of(table: exp.Table) -> TableName:
    """The warehouse table a reference names, resolved as DuckDB resolves it."""
    return TableName.parse(".".join([table.catalog or DEFAULT_CATALOG, table.db or "main", table.name]))


def translate(tree: exp.Expr, view_of: dict[str, str], params: dict[str, object] | None = None) -> Translated:
    """``tree`` as Spark SQL, its table references replaced by the views in ``view_of`` (filled in by the
    caller for every name :func:`tables_read` returned); ``$name``, ``$1`` and ``?`` parameters become
    literals (positional values under the keys ``"1"``, ``"2"``, ...)."""
    if isinstance(tree, exp.Drop):
        if str(tree.args.get("kind", "")).upper() != "TABLE":
            raise _unsupported(tree)
        target = name_of(tree.this)
        return Translated("drop_table", "", target=target, if_exists=bool(tree.args.get("exists")))
    if isinstance(tree, exp.Create):
        if str(tree.args.get("kind", "")).upper() != "TABLE" or not isinstance(tree.expression, exp.Query):
            raise _unsupported(tree)
        target_node = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
        body = _rewrite(tree.expression.copy(), view_of, params)
        return Translated(
            "create_table",
            body.sql(dialect="spark"),
            reads=tables_read(tree.expression),
            target=name_of(target_node),
        )
    if isinstance(tree, exp.Query):
        return Translated(
            "query", _rewrite(tree.copy(), view_of, params).sql(dialect="spark"), reads=tables_read(tree)
        )
    if isinstance(tree, exp.Describe) and isinstance(tree.this, exp.Table):
        return Translated("describe", "", target=name_of(tree.this))
    explained = _explained(tree)
    if explained is not None:
        inner = translate(explained, view_of, params)
        return Translated("query", f"EXPLAIN {inner.sql}", reads=inner.reads)
    raise _unsupported(tree)


def _explained(tree: exp.Expr) -> exp.Expr | None:
    """The query of ``EXPLAIN <query>`` (sqlglot keeps EXPLAIN as a command holding its text)."""
    if isinstance(tree, exp.Command) and str(tree.this).upper() == "EXPLAIN" and tree.expression is not None:
        (inner,) = parse_script(tree.expression.name)
        if isinstance(inner, exp.Query):
            return inner
    return None


def tables_read(tree: exp.Expr) -> list[TableName]:
    """The warehouse tables a statement reads (CTE names and its own target excluded)."""
    query = tree.expression if isinstance(tree, exp.Create) else _explained(tree) or tree
    if query is None:
        return []
    ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    seen: dict[str, TableName] = {}
    for table in query.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            raise WarehouseError(
                f"{table.sql(dialect='duckdb')}: table functions (files, URLs) are not available on "
                "warehouse.engine 'spark' (matih.yaml); load the file with a source, or use engine duckdb"
            )
        if not table.db and table.name.lower() in ctes:
            continue
        name = name_of(table)
        seen.setdefault(str(name), name)
    return list(seen.values())


def _rewrite(query: exp.Expr, view_of: dict[str, str], params: dict[str, object] | None) -> exp.Expr:
    ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}

    def visit(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
            if not node.db and node.name.lower() in ctes:
                return node
            view = exp.to_table(view_of[str(name_of(node))])
            # columns qualified by the table's own name (orders.id) still resolve under the view
            view.set("alias", node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name)))
            return view
        if isinstance(node, exp.Extract) and node.this.name.upper() in ("DOW", "DAYOFWEEK", "ISODOW"):
            return _day_of_week(node.expression, iso=node.this.name.upper() == "ISODOW")
        if isinstance(node, exp.DayOfWeek):
            return _day_of_week(node.this, iso=False)
        if isinstance(node, exp.DayOfWeekIso):
            return _day_of_week(node.this, iso=True)
        if isinstance(node, exp.Anonymous) and node.name.lower() in _JVM_CALLS:
            raise WarehouseError(
                f"{node.name}() calls Java methods; it is not available on warehouse.engine 'spark' "
                "(matih.yaml)"
            )
        if isinstance(node, exp.Log) and node.expression is None:
            return exp.Anonymous(this="LOG10", expressions=[node.this])
        if isinstance(node, (exp.Parameter, exp.Placeholder)) and params is not None:
            # ``?`` takes the next positional value; ``$1`` and ``$name`` their own
            key = str(next(positions)) if node.name == "?" else node.name
            if key in params:
                return exp.convert(params[key])
        return node

    positions = iter(range(1, 10_000))

    return query.transform(visit, copy=False)


def _day_of_week(value: exp.Expr, *, iso: bool) -> exp.Expr:
    """Spark's DAYOFWEEK (Sunday 1 .. Saturday 7) as DuckDB counts: Sunday 0 .. Saturday 6, or ISO 1..7
    from Monday."""
    spark_dow = exp.Anonymous(this="DAYOFWEEK", expressions=[value.copy()])
    if iso:
        return exp.Paren(
            this=exp.Add(
                this=exp.Mod(
                    this=exp.Paren(this=exp.Add(this=spark_dow, expression=exp.Literal.number(5))),
                    expression=exp.Literal.number(7),
                ),
                expression=exp.Literal.number(1),
            )
        )
    return exp.Paren(this=exp.Sub(this=spark_dow, expression=exp.Literal.number(1)))


def _unsupported(tree: exp.Expr) -> WarehouseError:
    kind = tree.key.upper()
    return WarehouseError(
        f"{kind} statements are not available on warehouse.engine 'spark' (matih.yaml): its tables are "
        "written whole, atomically. Write the result with CREATE TABLE name AS SELECT ..., or use "
        "engine duckdb"
    )

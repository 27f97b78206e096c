"""SQL from users: transpiled to DuckDB by sqlglot, checked for writes, explained, run with a row cap.

Errors say where: a syntax error names its line and column (from sqlglot, or from DuckDB's own
``LINE n:`` marker), so the CLI and the HTTP API can point at the spot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from matih.exceptions import QueryError, WarehouseError
from matih.warehouse import Engine, StatementResult

DIALECTS = ("duckdb", "trino", "postgres", "snowflake")
_READ_ONLY = (exp.Query, exp.Describe, exp.Show, exp.Pragma)
_DUCKDB_LINE = re.compile(r"LINE (\d+):")
_EXPLAIN = re.compile(r"^\s*EXPLAIN(\s+ANALYZE)?\s+", re.IGNORECASE)


def _statements(sql: str, dialect: str) -> list[exp.Expr]:
    if dialect not in DIALECTS:
        raise QueryError(f"unknown dialect {dialect!r}; use one of {', '.join(DIALECTS)}")
    try:
        trees = sqlglot.parse(sql, read=dialect)
    except sqlglot.errors.SqlglotError as err:
        # ParseError lists located errors; TokenError (an unclosed quote, say) carries only its text
        errors = getattr(err, "errors", None) or [{}]
        first = errors[0]
        raise QueryError(
            f"SQL syntax error: {first.get('description', str(err))}",
            line=first.get("line"),
            column=first.get("col"),
        ) from None
    return [t for t in trees if t is not None and not isinstance(t, exp.Semicolon)]


def to_duckdb(sql: str, dialect: str = "duckdb") -> str:
    """``sql`` written for ``dialect`` as DuckDB runs it (unchanged for duckdb)."""
    if dialect == "duckdb":
        _statements(sql, dialect)  # syntax check with positions
        return sql
    return ";\n".join(t.sql(dialect="duckdb") for t in _statements(sql, dialect))


def is_read_only(sql: str, dialect: str = "duckdb") -> bool:
    """True when every statement only reads (SELECT, WITH, DESCRIBE, SHOW, EXPLAIN of a read)."""
    explained = _EXPLAIN.match(sql)
    if explained:  # EXPLAIN ANALYZE runs its statement: judge what it explains
        return is_read_only(sql[explained.end() :], dialect)
    for tree in _statements(sql, dialect):
        if isinstance(tree, exp.Command):  # statements sqlglot keeps as text, EXPLAIN among them
            if str(tree.this).upper() != "EXPLAIN" or not is_read_only(str(tree.expression or ""), dialect):
                return False
        elif not isinstance(tree, _READ_ONLY):
            return False
    return True


def run_sql(
    wh: Engine,
    sql: str,
    *,
    dialect: str = "duckdb",
    max_rows: int | None = None,
    params: dict[str, object] | None = None,
) -> list[StatementResult]:
    """Transpile and run; DuckDB errors come back as :class:`QueryError` with the line when known."""
    text = to_duckdb(sql, dialect)
    try:
        return wh.run(text, max_rows=max_rows, params=params)
    except WarehouseError as err:
        if isinstance(err, QueryError):
            raise
        match = _DUCKDB_LINE.search(str(err))
        raise QueryError(str(err), line=int(match.group(1)) if match else None) from err


@dataclass
class Plan:
    sql: str
    text: str


def explain(
    wh: Engine, sql: str, *, dialect: str = "duckdb", params: dict[str, object] | None = None
) -> Plan:
    """DuckDB's physical plan for a single query."""
    statements = _statements(sql, dialect)
    if len(statements) != 1:
        raise QueryError(f"EXPLAIN takes one statement, got {len(statements)}")
    text = to_duckdb(sql, dialect).strip().rstrip(";")
    results = run_sql(wh, f"EXPLAIN {text}", params=params)
    table = results[-1].table
    lines = table.column(table.num_columns - 1).to_pylist() if table is not None else []
    return Plan(text, "\n".join(str(v) for v in lines))

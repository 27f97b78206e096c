"""Great Expectations 1.x on DuckDB: two narrow fixes, so suites run as SQL inside the warehouse.

GX has no DuckDB dialect of its own; it reaches DuckDB through SQLAlchemy (``duckdb-engine``), which
works apart from two defects, both fixed here and nothing else (see docs/quality.md for why this route):

1. **Results lost on close.** GX runs each metric query in ``with engine.connect()`` and reads the
   rows after the block ends. SQLAlchemy rolls back when the connection closes, and DuckDB drops a
   pending result on rollback, so every metric came back empty and every expectation failed. The fix
   buffers the rows while the connection is open (``Result.freeze()``), for DuckDB only.
2. **No regular expressions.** GX builds the SQL for ``*_match_regex*`` expectations per dialect and
   raises "Regex is not supported for dialect duckdb". The fix answers DuckDB with
   ``regexp_matches(column, pattern)``, a search anywhere in the value like GX's ``re.search``
   semantics on pandas (tested for parity).

Tables are read through a query asset (``SELECT * FROM schema.table``): GX's table asset drops the
schema when it reads column types.
"""

from __future__ import annotations

import os
import threading
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

_installed = False
_lock = threading.Lock()
#: the GX modules that imported ``get_dialect_regex_expression`` by name
_REGEX_USERS = (
    "great_expectations.expectations.metrics.column_map_metrics.column_values_match_regex",
    "great_expectations.expectations.metrics.column_map_metrics.column_values_not_match_regex",
    "great_expectations.expectations.metrics.column_map_metrics.column_values_match_regex_list",
    "great_expectations.expectations.metrics.column_map_metrics.column_values_not_match_regex_list",
)


def _is_duckdb(dialect: Any) -> bool:
    for candidate in (dialect, getattr(dialect, "dialect", None)):
        if getattr(candidate, "name", None) == "duckdb":
            return True
    return False


def install() -> None:
    """Apply both fixes once per process (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        import importlib

        import sqlalchemy as sa
        from great_expectations.execution_engine.sqlalchemy_execution_engine import (
            SqlAlchemyExecutionEngine,
        )
        from great_expectations.expectations.metrics import util

        def execute_query(self: Any, query: Any) -> Any:
            with self.get_connection() as connection:
                result = self._execute_query_with_recovery(connection, query)
                if self.dialect_name == "duckdb" and result.returns_rows:
                    return result.freeze()()
            return result

        SqlAlchemyExecutionEngine.execute_query = execute_query  # type: ignore[method-assign]

        original = util.get_dialect_regex_expression

        def regex_expression(column: Any, regex: str, dialect: Any, positive: bool = True) -> Any:
            if _is_duckdb(dialect):
                found = sa.func.regexp_matches(column, sa.literal(regex))
                return found if positive else sa.not_(found)
            return original(column, regex, dialect, positive)

        util.get_dialect_regex_expression = regex_expression
        for name in _REGEX_USERS:
            importlib.import_module(name).get_dialect_regex_expression = regex_expression  # type: ignore[attr-defined]
        _installed = True

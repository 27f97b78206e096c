"""The query service: SQL in any supported dialect, run on the warehouse, with limits and plans."""

from matih.query.service import DIALECTS, QueryError, explain, is_read_only, run_sql, to_duckdb

__all__ = ["DIALECTS", "QueryError", "explain", "is_read_only", "run_sql", "to_duckdb"]

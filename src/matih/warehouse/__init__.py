"""The SQL engine behind the catalog names in the user's SQL."""

from matih.warehouse.duckdb_warehouse import DEFAULT_CATALOG, StatementResult, TableName, Warehouse

__all__ = ["DEFAULT_CATALOG", "StatementResult", "TableName", "Warehouse"]

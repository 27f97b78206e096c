"""The SQL engine behind the catalog names in the user's SQL."""

from matih.warehouse.duckdb_warehouse import (
    DEFAULT_CATALOG,
    QueryCancelled,
    StatementResult,
    TableName,
    Warehouse,
)
from matih.warehouse.of_workspace import default_memory_limit, warehouse_of

__all__ = [
    "DEFAULT_CATALOG",
    "QueryCancelled",
    "StatementResult",
    "TableName",
    "Warehouse",
    "default_memory_limit",
    "warehouse_of",
]

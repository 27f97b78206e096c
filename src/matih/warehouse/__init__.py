"""The SQL engine behind the catalog names in the user's SQL.

``names`` parses table names, ``statements`` splits, analyses and runs SQL (atomic writes), ``live`` reads
PostgreSQL sources in place, ``journal`` keeps ``writes.jsonl``, ``locks`` serialises a folder's openings in
one process, and ``duckdb_warehouse.Warehouse`` coordinates them over the catalog files. ``engine.Engine`` is
the interface the layers above use; ``spark_warehouse.SparkWarehouse`` implements it on Spark SQL over
Parquet (``spark_sql`` transpiles, ``spark_session`` starts Spark).
"""

from matih.warehouse.duckdb_warehouse import Warehouse
from matih.warehouse.engine import Engine
from matih.warehouse.labels import labelled
from matih.warehouse.live import LiveSource
from matih.warehouse.locks import folder_lock
from matih.warehouse.names import DEFAULT_CATALOG, TableName
from matih.warehouse.of_workspace import default_memory_limit, warehouse_of
from matih.warehouse.statements import StatementResult, WriteMode

__all__ = [
    "DEFAULT_CATALOG",
    "Engine",
    "LiveSource",
    "StatementResult",
    "TableName",
    "Warehouse",
    "WriteMode",
    "default_memory_limit",
    "folder_lock",
    "labelled",
    "warehouse_of",
]

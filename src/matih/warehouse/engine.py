"""The warehouse interface: what the layers above may ask of whichever engine runs the SQL.

Two engines implement it: :class:`~matih.warehouse.duckdb_warehouse.Warehouse` (embedded, the default)
and :class:`~matih.warehouse.spark_warehouse.SparkWarehouse` (``warehouse: {engine: spark}``). SQL handed
to either is in DuckDB's dialect, MATIH's own lingua franca: the query service transpiles a user's other
dialects into it, and the Spark engine transpiles it on to Spark SQL. Names are the seed's
``catalog.schema.table`` on both. Every write is atomic (a failed statement leaves the previous table) and
is appended to the write journal after it commits.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from matih.exceptions import WarehouseError
from matih.warehouse import journal
from matih.warehouse.live import LiveSource
from matih.warehouse.names import TableName
from matih.warehouse.statements import ExportFormat, JoinBuildSide, StatementResult, WriteMode


class Cursor(Protocol):
    """The DB-API subset MATIH's readers use: ``execute`` then ``fetchone``, ``fetchall`` or an Arrow
    reader."""

    def execute(self, sql: str, parameters: Any = None) -> Any: ...


@runtime_checkable
class Engine(Protocol):
    """A warehouse: catalogs of tables under ``directory``, queried and written with SQL."""

    directory: Path
    live: list[LiveSource]
    threads: int | None

    @property
    def engine(self) -> str:
        """``duckdb`` or ``spark``: for messages and for refusing what an engine cannot do."""
        ...

    def run(
        self,
        sql: str,
        *,
        write_mode: WriteMode = "overwrite",
        target: str | None = None,
        max_rows: int | None = None,
        params: dict[str, object] | None = None,
        join_build_side: JoinBuildSide = "estimated",
        profile: bool = False,
    ) -> list[StatementResult]: ...

    def query(self, sql: str, params: dict[str, object] | None = None) -> pa.Table: ...

    def write_arrow(
        self, name: str, table: pa.Table | pa.RecordBatchReader, *, mode: WriteMode = "overwrite"
    ) -> int: ...

    def swap_in(self, name: str, table: pa.Table, *, keep_as: str) -> int: ...

    def replace_partitions(self, name: str, table: pa.Table, *, by: Sequence[str]) -> int: ...

    def replace_days(
        self,
        name: str,
        sql: str,
        date_column: str,
        first_day: object,
        join_build_side: JoinBuildSide = "estimated",
    ) -> int: ...

    def restore_kept(self, name: str, *, kept_as: str) -> bool: ...

    def table_exists(self, name: str) -> bool: ...

    def require_table(self, name: str) -> TableName: ...

    def describe(self) -> dict[TableName, list[tuple[str, str]]]:
        """Every table with its (column, type) pairs; types in DuckDB's SQL names on every engine."""
        ...

    def cursor(self) -> AbstractContextManager[Cursor]:
        """A cursor for several statements in a row (one connection on DuckDB)."""
        ...

    def columns(self, name: str) -> list[tuple[str, str]]:
        """(column, type) of table ``name`` in order; types in DuckDB's SQL names on every engine."""
        ...

    def export(self, sql: str, path: str | Path, fmt: ExportFormat) -> int: ...

    def export_partitioned(self, sql: str, folder: str | Path, by: str) -> None:
        """Write a query's result under ``folder`` as Parquet partitioned by column ``by`` (Hive style:
        ``<by>=<value>/`` directories, the column itself not in the files), by the engine itself: the rows
        never pass through Python. Replaces what ``folder`` held."""
        ...

    def catalogs(self) -> list[str]: ...

    def catalog_path(self, catalog: str) -> Path:
        """The DuckDB file connectors load ``catalog`` into (on Spark, a landing file published after each
        load by :meth:`publish_landed`)."""
        ...

    def publish_landed(self, catalog: str, schema: str, tables: Sequence[str]) -> None:
        """Make tables a connector just loaded into :meth:`catalog_path` readable by the engine."""
        ...

    def interrupt(self, label: str | None = None) -> int: ...

    @property
    def writes_path(self) -> Path: ...

    def last_write(self, name: str) -> str | None: ...


class EngineBase(ABC):
    """What both engines do the same way on top of their own ``run`` and ``table_exists``: reading one
    query's rows, requiring a table, and the write journal under ``directory``."""

    directory: Path

    @abstractmethod
    def run(self, sql: str, *, params: dict[str, object] | None = None) -> list[StatementResult]: ...

    @abstractmethod
    def table_exists(self, name: str) -> bool: ...

    def query(self, sql: str, params: dict[str, object] | None = None) -> pa.Table:
        """Run one read-only query and return its result as Arrow."""
        result = self.run(sql, params=params)[-1]
        if result.table is None:
            raise WarehouseError(f"statement returned no rows to read: {sql[:80]!r}")
        return result.table

    def require_table(self, name: str) -> TableName:
        if not self.table_exists(name):
            raise WarehouseError(
                f"table {name} does not exist in the warehouse ({self.directory}); "
                "run the query or pipeline that builds it first"
            )
        return TableName.parse(name)

    @property
    def writes_path(self) -> Path:
        """One JSON line per table write (table, mode, rows, time): the catalog's update times."""
        return journal.journal_path(self.directory)

    def last_write(self, name: str) -> str | None:
        """A stamp that changes whenever ``name`` is written (``<writes so far>@<time of the last>``), from
        the write journal; ``None`` when it was never written through this warehouse."""
        return journal.last_write(self.writes_path, TableName.parse(name))

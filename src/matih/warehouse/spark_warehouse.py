"""The warehouse on Spark SQL (``warehouse: {engine: spark}``): Parquet tables under one path, queried by
Spark, written atomically.

Layout under the warehouse path (a local or shared filesystem every Spark executor can read):
``<catalog>/<schema>/<table>/part-<id>/`` directories of Parquet files, and
``<catalog>/<schema>/<table>.json``
naming the parts that make up the table now. A write adds new parts beside the old ones and then
replaces the JSON (one ``rename``), so a reader sees the old table or the new one, and a Spark job that
fails leaves the previous table as it was. Parts no table names any more are removed after the switch.

SQL arrives in DuckDB's dialect (see :mod:`matih.warehouse.engine`) and is transpiled by
:mod:`matih.warehouse.spark_sql`. Arrow tables written from Python (connector loads, forecasts) are
written as Parquet by pyarrow directly: they never pass through the JVM.

Connectors still load through dlt into a DuckDB file (:meth:`SparkWarehouse.catalog_path`, under
``_landing/``), which :meth:`SparkWarehouse.publish_landed` turns into this warehouse's tables after each
load, so the tables the seed's SQL names are where Spark reads them.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from matih.exceptions import QueryCancelled, WarehouseError
from matih.state import write_bytes_atomic
from matih.warehouse import journal
from matih.warehouse.engine import EngineBase
from matih.warehouse.labels import current_label
from matih.warehouse.live import LiveSource
from matih.warehouse.locks import folder_lock
from matih.warehouse.names import TableName, is_identifier
from matih.warehouse.spark_session import master_of, spark_session
from matih.warehouse.spark_sql import Translated, parse_script, tables_read, translate
from matih.warehouse.statements import ExportFormat, JoinBuildSide, StatementResult, WriteMode, copy_to

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_LANDING = "_landing"


class SparkWarehouse(EngineBase):
    """Parquet tables under ``directory``, run by Spark SQL."""

    engine = "spark"

    def __init__(
        self,
        directory: str | Path,
        *,
        master: str | None = None,
        threads: int | None = None,
        memory_limit: str | None = None,
        live: list[LiveSource] | None = None,
    ):
        if live:
            raise WarehouseError(
                f"source(s) {', '.join(s.catalog + '.' + s.schema for s in live)} are read live, which needs "
                'warehouse.engine \'duckdb\' (matih.yaml); on Spark set the source\'s "mode": "ingest"'
            )
        self.directory = Path(directory)
        self.threads = threads
        self.memory_limit = memory_limit
        self.live: list[LiveSource] = []
        self.master = master_of(master, threads)
        self._running: dict[str, int] = {}
        self._running_lock = threading.Lock()

    # -- the session ---------------------------------------------------------------------------------
    @property
    def spark(self) -> SparkSession:
        return spark_session(self.master, driver_memory=_jvm_size(self.memory_limit))

    def interrupt(self, label: str | None = None) -> int:
        """Cancel running Spark jobs: every one, or those started under :func:`labelled` ``label``."""
        with self._running_lock:
            running = dict(self._running)
        context = self.spark.sparkContext
        reached = 0
        for group, count in running.items():
            if label is None or group == label:
                context.cancelJobGroup(group)
                reached += count
        return reached

    # -- SQL -----------------------------------------------------------------------------------------
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
    ) -> list[StatementResult]:
        """Run a script; ``CREATE TABLE x AS ...`` replaces ``x`` atomically or appends to it, and with
        ``target`` a single query's result is written to that table.

        ``join_build_side`` changes nothing here: Spark chooses a join's strategy when it runs, from the
        sizes its stages measured (adaptive query execution), not from estimates alone. No profile is
        returned (``profile`` is DuckDB's)."""
        trees = parse_script(sql)
        if target is not None and len(trees) != 1:
            raise WarehouseError(f"a query with a target table must be one statement, got {len(trees)}")
        results = []
        for tree in trees:
            started = time.perf_counter()
            text = tree.sql(dialect="duckdb")
            step = translate(tree, self._views(tables_read(tree)), params)
            if target is not None:
                if step.kind in ("drop_table", "describe"):
                    raise WarehouseError(f"a target table needs a SELECT query, got {step.kind}")
                step.kind, step.target = "create_table", TableName.parse(target)
            if step.kind == "describe":
                assert step.target is not None
                columns = self.columns(str(step.target))
                described = pa.table(
                    {"column_name": [c for c, _ in columns], "column_type": [t for _, t in columns]}
                )
                results.append(
                    StatementResult(
                        sql=text,
                        kind="describe",
                        elapsed=time.perf_counter() - started,
                        table=described,
                        rows=described.num_rows,
                    )
                )
            elif step.kind == "drop_table":
                results.append(self._drop(step, text, started))
            elif step.kind == "create_table":
                assert step.target is not None
                rows = self._write_frame(step.target, lambda s=step: self._sql(s.sql), write_mode)
                results.append(
                    StatementResult(
                        sql=text,
                        kind="write",
                        elapsed=time.perf_counter() - started,
                        target=str(step.target),
                        rows=rows,
                    )
                )
            else:
                table, truncated = self._collect(step, max_rows)
                results.append(
                    StatementResult(
                        sql=text,
                        kind="query",
                        elapsed=time.perf_counter() - started,
                        table=table,
                        rows=table.num_rows,
                        truncated=truncated,
                    )
                )
        return results

    def export(self, sql: str, path: str | Path, fmt: ExportFormat) -> int:
        table = self.query(sql)
        with duckdb.connect() as con:
            con.register("result", table)
            return copy_to(con, "SELECT * FROM result", path, fmt)

    def export_partitioned(self, sql: str, folder: str | Path, by: str) -> None:
        trees = parse_script(sql)
        if len(trees) != 1 or not isinstance(trees[0], exp.Query):
            raise WarehouseError("a partitioned export needs exactly one SELECT query")
        step = translate(trees[0], self._views(tables_read(trees[0])), None)
        frame = self._sql(step.sql)
        with self._job_group():
            try:
                frame.write.mode("overwrite").partitionBy(by).parquet(str(folder))
            except Exception as err:
                raise self._failure(err, f"nothing was written to {folder}") from None

    # -- writes --------------------------------------------------------------------------------------
    def write_arrow(
        self, name: str, table: pa.Table | pa.RecordBatchReader, *, mode: WriteMode = "overwrite"
    ) -> int:
        """Write an Arrow table, or a stream of batches, as a new part: pyarrow writes the Parquet, the
        JVM is not involved."""
        tname = TableName.parse(name)
        with folder_lock(self.directory):
            part = self._new_part(tname)
            written = _write_parquet(table, part)
            parts = (self._parts(tname) if mode == "append" else []) + [part]
            self._switch(tname, parts)
        journal.record_write(self.writes_path, tname, mode, written)
        return written

    def swap_in(self, name: str, table: pa.Table, *, keep_as: str) -> int:
        """Replace ``name`` with ``table``, keeping the replaced parts as table ``keep_as`` (no copy)."""
        tname = TableName.parse(name)
        kept = tname.sibling(keep_as)
        with folder_lock(self.directory):
            part = self._new_part(tname)
            rows = _write_parquet(table, part)
            old = self._parts(tname)
            if old:
                self._switch(kept, old)
            else:
                self._drop_pointer(kept)
            self._switch(tname, [part])
        journal.record_write(self.writes_path, tname, "overwrite", rows)
        return rows

    def restore_kept(self, name: str, *, kept_as: str) -> bool:
        tname = TableName.parse(name)
        kept = tname.sibling(kept_as)
        with folder_lock(self.directory):
            parts = self._parts(kept)
            if not self._pointer(kept).exists():
                return False
            rows = self._switch(tname, parts)
            self._drop_pointer(kept)
        journal.record_write(self.writes_path, tname, "overwrite", rows)
        return True

    def replace_partitions(self, name: str, table: pa.Table, *, by: Sequence[str]) -> int:
        """Add ``table``'s rows, first dropping the rows that share a value of ``by`` with them. Parts
        holding none of those values are kept as they are, so an archive grows by one part per batch."""
        tname = TableName.parse(name)
        with folder_lock(self.directory):
            new_part = self._new_part(tname)
            added = _write_parquet(table, new_part)
            keys = self.spark.read.parquet(str(new_part)).select(*by).distinct()
            parts = []
            for part in self._parts(tname):
                frame = self.spark.read.parquet(str(part))
                if frame.join(keys, on=list(by), how="left_semi").limit(1).count() == 0:
                    parts.append(part)
                    continue
                rewritten = self._new_part(tname)
                self._write_df(frame.join(keys, on=list(by), how="left_anti"), rewritten)
                parts.append(rewritten)
            rows = self._switch(tname, [*parts, new_part])
        journal.record_write(self.writes_path, tname, "append", added)
        return rows

    def replace_days(
        self,
        name: str,
        sql: str,
        date_column: str,
        first_day: object,
        join_build_side: JoinBuildSide = "estimated",
    ) -> int:
        """Replace the rows dated ``first_day`` or later with the result of the query ``sql``: the older
        rows and the new ones become the table's parts in one switch (``join_build_side``: see
        :meth:`run`)."""
        tname = TableName.parse(name)
        (tree,) = parse_script(sql)
        step = translate(tree, self._views(tables_read(tree)), None)
        with folder_lock(self.directory):
            kept = self._new_part(tname)
            old = self._frame(tname)
            from pyspark.sql import functions as F

            self._write_df(old.where(F.col(date_column) < F.lit(first_day)), kept)
            fresh = self._new_part(tname)
            self._write_df(self._sql(step.sql), fresh)
            self._switch(tname, [kept, fresh])
            written = _rows(fresh)
        journal.record_write(self.writes_path, tname, "append", written)
        return written

    # -- tables --------------------------------------------------------------------------------------
    def table_exists(self, name: str) -> bool:
        return self._pointer(TableName.parse(name)).exists()

    def describe(self) -> dict[TableName, list[tuple[str, str]]]:
        described = {}
        for pointer in sorted(self.directory.glob("*/*/*.json")):
            catalog, schema = pointer.parent.parent.name, pointer.parent.name
            if catalog != _LANDING and all(is_identifier(p) for p in (catalog, schema, pointer.stem)):
                tname = TableName(catalog, schema, pointer.stem)
                described[tname] = self.columns(str(tname))
        return described

    @contextmanager
    def cursor(self) -> Iterator[_Cursor]:
        yield _Cursor(self)

    def columns(self, name: str) -> list[tuple[str, str]]:
        tname = self.require_table(name)
        schema = self._schema(tname)
        with duckdb.connect() as con:
            con.register("empty", schema.empty_table())
            described = con.execute("DESCRIBE SELECT * FROM empty").fetchall()
        return [(row[0], row[1]) for row in described]

    def catalogs(self) -> list[str]:
        return sorted({t.catalog for t in self.describe()})

    def catalog_path(self, catalog: str) -> Path:
        return self.directory / _LANDING / f"{catalog}.duckdb"

    def publish_landed(self, catalog: str, schema: str, tables: Sequence[str]) -> None:
        """Copy the tables dlt just loaded into the landing file into Parquet tables of the same names."""
        path = self.catalog_path(catalog)
        if not path.exists():
            return
        with duckdb.connect(str(path), read_only=True) as con:
            present = {
                row[0]
                for row in con.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]
                ).fetchall()
            }
            for table in tables:
                if table in present:
                    reader = con.execute(f'SELECT * FROM "{schema}"."{table}"').to_arrow_reader(1_000_000)
                    self.write_arrow(f"{catalog}.{schema}.{table}", reader)

    # -- internals -----------------------------------------------------------------------------------
    def _pointer(self, tname: TableName) -> Path:
        return self.directory / tname.catalog / tname.schema / f"{tname.name}.json"

    def _new_part(self, tname: TableName) -> Path:
        return self.directory / tname.catalog / tname.schema / tname.name / f"part-{uuid.uuid4().hex[:12]}"

    def _parts(self, tname: TableName) -> list[Path]:
        pointer = self._pointer(tname)
        if not pointer.exists():
            return []
        return [pointer.parent / p for p in json.loads(pointer.read_text())["parts"]]

    def _switch(self, tname: TableName, parts: list[Path]) -> int:
        """Make ``parts`` the table (one atomic rename), then remove the parts it no longer uses that no
        other table names (a kept version shares its parts). Parts being written by other writers are
        never touched: only this table's replaced parts are candidates."""
        pointer = self._pointer(tname)
        replaced = set(self._parts(tname)) - set(parts)
        rows = sum(_rows(p) for p in parts)
        record = {"parts": [str(p.relative_to(pointer.parent)) for p in parts], "rows": rows}
        write_bytes_atomic(pointer, json.dumps(record).encode())
        self._release(tname, replaced)
        return rows

    def _drop_pointer(self, tname: TableName) -> None:
        replaced = set(self._parts(tname))
        self._pointer(tname).unlink(missing_ok=True)
        self._release(tname, replaced)

    def _release(self, tname: TableName, candidates: set[Path]) -> None:
        schema_dir = self.directory / tname.catalog / tname.schema
        named = {
            schema_dir / p
            for pointer in schema_dir.glob("*.json")
            for p in json.loads(pointer.read_text())["parts"]
        }
        for part in candidates - named:
            shutil.rmtree(part, ignore_errors=True)

    def _schema(self, tname: TableName) -> pa.Schema:
        parts = self._parts(tname)
        schemas = [pq.ParquetDataset(str(p)).schema for p in parts]
        return pa.unify_schemas(schemas, promote_options="permissive") if schemas else pa.schema([])

    def frame(self, name: str) -> DataFrame:
        """Table ``name`` as a Spark DataFrame (for Spark-native readers such as Great Expectations)."""
        return self._frame(self.require_table(name))

    def _frame(self, tname: TableName) -> DataFrame:
        parts = [str(p) for p in self._parts(tname)]
        if not parts:
            raise WarehouseError(f"table {tname} has no data files")
        return self.spark.read.option("mergeSchema", "true").parquet(*parts)

    def _views(self, names: list[TableName]) -> dict[str, str]:
        """A temporary view per table read, named after the table and its current parts."""
        views = {}
        for tname in names:
            try:
                record = self._pointer(tname).read_text()
            except FileNotFoundError:
                raise WarehouseError(
                    f"Table {tname} does not exist in the warehouse ({self.directory})\n"
                    "hint: tables are catalog.schema.table; list them with `matih catalog list`"
                ) from None
            version = uuid.uuid5(uuid.NAMESPACE_URL, record).hex[:12]
            view = f"matih_{tname.catalog}_{tname.schema}_{tname.name}_{version}"
            # a view names one version of the table's parts: registered once, not re-read (Spark reads
            # every part's footer to build it) by each of the many small queries a catalog refresh runs
            if not self.spark.catalog.tableExists(view):
                self._frame(tname).createOrReplaceTempView(view)
            views[str(tname)] = view
        return views

    def _sql(self, text: str) -> DataFrame:
        try:
            return self.spark.sql(text)
        except Exception as err:  # pyspark's AnalysisException and friends
            raise WarehouseError(_spark_message(err)) from None

    def _collect(self, step: Translated, max_rows: int | None) -> tuple[pa.Table, bool]:
        frame = self._sql(step.sql)
        with self._job_group():
            try:
                if max_rows is None:
                    return frame.toArrow(), False
                table = frame.limit(max_rows + 1).toArrow()
            except Exception as err:
                raise self._failure(err, "nothing was changed") from None
        return table.slice(0, max_rows), table.num_rows > max_rows

    def _write_frame(self, tname: TableName, build: Any, mode: WriteMode) -> int:
        with folder_lock(self.directory):
            part = self._new_part(tname)
            try:
                self._write_df(build(), part)
            except BaseException:
                shutil.rmtree(part, ignore_errors=True)
                raise
            parts = (self._parts(tname) if mode == "append" else []) + [part]
            self._switch(tname, parts)
            written = _rows(part)
        journal.record_write(self.writes_path, tname, mode, written)
        return written

    def _write_df(self, frame: DataFrame, part: Path) -> None:
        with self._job_group():
            try:
                frame.write.mode("errorifexists").parquet(str(part))
            except Exception as err:
                shutil.rmtree(part, ignore_errors=True)
                raise self._failure(err, "the previous version of the table (if any) is unchanged") from None

    def _drop(self, step: Translated, text: str, started: float) -> StatementResult:
        assert step.target is not None
        if not self._pointer(step.target).exists() and not step.if_exists:
            raise WarehouseError(f"Table {step.target} does not exist")
        with folder_lock(self.directory):
            self._drop_pointer(step.target)
        return StatementResult(sql=text, kind="drop", elapsed=time.perf_counter() - started)

    def _job_group(self) -> _JobGroup:
        return _JobGroup(self)

    def _failure(self, err: BaseException, outcome: str) -> BaseException:
        text = str(err)
        if "cancel" in text.lower():
            return QueryCancelled(f"query cancelled; {outcome}")
        return WarehouseError(f"{_spark_message(err)}\n{outcome}")


class _Cursor:
    """DB-API's ``execute`` / ``fetchone`` / ``fetchall`` over :meth:`SparkWarehouse.run`, plus the Arrow
    reader DuckDB's connection offers: readers written against one engine read the other."""

    def __init__(self, wh: SparkWarehouse):
        self.wh = wh
        self._table: pa.Table | None = None

    def execute(self, sql: str, parameters: Sequence[object] | dict[str, object] | None = None) -> _Cursor:
        params: dict[str, object] | None = None
        if isinstance(parameters, dict):
            params = parameters
        elif parameters:
            params = {str(i): value for i, value in enumerate(parameters, start=1)}
        self._table = self.wh.run(sql, params=params)[-1].table
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        if self._table is None:
            return []
        columns = [c.to_pylist() for c in self._table.columns]
        return list(zip(*columns, strict=True)) if columns else []

    def fetchone(self) -> tuple[Any, ...] | None:
        rows = self.fetchall()
        return rows[0] if rows else None

    def to_arrow_table(self) -> pa.Table:
        if self._table is None:
            raise WarehouseError("the statement returned no rows to read")
        return self._table

    def to_arrow_reader(self, batch_size: int = 1_000_000) -> pa.RecordBatchReader:
        return self.to_arrow_table().to_reader(batch_size)


class _JobGroup:
    """Spark jobs started in the block belong to the statement's label (see :func:`labelled`), so
    :meth:`SparkWarehouse.interrupt` can cancel one caller's statement."""

    def __init__(self, wh: SparkWarehouse):
        self.wh = wh
        self.group = current_label() or "matih"

    def __enter__(self) -> None:
        with self.wh._running_lock:
            self.wh._running[self.group] = self.wh._running.get(self.group, 0) + 1
        self.wh.spark.sparkContext.setJobGroup(self.group, "matih statement", interruptOnCancel=True)

    def __exit__(self, *exc: object) -> None:
        with self.wh._running_lock:
            left = self.wh._running.get(self.group, 1) - 1
            if left:
                self.wh._running[self.group] = left
            else:
                self.wh._running.pop(self.group, None)


def _rows(part: Path) -> int:
    """The rows of a part, from its files' footers."""
    return sum(pq.ParquetFile(f).metadata.num_rows for f in part.glob("*.parquet"))


def _write_parquet(data: pa.Table | pa.RecordBatchReader, part: Path) -> int:
    """Write ``data`` as Parquet Spark reads (microsecond timestamps, no columns of type null); its rows."""
    part.mkdir(parents=True, exist_ok=True)
    schema = pa.schema(
        [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in data.schema]
    )
    batches = data.to_batches() if isinstance(data, pa.Table) else data
    rows = 0
    try:
        with pq.ParquetWriter(
            part / "part-00000.parquet", schema, coerce_timestamps="us", allow_truncated_timestamps=True
        ) as writer:
            for batch in batches:
                writer.write_batch(batch.cast(schema) if batch.schema != schema else batch)
                rows += batch.num_rows
    except BaseException:
        shutil.rmtree(part, ignore_errors=True)
        raise
    return rows


def _spark_message(err: BaseException) -> str:
    """Spark's message without its JVM stack trace."""
    text = str(err).strip()
    return text.split("\n\tat ")[0].split("\nJVM stacktrace:")[0].strip()


def _jvm_size(limit: str | None) -> str | None:
    """``matih.yaml``'s memory cap (``6GB``, ``4GiB``) as a JVM size (``6g``)."""
    if not limit:
        return None
    number = float("".join(ch for ch in limit if ch.isdigit() or ch == "."))
    unit = limit.strip().upper().rstrip("IB").rstrip("B")[-1:]
    factor = {"K": 1 / 2**20, "M": 1 / 1024, "G": 1.0, "T": 1024.0}.get(unit, 1.0)
    return f"{max(1, round(number * factor * 1024))}m"

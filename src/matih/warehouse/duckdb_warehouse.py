"""The embedded warehouse: DuckDB files named after the catalogs the seed's SQL uses, opened together.

``analytics.derived.demand_features`` lives in ``.matih/warehouse/analytics.duckdb``,
``postgresql.shopify.orders`` in ``postgresql.duckdb``. Each operation opens an in-memory DuckDB database
and ATTACHes every catalog file, so the user's three-part names resolve exactly as written; live PostgreSQL
sources are ATTACHed beside them (:mod:`matih.warehouse.live`). A missing catalog file is created only for a
catalog a script writes into: reading an unknown catalog fails instead of leaving an empty file behind.

:class:`Warehouse` owns the connections (one database per call, or one held open between the HTTP API's
requests) and coordinates the rest: :mod:`~matih.warehouse.statements` splits, analyses and runs the
statements, and every committed write is appended to the journal (:mod:`~matih.warehouse.journal`).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from matih.exceptions import QueryCancelled, WarehouseError
from matih.warehouse import journal
from matih.warehouse.engine import EngineBase
from matih.warehouse.labels import current_label
from matih.warehouse.live import LiveSource, attach_live, federate
from matih.warehouse.locks import folder_lock
from matih.warehouse.names import DEFAULT_CATALOG, TableName, is_identifier
from matih.warehouse.statements import (
    ExportFormat,
    JoinBuildSide,
    StatementResult,
    WriteMode,
    analyse,
    copy_to,
    creatable,
    create_body,
    execute,
    has_table,
    query_to_write,
    replace_days,
    replace_keeping,
    replace_partitions,
    restore,
    split,
    strip_terminator,
    write_table,
)

_INCOMING = "__matih_incoming"
"""The name an Arrow table being written is registered under on the connection."""


class Warehouse(EngineBase):
    """DuckDB catalogs in one folder, opened together."""

    engine = "duckdb"

    def __init__(
        self,
        directory: str | Path,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        external_access: bool = True,
        live: list[LiveSource] | None = None,
        hold_open_seconds: float = 0.0,
    ):
        self.directory = Path(directory)
        self.threads = threads
        self.memory_limit = memory_limit
        self.external_access = external_access
        """False for untrusted SQL (the HTTP API): no files, URLs or extensions beyond the catalogs."""
        self.live = list(live or [])
        """Sources queried in place through DuckDB's postgres extension instead of their ingested copy."""
        self.hold_open_seconds = hold_open_seconds
        """Keep one database open between calls until idle this long (0: open and close per call)."""
        self._held = _HeldDatabase(hold_open_seconds, self._open_database) if hold_open_seconds > 0 else None
        self._open: list[tuple[duckdb.DuckDBPyConnection, str | None]] = []

    # -- connections ---------------------------------------------------------------------------------
    def interrupt(self, label: str | None = None) -> int:
        """Interrupt the statements running on this warehouse's open connections (from another thread):
        every one, or only those run under :func:`labelled` ``label``. Returns how many were reached."""
        reached = [con for con, mine in list(self._open) if label is None or mine == label]
        for con in reached:
            con.interrupt()
        return len(reached)

    def catalog_path(self, catalog: str) -> Path:
        return self.directory / f"{catalog}.duckdb"

    def catalogs(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.duckdb"))

    @contextmanager
    def connect(
        self,
        *,
        extra_catalogs: set[str] | frozenset[str] = frozenset(),
        join_build_side: JoinBuildSide = "estimated",
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection with every catalog ATTACHed; ``extra_catalogs`` are created when missing.

        ``join_build_side="as_written"`` opens a database of its own (never the held one: DuckDB's
        optimizer settings hold for a whole database) whose hash joins build on the right side as written.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        wanted = set(self.catalogs()) | {DEFAULT_CATALOG} | set(extra_catalogs)
        if self._held is not None and join_build_side == "estimated":
            with self._held.cursor(wanted) as cursor, self._interruptible(cursor):
                cursor.execute(f"USE {DEFAULT_CATALOG}")  # a cursor is a new client: USE does not carry over
                yield cursor
            return
        with (
            folder_lock(self.directory),
            closing(self._open_database(wanted, join_build_side)) as con,
            self._interruptible(con),
        ):
            yield con

    @contextmanager
    def _interruptible(self, con: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """Within the block, :meth:`interrupt` reaches ``con``."""
        entry = (con, current_label())
        self._open.append(entry)
        try:
            yield
        finally:
            self._open.remove(entry)

    def _open_database(
        self, catalogs: set[str], join_build_side: JoinBuildSide = "estimated"
    ) -> duckdb.DuckDBPyConnection:
        return _new_database(
            {catalog: self.catalog_path(catalog) for catalog in sorted(catalogs)},
            self.live,
            threads=self.threads,
            memory_limit=self.memory_limit,
            external_access=self.external_access,
            join_build_side=join_build_side,
        )

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
        """Run a script of one or more statements.

        ``CREATE TABLE x AS ...`` replaces ``x`` atomically (``write_mode="overwrite"``) or appends to it
        (``"append"``). With ``target``, a single query's result is written to that table instead.
        ``join_build_side="as_written"`` turns off DuckDB's swapping of hash joins' sides by estimated
        size for these statements (:data:`~matih.warehouse.statements.JoinBuildSide`). With ``profile``,
        each write's result carries DuckDB's profile of it (:attr:`StatementResult.profile`).
        """
        statements = [federate(s, self.live) for s in split(sql)]
        if target is not None:
            if len(statements) != 1:
                raise WarehouseError(
                    f"a query with a target table must be one statement, got {len(statements)}"
                )
            return [
                self._write_query(
                    statements[0], TableName.parse(target), write_mode, params, join_build_side, profile
                )
            ]
        analyses = [analyse(s) for s in statements]
        catalogs: set[str] = set().union(*(a.catalogs for a in analyses))
        results = []
        extra = creatable(catalogs, analyses)
        with self.connect(extra_catalogs=extra, join_build_side=join_build_side) as con:
            for stmt, analysis in zip(statements, analyses, strict=True):
                if analysis.create_target is not None and (body := create_body(stmt)) is not None:
                    tname = analysis.create_target
                    results.append(self._write(con, stmt, body, tname, write_mode, params, profile))
                else:
                    results.append(execute(con, stmt, analysis, max_rows, params))
        return results

    def write_arrow(
        self, name: str, table: pa.Table | pa.RecordBatchReader, *, mode: WriteMode = "overwrite"
    ) -> int:
        """Write an Arrow table, or a stream of batches, into ``name`` atomically; the rows written."""
        tname = TableName.parse(name)
        with self.connect(extra_catalogs={tname.catalog}) as con:
            con.register(_INCOMING, table)
            result = self._write(con, f"<arrow {name}>", f"SELECT * FROM {_INCOMING}", tname, mode, None)
            con.unregister(_INCOMING)
        return table.num_rows if isinstance(table, pa.Table) else int(result.rows or 0)

    def swap_in(self, name: str, table: pa.Table, *, keep_as: str) -> int:
        """Replace ``name`` with ``table`` and keep the replaced rows as table ``keep_as`` (same schema),
        in one transaction: a rollback can put them back with :meth:`restore_kept`. A rename, not a
        copy, so keeping costs nothing."""
        tname = TableName.parse(name)
        kept = tname.sibling(keep_as)
        with self.connect(extra_catalogs={tname.catalog}) as con:
            con.register(_INCOMING, table)
            replace_keeping(con, tname, kept, _INCOMING)
        journal.record_write(self.writes_path, tname, "overwrite", table.num_rows)
        return table.num_rows

    def replace_partitions(self, name: str, table: pa.Table, *, by: Sequence[str]) -> int:
        """Append ``table`` to ``name``, replacing the rows that share a value of ``by`` with it (one
        transaction: an archive written twice for the same partition holds it once)."""
        tname = TableName.parse(name)
        with self.connect(extra_catalogs={tname.catalog}) as con:
            con.register(_INCOMING, table)
            rows = replace_partitions(con, tname, _INCOMING, by)
            con.unregister(_INCOMING)
        journal.record_write(self.writes_path, tname, "append", table.num_rows)
        return rows

    def replace_days(
        self,
        name: str,
        sql: str,
        date_column: str,
        first_day: object,
        join_build_side: JoinBuildSide = "estimated",
    ) -> int:
        """Replace the rows of ``name`` dated ``first_day`` or later with the result of the query ``sql``, in
        one transaction (the incremental refresh); the rows written."""
        tname = TableName.parse(name)
        body = federate(strip_terminator(sql), self.live)
        catalogs = analyse(body).catalogs | {tname.catalog}
        with self.connect(extra_catalogs=catalogs, join_build_side=join_build_side) as con:
            rows = replace_days(con, tname, body, date_column, first_day)
        journal.record_write(self.writes_path, tname, "append", rows)
        return rows

    def restore_kept(self, name: str, *, kept_as: str) -> bool:
        """Put back the rows :meth:`swap_in` kept (one transaction); ``False`` when none were kept."""
        tname = TableName.parse(name)
        kept = tname.sibling(kept_as)
        with self.connect(extra_catalogs={tname.catalog}) as con:
            rows = restore(con, tname, kept)
        if rows is None:
            return False
        journal.record_write(self.writes_path, tname, "overwrite", rows)
        return True

    def table_exists(self, name: str) -> bool:
        tname = TableName.parse(name)
        if not self.catalog_path(tname.catalog).exists():
            return False
        with self.connect() as con:
            return has_table(con, tname)

    def describe(self) -> dict[TableName, list[tuple[str, str]]]:
        """Every table with its (column, type) pairs, live sources' included under their ATTACH alias."""
        with self.connect() as con:
            listing = con.execute(
                "SELECT database_name, schema_name, table_name, column_name, data_type FROM duckdb_columns()"
                " WHERE NOT internal AND (database_name, schema_name, table_name) IN (SELECT database_name,"
                " schema_name, table_name FROM duckdb_tables() WHERE NOT internal AND NOT temporary)"
                " ORDER BY database_name, schema_name, table_name, column_index"
            ).fetchall()
        described: dict[TableName, list[tuple[str, str]]] = {}
        for catalog, schema, table, column, kind in listing:
            described.setdefault(TableName(catalog, schema, table), []).append((column, str(kind)))
        return described

    def columns(self, name: str) -> list[tuple[str, str]]:
        """(column, DuckDB type) of ``name``, in order."""
        tname = self.require_table(name)
        with self.connect() as con:
            return [
                (row[0], row[1])
                for row in con.execute(
                    "SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = ? "
                    "AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                    [tname.catalog, tname.schema, tname.name],
                ).fetchall()
            ]

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for several statements in a row (see :meth:`Engine.cursor`)."""
        with self.connect() as con:
            yield con

    def publish_landed(self, catalog: str, schema: str, tables: Sequence[str]) -> None:
        """Nothing to do: connectors load straight into the catalog files DuckDB reads."""

    def export(self, sql: str, path: str | Path, fmt: ExportFormat) -> int:
        """Write a query's result straight to a file from DuckDB (no detour through Python)."""
        statements = split(sql)
        if len(statements) != 1 or not analyse(statements[0]).is_query:
            raise WarehouseError("--output needs exactly one SELECT query")
        body = federate(strip_terminator(statements[0]), self.live)
        with self.connect() as con:
            return copy_to(con, body, path, fmt)

    def export_partitioned(self, sql: str, folder: str | Path, by: str) -> None:
        statements = split(sql)
        if len(statements) != 1 or not analyse(statements[0]).is_query:
            raise WarehouseError("a partitioned export needs exactly one SELECT query")
        body = federate(strip_terminator(statements[0]), self.live)
        target = str(Path(folder).resolve()).replace("'", "''")
        with self.connect() as con:
            try:
                con.execute(
                    f"COPY ({body}) TO '{target}' (FORMAT parquet, PARTITION_BY ({by}), OVERWRITE_OR_IGNORE)"
                )
            except duckdb.Error as err:
                raise WarehouseError(f"partitioned export to {folder} failed: {err}") from err

    # -- internals -----------------------------------------------------------------------------------
    def _write_query(
        self,
        stmt: str,
        tname: TableName,
        mode: WriteMode,
        params: dict[str, object] | None,
        join_build_side: JoinBuildSide = "estimated",
        profile: bool = False,
    ) -> StatementResult:
        analysis = analyse(stmt)
        catalogs = analysis.catalogs | {tname.catalog}
        with self.connect(extra_catalogs=catalogs, join_build_side=join_build_side) as con:
            return self._write(con, stmt, query_to_write(stmt, analysis), tname, mode, params, profile)

    def _write(
        self,
        con: duckdb.DuckDBPyConnection,
        stmt: str,
        body: str,
        tname: TableName,
        mode: WriteMode,
        params: dict[str, object] | None,
        profile: bool = False,
    ) -> StatementResult:
        """Write the query ``body`` into ``tname`` (see :func:`write_table`) and journal it once committed;
        with ``profile``, the result carries DuckDB's profile of the write."""
        started = time.perf_counter()
        measured: dict[str, Any] | None = {} if profile else None
        rows = write_table(con, body, tname, mode, params, measured)
        journal.record_write(self.writes_path, tname, mode, rows)
        return StatementResult(
            sql=stmt,
            kind="write",
            elapsed=time.perf_counter() - started,
            target=str(tname),
            rows=rows,
            profile=measured or None,
        )


def _new_database(
    catalogs: dict[str, Path],
    live: Sequence[LiveSource],
    *,
    threads: int | None,
    memory_limit: str | None,
    external_access: bool,
    join_build_side: JoinBuildSide = "estimated",
) -> duckdb.DuckDBPyConnection:
    """A new in-memory database with the catalog files and the live sources ATTACHed, set up for MATIH."""
    config: dict[str, str | bool | int | float | list[str]] = {"autoinstall_known_extensions": False}
    if threads:
        config["threads"] = threads
    if memory_limit:
        config["memory_limit"] = memory_limit
    if join_build_side == "as_written":
        # the optimizer pass that puts the side it estimates smaller on the build side of each hash join
        config["disabled_optimizers"] = "build_side_probe_side"
    con = duckdb.connect(config=config)
    try:
        for catalog, path in catalogs.items():
            _attach_catalog(con, catalog, path)
        for source in live:
            attach_live(con, source)
        con.execute(f"USE {DEFAULT_CATALOG}")
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET enable_progress_bar = false")
        if not external_access:
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
    except duckdb.InterruptException:
        con.close()
        raise QueryCancelled("query cancelled before it started; nothing was changed") from None
    except BaseException:
        con.close()
        raise
    return con


def _attach_catalog(con: duckdb.DuckDBPyConnection, catalog: str, path: Path) -> None:
    if not is_identifier(catalog):
        raise WarehouseError(f"catalog name {catalog!r} is not a plain identifier")
    try:
        try:
            con.execute(f"ATTACH '{path}' AS {catalog}")
        except duckdb.BinderException as err:
            # one process may attach a file once: a held database here that nobody is using lets go
            if "file handle conflict" not in str(err).lower() or not _release_idle_held():
                raise
            con.execute(f"ATTACH '{path}' AS {catalog}")
    except duckdb.IOException as err:
        # DuckDB files take one writer process at a time
        raise _busy(
            f"the warehouse catalog {catalog!r} is in use by another process; wait for it or stop"
            f" it ({str(err).splitlines()[0]})"
        ) from None
    except duckdb.BinderException as err:
        if "file handle conflict" not in str(err).lower():
            raise
        # another Warehouse here holds the file open and is using it (the HTTP API keeps its database
        # open between requests)
        raise _busy(
            f"the warehouse catalog {catalog!r} is held open by another connection of this process; "
            "retry in a moment"
        ) from None


def _busy(message: str) -> WarehouseError:
    err = WarehouseError(message)
    err.transient = True  # the holder lets go: a retry can succeed
    return err


#: the held databases of this process, so that another Warehouse needing one of their files can ask
#: the idle ones to let go rather than fail
_HELD: weakref.WeakSet[_HeldDatabase] = weakref.WeakSet()


def _release_idle_held() -> bool:
    """Close every held database nobody is using; whether any was closed."""
    return any([held.release_if_idle() for held in list(_HELD)])


class _HeldDatabase:
    """One database kept open while requests keep coming (the HTTP API): attaching the catalogs costs
    ~30 ms, a point lookup ~5 ms. Closed after ``idle_seconds`` idle, so other processes (a sync) can take
    the files in between."""

    def __init__(
        self, idle_seconds: float, open_database: Callable[[set[str]], duckdb.DuckDBPyConnection]
    ) -> None:
        self.idle_seconds = idle_seconds
        self._open_database = open_database
        self._con: duckdb.DuckDBPyConnection | None = None
        self._catalogs: set[str] = set()
        self._lock = threading.Lock()
        self._users = 0
        self._last_used = 0.0
        self._janitor: threading.Thread | None = None
        _HELD.add(self)

    def release_if_idle(self) -> bool:
        """Close the database now if nobody uses it; never waits (the caller may be this database's own
        opening, which holds the lock)."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if self._con is None or self._users:
                return False
            self._con.close()
            self._con = None
            return True
        finally:
            self._lock.release()

    @contextmanager
    def cursor(self, wanted: set[str]) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the held database, opened with ``wanted`` attached when it is closed; reopened when it
        lacks one of them, unless others are using it."""
        with self._lock:
            if self._con is not None and not wanted <= self._catalogs and self._users == 0:
                self._con.close()
                self._con = None
            if self._con is None:
                self._con = self._open_database(wanted)
                self._catalogs = wanted
                if self._janitor is None:
                    self._janitor = threading.Thread(target=self._close_when_idle, daemon=True)
                    self._janitor.start()
            self._users += 1
            cursor = self._con.cursor()
        try:
            yield cursor
        finally:
            cursor.close()
            with self._lock:
                self._users -= 1
                self._last_used = time.monotonic()

    def _close_when_idle(self) -> None:
        while True:
            time.sleep(min(0.5, self.idle_seconds))
            with self._lock:
                idle = time.monotonic() - self._last_used
                if self._con is not None and self._users == 0 and idle > self.idle_seconds:
                    self._con.close()
                    self._con = None

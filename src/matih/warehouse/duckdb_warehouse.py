"""The embedded warehouse: DuckDB files named after the catalogs the seed's SQL uses.

``postgresql.shopify.orders`` is table ``orders`` in schema ``shopify`` of the DuckDB file
``.matih/warehouse/postgresql.duckdb``; ``analytics.derived.demand_features`` lives in
``analytics.duckdb``. Each operation opens a connection and ATTACHes every catalog file, so the user's
three-part names resolve exactly as written.

Writes are atomic: an overwrite drops and recreates its table inside one DuckDB transaction, so a
statement that fails part-way leaves the previous table in place.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from matih.exceptions import WarehouseError

DEFAULT_CATALOG = "analytics"
WriteMode = Literal["overwrite", "append"]
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class StatementResult:
    """What one statement did: a result set for queries, a target table for writes."""

    sql: str
    kind: str
    elapsed: float
    table: pa.Table | None = None
    target: str | None = None
    rows: int | None = None
    truncated: bool = False


class QueryCancelled(WarehouseError):
    """The user interrupted a running statement (Ctrl-C); its transaction was rolled back."""


def _cancelled(err: RuntimeError, outcome: str) -> BaseException:
    # DuckDB turns SIGINT during execution into RuntimeError("Query interrupted")
    if "interrupt" in str(err).lower():
        return QueryCancelled(f"query cancelled; {outcome}")
    return err


@dataclass(frozen=True)
class LiveSource:
    """A PostgreSQL schema read in place: ``catalog.schema`` names resolve to ``alias.pg_schema``."""

    catalog: str
    schema: str
    alias: str
    dsn: str
    """libpq key/value connection string; holds the password, so it is never shown."""
    pg_schema: str = "public"
    secret: str | None = None


@dataclass
class TableName:
    catalog: str
    schema: str
    name: str

    @classmethod
    def parse(cls, dotted: str) -> TableName:
        parts = dotted.split(".")
        if len(parts) == 2:
            parts = [DEFAULT_CATALOG, *parts]
        if len(parts) != 3 or not all(_IDENT.match(p) for p in parts):
            raise WarehouseError(
                f"table name {dotted!r} must be catalog.schema.table (e.g. analytics.derived.demand_features)"
            )
        return cls(*parts)

    def __str__(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.name}"


@dataclass
class _Analysis:
    kind: str
    catalogs: set[str] = field(default_factory=set)
    create_target: TableName | None = None
    is_query: bool = False


def _analyse(sql: str) -> _Analysis:
    """What a statement reads and writes, from its syntax tree (sqlglot); unknown syntax is passed on."""
    try:
        trees = [
            t for t in sqlglot.parse(sql, read="duckdb") if t is not None and not isinstance(t, exp.Semicolon)
        ]
    except sqlglot.errors.SqlglotError:
        trees = []
    if len(trees) != 1:
        # syntax sqlglot does not know: DuckDB still runs it, and a CREATE TABLE AS keeps its atomicity
        match = _CREATE_AS.match(_strip_leading_comments(sql))
        if match:
            name = TableName.parse(match.group("name").replace('"', ""))
            return _Analysis(kind="create_table", catalogs={name.catalog}, create_target=name)
        return _Analysis(kind="statement")
    tree = trees[0]
    catalogs = {t.catalog for t in tree.find_all(exp.Table) if t.catalog}
    if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "TABLE":
        target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
        name = TableName(target.catalog or DEFAULT_CATALOG, target.db or "main", target.name)
        return _Analysis(kind="create_table", catalogs=catalogs | {name.catalog}, create_target=name)
    is_query = isinstance(tree, exp.Query)
    return _Analysis(kind="query" if is_query else tree.key, catalogs=catalogs, is_query=is_query)


_FOLDER_LOCKS: dict[Path, threading.RLock] = {}
_FOLDER_LOCKS_GUARD = threading.Lock()


def folder_lock(directory: str | Path) -> threading.RLock:
    """The lock every opening of a warehouse folder takes within this process.

    DuckDB lets one database instance per process hold a file, and each warehouse connection is its own
    in-memory database ATTACHing the catalog files: two at once fail with "Unique file handle conflict".
    So pipeline tasks running in parallel in one worker take turns on the warehouse (syncs hold it only
    while dlt loads); their other work still overlaps.
    """
    key = Path(directory).resolve()
    with _FOLDER_LOCKS_GUARD:
        return _FOLDER_LOCKS.setdefault(key, threading.RLock())


class Warehouse:
    """DuckDB catalogs in one folder, opened together."""

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
        self._open: list[duckdb.DuckDBPyConnection] = []
        self.hold_open_seconds = hold_open_seconds
        """Keep one database open between calls until idle this long (0: open and close per call)."""
        self._held: duckdb.DuckDBPyConnection | None = None
        self._held_catalogs: set[str] = set()
        self._held_lock = threading.Lock()
        self._users = 0
        self._last_used = 0.0
        self._janitor: threading.Thread | None = None
        self.live = list(live or [])
        """Sources queried in place through DuckDB's postgres extension instead of their ingested copy."""

    def interrupt(self) -> None:
        """Interrupt every statement running on this warehouse's open connections (from another thread)."""
        for con in list(self._open):
            con.interrupt()

    def catalog_path(self, catalog: str) -> Path:
        return self.directory / f"{catalog}.duckdb"

    def catalogs(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.duckdb"))

    @contextmanager
    def connect(
        self, *, extra_catalogs: set[str] | frozenset[str] = frozenset()
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection with every catalog ATTACHed; ``extra_catalogs`` are created when missing."""
        self.directory.mkdir(parents=True, exist_ok=True)
        wanted = set(self.catalogs()) | {DEFAULT_CATALOG} | set(extra_catalogs)
        if self.hold_open_seconds > 0:
            with self._held_cursor(wanted) as cursor:
                yield cursor
            return
        with folder_lock(self.directory):
            con = self._open_database(wanted)
            self._open.append(con)
            try:
                yield con
            finally:
                self._open.remove(con)
                con.close()

    def _open_database(self, catalogs: set[str]) -> duckdb.DuckDBPyConnection:
        config: dict[str, str | bool | int | float | list[str]] = {
            "autoinstall_known_extensions": False,
        }
        if self.threads:
            config["threads"] = self.threads
        if self.memory_limit:
            config["memory_limit"] = self.memory_limit
        con = duckdb.connect(config=config)
        try:
            for catalog in sorted(catalogs):
                if not _IDENT.match(catalog):
                    raise WarehouseError(f"catalog name {catalog!r} is not a plain identifier")
                try:
                    con.execute(f"ATTACH '{self.catalog_path(catalog)}' AS {catalog}")
                except duckdb.IOException as err:
                    # DuckDB files take one writer process at a time
                    raise WarehouseError(
                        f"the warehouse catalog {catalog!r} is in use by another process; wait for it or stop"
                        f" it ({str(err).splitlines()[0]})"
                    ) from None
            for source in self.live:
                _attach_live(con, source)
            con.execute(f"USE {DEFAULT_CATALOG}")
            con.execute("SET preserve_insertion_order = false")
            con.execute("SET enable_progress_bar = false")
            if not self.external_access:
                con.execute("SET enable_external_access = false")
                con.execute("SET lock_configuration = true")
        except duckdb.InterruptException:
            con.close()
            raise QueryCancelled("query cancelled before it started; nothing was changed") from None
        except BaseException:
            con.close()
            raise
        return con

    @contextmanager
    def _held_cursor(self, wanted: set[str]) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on one database kept open while requests keep coming (the HTTP API): attaching the
        catalogs costs ~30 ms, a point lookup ~5 ms. Closed after ``hold_open_seconds`` idle, so other
        processes (a sync) can take the files in between."""
        with self._held_lock:
            if self._held is not None and not wanted <= self._held_catalogs and self._users == 0:
                self._held.close()
                self._held = None
            if self._held is None:
                self._held = self._open_database(wanted)
                self._held_catalogs = wanted
                if self._janitor is None:
                    self._janitor = threading.Thread(target=self._close_when_idle, daemon=True)
                    self._janitor.start()
            self._users += 1
            cursor = self._held.cursor()
        self._open.append(cursor)
        try:
            cursor.execute(f"USE {DEFAULT_CATALOG}")
            yield cursor
        finally:
            self._open.remove(cursor)
            cursor.close()
            with self._held_lock:
                self._users -= 1
                self._last_used = time.monotonic()

    def _close_when_idle(self) -> None:
        while True:
            time.sleep(min(0.5, self.hold_open_seconds))
            with self._held_lock:
                idle = time.monotonic() - self._last_used
                if self._held is not None and self._users == 0 and idle > self.hold_open_seconds:
                    self._held.close()
                    self._held = None

    # -- SQL -----------------------------------------------------------------------------------------
    def run(
        self,
        sql: str,
        *,
        write_mode: WriteMode = "overwrite",
        target: str | None = None,
        max_rows: int | None = None,
        params: dict[str, object] | None = None,
    ) -> list[StatementResult]:
        """Run a script of one or more statements.

        ``CREATE TABLE x AS ...`` replaces ``x`` atomically (``write_mode="overwrite"``) or appends to it
        (``"append"``). With ``target``, a single query's result is written to that table instead.
        """
        statements = [self._federate(s) for s in _split(sql)]
        if target is not None:
            if len(statements) != 1:
                raise WarehouseError(
                    f"a query with a target table must be one statement, got {len(statements)}"
                )
            return [self._write_query(statements[0], TableName.parse(target), write_mode, params)]
        analyses = [_analyse(s) for s in statements]
        catalogs = set().union(*(a.catalogs for a in analyses)) if analyses else set()
        results = []
        with self.connect(extra_catalogs=_creatable(catalogs, analyses)) as con:
            for stmt, analysis in zip(statements, analyses, strict=True):
                if analysis.kind == "create_table" and analysis.create_target is not None:
                    body = _create_body(stmt)
                    if body is not None:
                        results.append(
                            self._write(con, stmt, body, analysis.create_target, write_mode, params)
                        )
                        continue
                results.append(self._execute(con, stmt, analysis, max_rows, params))
        return results

    def query(self, sql: str, params: dict[str, object] | None = None) -> pa.Table:
        """Run one read-only query and return its result as Arrow."""
        result = self.run(sql, params=params)[-1]
        if result.table is None:
            raise WarehouseError(f"statement returned no rows to read: {sql[:80]!r}")
        return result.table

    def write_arrow(self, name: str, table: pa.Table, *, mode: WriteMode = "overwrite") -> int:
        """Write an Arrow table (or anything DuckDB can scan) into ``name`` atomically."""
        tname = TableName.parse(name)
        with self.connect(extra_catalogs={tname.catalog}) as con:
            con.register("__matih_incoming", table)
            self._write(con, f"<arrow {name}>", "SELECT * FROM __matih_incoming", tname, mode, None)
            con.unregister("__matih_incoming")
        return table.num_rows

    def swap_in(self, name: str, table: pa.Table, *, keep_as: str) -> int:
        """Replace ``name`` with ``table`` and keep the replaced rows as table ``keep_as`` (same schema),
        in one transaction: a rollback can put them back with :meth:`restore_kept`. A rename, not a
        copy, so keeping costs nothing."""
        tname = TableName.parse(name)
        kept = TableName.parse(f"{tname.catalog}.{tname.schema}.{keep_as}")
        with self.connect(extra_catalogs={tname.catalog}) as con:
            con.register("__matih_incoming", table)
            try:
                with _transaction(con):
                    con.execute(f"CREATE SCHEMA IF NOT EXISTS {tname.catalog}.{tname.schema}")
                    con.execute(f"DROP TABLE IF EXISTS {kept}")
                    if self._exists(con, tname):
                        con.execute(f"ALTER TABLE {tname} RENAME TO {kept.name}")
                    con.execute(f"CREATE TABLE {tname} AS SELECT * FROM __matih_incoming")
            except duckdb.Error as err:
                raise WarehouseError(f"{err}\nthe previous version of {tname} (if any) is unchanged") from err
        self._journal(tname, "overwrite", table.num_rows)
        return table.num_rows

    def restore_kept(self, name: str, *, kept_as: str) -> bool:
        """Put back the rows :meth:`swap_in` kept (one transaction); ``False`` when none were kept."""
        tname = TableName.parse(name)
        kept = TableName.parse(f"{tname.catalog}.{tname.schema}.{kept_as}")
        with self.connect(extra_catalogs={tname.catalog}) as con:
            if not self._exists(con, kept):
                return False
            with _transaction(con):
                con.execute(f"DROP TABLE IF EXISTS {tname}")
                con.execute(f"ALTER TABLE {kept} RENAME TO {tname.name}")
                rows = con.execute(f"SELECT count(*) FROM {tname}").fetchone()
        self._journal(tname, "overwrite", int(rows[0]) if rows else 0)
        return True

    @staticmethod
    def _exists(con: duckdb.DuckDBPyConnection, tname: TableName) -> bool:
        found = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_catalog=? AND table_schema=? "
            "AND table_name=?",
            [tname.catalog, tname.schema, tname.name],
        ).fetchone()
        return bool(found and found[0])

    def table_exists(self, name: str) -> bool:
        tname = TableName.parse(name)
        if not self.catalog_path(tname.catalog).exists():
            return False
        with self.connect() as con:
            return self._exists(con, tname)

    def require_table(self, name: str) -> TableName:
        if not self.table_exists(name):
            raise WarehouseError(
                f"table {name} does not exist in the warehouse ({self.directory}); "
                "run the query or pipeline that builds it first"
            )
        return TableName.parse(name)

    def export(self, sql: str, path: str | Path, fmt: Literal["csv", "json", "parquet"]) -> int:
        """Write a query's result straight to a file from DuckDB (no detour through Python)."""
        statements = _split(sql)
        if len(statements) != 1 or not _analyse(statements[0]).is_query:
            raise WarehouseError("--output needs exactly one SELECT query")
        options = {
            "csv": "FORMAT csv, HEADER true",
            "json": "FORMAT json, ARRAY true",
            "parquet": "FORMAT parquet, COMPRESSION zstd",
        }[fmt]
        body = self._federate(_strip_terminator(statements[0]))
        target = str(Path(path).resolve()).replace("'", "''")
        with self.connect() as con:
            try:
                con.execute(f"COPY ({body}) TO '{target}' ({options})")
                row = con.execute(f"SELECT count(*) FROM ({body})").fetchone()
            except duckdb.Error as err:
                raise WarehouseError(_explain(err, body)) from err
        return int(row[0]) if row else 0

    # -- internals -----------------------------------------------------------------------------------
    def _federate(self, stmt: str) -> str:
        """Point references to a live source's ``catalog.schema`` at its ATTACHed PostgreSQL database."""
        lowered = stmt.lower()
        wanted = [s for s in self.live if f"{s.catalog}.{s.schema}".lower() in lowered]
        if not wanted:
            return stmt
        try:
            trees = sqlglot.parse(stmt, read="duckdb")
        except sqlglot.errors.SqlglotError:
            return stmt  # DuckDB will report the syntax error itself
        if len(trees) != 1 or trees[0] is None:
            return stmt
        by_name = {(s.catalog.lower(), s.schema.lower()): s for s in wanted}

        def swap(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Table) and node.catalog and node.db:
                source = by_name.get((node.catalog.lower(), node.db.lower()))
                if source is not None:
                    node.set("catalog", exp.to_identifier(source.alias))
                    node.set("db", exp.to_identifier(source.pg_schema))
            return node

        return trees[0].transform(swap).sql(dialect="duckdb")

    def _write_query(
        self, stmt: str, tname: TableName, mode: WriteMode, params: dict[str, object] | None
    ) -> StatementResult:
        analysis = _analyse(stmt)
        with self.connect(extra_catalogs=analysis.catalogs | {tname.catalog}) as con:
            if analysis.kind == "create_table":
                body = _create_body(stmt)
                if body is None:
                    raise WarehouseError("could not find the AS SELECT body of the CREATE TABLE statement")
                return self._write(con, stmt, body, tname, mode, params)
            if not analysis.is_query and analysis.kind != "statement":
                raise WarehouseError(f"a target table needs a SELECT query, got a {analysis.kind} statement")
            return self._write(con, stmt, _strip_terminator(stmt), tname, mode, params)

    def _write(
        self,
        con: duckdb.DuckDBPyConnection,
        stmt: str,
        body: str,
        tname: TableName,
        mode: WriteMode,
        params: dict[str, object] | None,
    ) -> StatementResult:
        started = time.perf_counter()
        narrowed = _narrow_hugeints(con, body, params)
        try:
            try:
                rows = self._write_once(con, narrowed or body, tname, mode, params)
            except duckdb.ConversionException:
                if narrowed is None:
                    raise
                rows = self._write_once(con, body, tname, mode, params)  # a sum really exceeds BIGINT
        except duckdb.InterruptException:
            raise QueryCancelled(
                f"query cancelled; the previous version of {tname} (if any) is unchanged"
            ) from None
        except duckdb.Error as err:
            raise WarehouseError(
                f"{_explain(err, body)}\nthe previous version of {tname} (if any) is unchanged"
            ) from err
        except RuntimeError as err:
            raise _cancelled(err, f"the previous version of {tname} (if any) is unchanged") from None
        self._journal(tname, mode, rows)
        return StatementResult(
            sql=stmt, kind="write", elapsed=time.perf_counter() - started, target=str(tname), rows=rows
        )

    @property
    def writes_path(self) -> Path:
        """One JSON line per table write (table, mode, rows, time): the catalog's update times."""
        return self.directory / "writes.jsonl"

    def last_write(self, name: str) -> str | None:
        """A stamp that changes whenever ``name`` is written (``<writes so far>@<time of the last>``), from
        the write journal; ``None`` when it was never written through this warehouse."""
        if not self.writes_path.is_file():
            return None
        wanted = str(TableName.parse(name))
        count, last = 0, ""
        with self.writes_path.open(encoding="utf-8") as journal:
            for line in journal:
                if wanted in line:  # cheap pre-filter before parsing
                    entry = json.loads(line)
                    if entry["table"] == wanted:
                        count, last = count + 1, entry["at"]
        return f"{count}@{last}" if count else None

    def _journal(self, tname: TableName, mode: WriteMode, rows: int) -> None:
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        line = json.dumps({"table": str(tname), "mode": mode, "rows": rows, "at": stamp})
        with self.writes_path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")

    @staticmethod
    def _write_once(
        con: duckdb.DuckDBPyConnection,
        body: str,
        tname: TableName,
        mode: WriteMode,
        params: dict[str, object] | None,
    ) -> int:
        """One atomic attempt: everything inside a transaction, rolled back on any error."""
        with _transaction(con):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {tname.catalog}.{tname.schema}")
            if mode == "overwrite":
                con.execute(f"CREATE OR REPLACE TABLE {tname} AS {body}", params or None)
            elif Warehouse._exists(con, tname):
                con.execute(f"INSERT INTO {tname} BY NAME {body}", params or None)
            else:
                con.execute(f"CREATE TABLE {tname} AS {body}", params or None)
            row = con.execute(f"SELECT count(*) FROM {tname}").fetchone()
        return int(row[0]) if row else 0

    def _execute(
        self,
        con: duckdb.DuckDBPyConnection,
        stmt: str,
        analysis: _Analysis,
        max_rows: int | None,
        params: dict[str, object] | None,
    ) -> StatementResult:
        started = time.perf_counter()
        try:
            rel = con.execute(stmt, params or None)
            if rel.description is None:
                return StatementResult(sql=stmt, kind=analysis.kind, elapsed=time.perf_counter() - started)
            if max_rows is not None:
                reader = rel.to_arrow_reader(max(1, min(max_rows + 1, 100_000)))
                batches, count = [], 0
                for batch in reader:
                    batches.append(batch)
                    count += batch.num_rows
                    if count > max_rows:
                        break
                table = pa.Table.from_batches(batches, schema=reader.schema)
                truncated = table.num_rows > max_rows
                table = table.slice(0, max_rows)
            else:
                table, truncated = rel.to_arrow_table(), False
        except duckdb.InterruptException:
            raise QueryCancelled("query cancelled; nothing was changed") from None
        except duckdb.Error as err:
            raise WarehouseError(_explain(err, stmt)) from err
        except RuntimeError as err:
            raise _cancelled(err, "nothing was changed") from None
        return StatementResult(
            sql=stmt,
            kind=analysis.kind,
            elapsed=time.perf_counter() - started,
            table=table,
            rows=table.num_rows,
            truncated=truncated,
        )


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """The block in one transaction: committed at its end, rolled back on any error."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _postgres_extension() -> str:
    """Path of DuckDB's postgres extension from the ``duckdb-extension-postgres`` wheel, under the
    file name DuckDB loads it by (nothing is downloaded)."""
    import glob
    import tempfile

    try:
        import duckdb_extension_postgres
    except ImportError as err:
        raise WarehouseError(
            "live sources need DuckDB's postgres extension: pip install duckdb-extension-postgres"
        ) from err
    folder = Path(duckdb_extension_postgres.__file__).parent / "extensions"
    found = glob.glob(str(folder / f"v{duckdb.__version__}" / "postgres.duckdb_extension"))
    if not found:
        raise WarehouseError(f"duckdb-extension-postgres has no build for DuckDB {duckdb.__version__}")
    # the file must be named after the extension's internal name to LOAD by path
    target = (
        Path(tempfile.gettempdir())
        / f"matih-duckdb-{duckdb.__version__}"
        / "postgres_scanner.duckdb_extension"
    )
    if not target.exists() or target.stat().st_size != Path(found[0]).stat().st_size:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(Path(found[0]).read_bytes())
        os.replace(tmp, target)
    return str(target)


def _attach_live(con: duckdb.DuckDBPyConnection, source: LiveSource) -> None:
    try:
        con.execute(f"LOAD '{_postgres_extension()}'")
        con.execute(f"ATTACH '{source.dsn}' AS {source.alias} (TYPE postgres, READ_ONLY)")
    except duckdb.Error as err:
        text = str(err)
        if source.secret:
            text = text.replace(source.secret, "***")
        raise WarehouseError(
            f"cannot reach live source {source.catalog}.{source.schema}: {text.splitlines()[0]}"
        ) from None


def _narrow_hugeints(
    con: duckdb.DuckDBPyConnection, body: str, params: dict[str, object] | None
) -> str | None:
    """``body`` with HUGEINT result columns cast to BIGINT, or None when it has none.

    DuckDB types SUM(INTEGER) as HUGEINT; Trino and PostgreSQL (the engines the seed's SQL is written for)
    type it BIGINT. HUGEINT columns also scan 40x slower from DuckDB storage, so the warehouse stores what
    those engines would return. A value beyond BIGINT raises ConversionException and the write is retried
    unchanged.
    """
    try:
        described = con.execute(f"DESCRIBE {body}", params or None).fetchall()
    except duckdb.Error:
        return None
    huge = [row[0] for row in described if row[1] == "HUGEINT"]
    if not huge:
        return None
    casts = ", ".join(f'CAST("{c}" AS BIGINT) AS "{c}"' for c in (h.replace('"', '""') for h in huge))
    return f"SELECT * REPLACE ({casts}) FROM (\n{body}\n)"


def _split(sql: str) -> list[str]:
    """Statements of a script, as the user wrote them (comments kept for error positions)."""
    try:
        statements = [s.query for s in duckdb.extract_statements(sql)]
    except duckdb.Error as err:
        raise WarehouseError(_explain(err, sql)) from err
    statements = [s for s in statements if s.strip()]
    if not statements:
        raise WarehouseError("no SQL statement to run")
    return statements


_CREATE_AS = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"(?P<name>[\w.\"]+)\s+AS\s+",
    re.IGNORECASE,
)


def _create_body(stmt: str) -> str | None:
    """The query of ``CREATE TABLE name AS <query>``, as written (comments before CREATE skipped)."""
    text = _strip_leading_comments(stmt)
    match = _CREATE_AS.match(text)
    return _strip_terminator(text[match.end() :]) if match else None


def _strip_terminator(sql: str) -> str:
    """``sql`` without its trailing ``;`` and comments, so it can be nested in another statement."""
    try:
        tokens = sqlglot.tokenize(sql, read="duckdb")
    except sqlglot.errors.TokenError:
        return sql.rstrip().rstrip(";")
    while tokens and tokens[-1].token_type == sqlglot.TokenType.SEMICOLON:
        tokens.pop()
    return sql[: tokens[-1].end + 1] if tokens else sql


def _strip_leading_comments(sql: str) -> str:
    text = sql.lstrip()
    while text.startswith("--") or text.startswith("/*"):
        if text.startswith("--"):
            newline = text.find("\n")
            text = "" if newline < 0 else text[newline + 1 :].lstrip()
        else:
            end = text.find("*/")
            text = "" if end < 0 else text[end + 2 :].lstrip()
    return text


def _creatable(catalogs: set[str], analyses: list[_Analysis]) -> set[str]:
    """Catalogs a script may create: only those it writes into (reads of unknown catalogs must fail)."""
    return {a.create_target.catalog for a in analyses if a.create_target} & catalogs


def _explain(err: duckdb.Error, sql: str) -> str:
    """DuckDB's message, with the catalogs hint when a name did not resolve."""
    message = str(err).strip()
    if "does not exist" in message and ("Catalog" in message or "Table" in message):
        message += (
            '\nhint: tables are catalog.schema.table; list them with `matih query run -e "SHOW ALL TABLES"`'
        )
    return message

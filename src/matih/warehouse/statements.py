"""Statements of a SQL script: splitting and analysing them, and running them on a warehouse connection.

A script is split by DuckDB's own parser, each statement kept as the user wrote it (comments included, so
DuckDB's error positions point into their text). sqlglot then reads each statement for the catalogs it
touches and whether it creates a table; syntax sqlglot does not know is passed on to DuckDB unchanged.

Writes are atomic: an overwrite drops and recreates its table inside one DuckDB transaction, so a statement
that fails part-way, or is cancelled, leaves the previous table in place. That is why ``CREATE TABLE x AS
<query>`` is not run as written: its query is written into ``x`` through the same transactional path.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from matih.exceptions import QueryCancelled, WarehouseError
from matih.warehouse.names import DEFAULT_CATALOG, TableName

WriteMode = Literal["overwrite", "append"]
JoinBuildSide = Literal["estimated", "as_written"]
"""Which side of a hash join its table is built from: the side the engine estimates smaller (the
default), or the right side as the SQL writes it (the dimension of ``fact LEFT JOIN dimension``), for
statements whose estimates the engine gets wrong (docs/orchestration.md, "Join build side")."""
ExportFormat = Literal["csv", "json", "parquet"]

_CREATE_AS = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"(?P<name>[\w.\"]+)\s+AS\s+",
    re.IGNORECASE,
)
_EXPORT_OPTIONS: dict[str, str] = {
    "csv": "FORMAT csv, HEADER true",
    "json": "FORMAT json, ARRAY true",
    "parquet": "FORMAT parquet, COMPRESSION zstd",
}


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
    profile: dict[str, Any] | None = None
    """The engine's profile of a write, as it measured it (DuckDB's JSON profile: operators with their
    rows and estimates), when the caller asked for one (:mod:`matih.query.join_sides` reads it)."""


# -- reading statements ------------------------------------------------------------------------------


@dataclass
class Analysis:
    """What a statement reads and writes, as far as its syntax tells."""

    kind: str
    catalogs: set[str] = field(default_factory=set)
    create_target: TableName | None = None
    is_query: bool = False


def split(sql: str) -> list[str]:
    """Statements of a script, as the user wrote them (comments kept for error positions)."""
    try:
        statements = [s.query for s in duckdb.extract_statements(sql)]
    except duckdb.Error as err:
        raise WarehouseError(explain(err, sql)) from err
    statements = [s for s in statements if s.strip()]
    if not statements:
        raise WarehouseError("no SQL statement to run")
    return statements


def analyse(sql: str) -> Analysis:
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
            return Analysis(kind="create_table", catalogs={name.catalog}, create_target=name)
        return Analysis(kind="statement")
    tree = trees[0]
    catalogs = {t.catalog for t in tree.find_all(exp.Table) if t.catalog}
    if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "TABLE":
        target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
        name = TableName(target.catalog or DEFAULT_CATALOG, target.db or "main", target.name)
        return Analysis(kind="create_table", catalogs=catalogs | {name.catalog}, create_target=name)
    is_query = isinstance(tree, exp.Query)
    return Analysis(kind="query" if is_query else tree.key, catalogs=catalogs, is_query=is_query)


def creatable(catalogs: set[str], analyses: list[Analysis]) -> set[str]:
    """Catalogs a script may create: only those it writes into (reads of unknown catalogs must fail)."""
    return {a.create_target.catalog for a in analyses if a.create_target} & catalogs


def create_body(stmt: str) -> str | None:
    """The query of ``CREATE TABLE name AS <query>``, as written (comments before CREATE skipped)."""
    text = _strip_leading_comments(stmt)
    match = _CREATE_AS.match(text)
    return strip_terminator(text[match.end() :]) if match else None


def query_to_write(stmt: str, analysis: Analysis) -> str:
    """The query whose result ``stmt`` writes into a target table: the body of a CREATE TABLE AS, else the
    statement itself (a query, or syntax sqlglot does not know)."""
    if analysis.kind == "create_table":
        body = create_body(stmt)
        if body is None:
            raise WarehouseError("could not find the AS SELECT body of the CREATE TABLE statement")
        return body
    if not analysis.is_query and analysis.kind != "statement":
        raise WarehouseError(f"a target table needs a SELECT query, got a {analysis.kind} statement")
    return strip_terminator(stmt)


def strip_terminator(sql: str) -> str:
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


def explain(err: duckdb.Error, sql: str) -> str:
    """DuckDB's message, with the catalogs hint when a name did not resolve."""
    message = str(err).strip()
    if "does not exist" in message and ("Catalog" in message or "Table" in message):
        message += (
            '\nhint: tables are catalog.schema.table; list them with `matih query run -e "SHOW ALL TABLES"`'
        )
    return message


# -- running statements ------------------------------------------------------------------------------


def execute(
    con: duckdb.DuckDBPyConnection,
    stmt: str,
    analysis: Analysis,
    max_rows: int | None,
    params: dict[str, object] | None,
) -> StatementResult:
    """Run a statement that is not a table write; a result set is cut after ``max_rows`` rows."""
    started = time.perf_counter()
    try:
        rel = con.execute(stmt, params or None)
        if rel.description is None:
            return StatementResult(sql=stmt, kind=analysis.kind, elapsed=time.perf_counter() - started)
        if max_rows is not None:
            table, truncated = _fetch_at_most(rel, max_rows)
        else:
            table, truncated = rel.to_arrow_table(), False
    except duckdb.InterruptException:
        raise QueryCancelled("query cancelled; nothing was changed") from None
    except duckdb.Error as err:
        raise WarehouseError(explain(err, stmt)) from err
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


def _fetch_at_most(rel: duckdb.DuckDBPyConnection, max_rows: int) -> tuple[pa.Table, bool]:
    """The first ``max_rows`` rows, and whether there were more; stops reading one batch past the limit."""
    reader = rel.to_arrow_reader(max(1, min(max_rows + 1, 100_000)))
    batches, count = [], 0
    for batch in reader:
        batches.append(batch)
        count += batch.num_rows
        if count > max_rows:
            break
    table = pa.Table.from_batches(batches, schema=reader.schema)
    return table.slice(0, max_rows), table.num_rows > max_rows


def write_table(
    con: duckdb.DuckDBPyConnection,
    body: str,
    tname: TableName,
    mode: WriteMode,
    params: dict[str, object] | None,
    profile: dict[str, Any] | None = None,
) -> int:
    """Write the result of the query ``body`` into ``tname`` atomically; the table's row count after.
    With ``profile`` (a dict), DuckDB's profile of the writing statement is put into it."""
    narrowed = _narrow_hugeints(con, body, params)
    with _unchanged_on_error(tname, body):
        try:
            return _write_once(con, narrowed or body, tname, mode, params, profile)
        except duckdb.ConversionException:
            if narrowed is None:
                raise
            return _write_once(con, body, tname, mode, params, profile)  # a sum really exceeds BIGINT


def replace_days(
    con: duckdb.DuckDBPyConnection, tname: TableName, body: str, date_column: str, first_day: object
) -> int:
    """Replace the rows of ``tname`` dated ``first_day`` or later with the result of ``body`` (one
    transaction); the rows written."""
    column = exp.to_identifier(date_column).sql(dialect="duckdb")
    with _unchanged_on_error(tname, body), transaction(con):
        con.execute(f"DELETE FROM {tname} WHERE {column} >= ?", [first_day])
        written = con.execute(f"INSERT INTO {tname} BY NAME {body}").fetchone()
        return int(written[0]) if written else 0


@contextmanager
def _unchanged_on_error(tname: TableName, body: str) -> Iterator[None]:
    """DuckDB's errors as :class:`WarehouseError` saying that ``tname`` kept its previous rows."""
    unchanged = f"the previous version of {tname} (if any) is unchanged"
    try:
        yield
    except duckdb.InterruptException:
        raise QueryCancelled(f"query cancelled; {unchanged}") from None
    except duckdb.Error as err:
        raise WarehouseError(f"{_disk_full(err, tname)}{explain(err, body)}\n{unchanged}") from err
    except RuntimeError as err:
        raise _cancelled(err, unchanged) from None


# what the OS says when a file cannot grow: the disk is full (ENOSPC), or a size limit was hit (EFBIG)
_NO_ROOM = ("No space left on device", "File too large", "Disk quota exceeded")


def _disk_full(err: duckdb.Error, tname: TableName) -> str:
    """A first line saying so when a write failed because its file could not grow, else nothing."""
    message = str(err)
    if not any(reason in message for reason in _NO_ROOM):
        return ""
    return (
        f"the disk holding catalog {tname.catalog!r} ran out of room while writing {tname} (the file is "
        "named below): free space on that disk, or raise the process's file size limit, then run it again\n"
    )


def _write_once(
    con: duckdb.DuckDBPyConnection,
    body: str,
    tname: TableName,
    mode: WriteMode,
    params: dict[str, object] | None,
    profile: dict[str, Any] | None = None,
) -> int:
    """One atomic attempt: everything inside a transaction, rolled back on any error."""
    with transaction(con):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {tname.catalog}.{tname.schema}")
        with _profiled(con, profile):
            if mode == "overwrite":
                con.execute(f"CREATE OR REPLACE TABLE {tname} AS {body}", params or None)
            elif has_table(con, tname):
                con.execute(f"INSERT INTO {tname} BY NAME {body}", params or None)
            else:
                con.execute(f"CREATE TABLE {tname} AS {body}", params or None)
        return _count(con, tname)


def _locked(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute("SELECT current_setting('lock_configuration')").fetchone()
    return bool(row and row[0])


@contextmanager
def _profiled(con: duckdb.DuckDBPyConnection, profile: dict[str, Any] | None) -> Iterator[None]:
    """Within the block (one statement), DuckDB profiles; its JSON profile is put into ``profile``."""
    if profile is None or _locked(con):  # locked for untrusted SQL: the same write, without a profile
        yield
        return
    con.execute("PRAGMA enable_profiling = 'no_output'")
    try:
        yield
    except BaseException:
        # the failed statement aborted the transaction, which refuses the PRAGMA: the statement's own
        # error is the one to raise (write_table retries a BIGINT overflow on it)
        with suppress(duckdb.Error):
            con.execute("PRAGMA disable_profiling")
        raise
    profile.clear()
    profile.update(json.loads(con.get_profiling_information(format="json")))
    con.execute("PRAGMA disable_profiling")


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


def replace_keeping(con: duckdb.DuckDBPyConnection, tname: TableName, kept: TableName, relation: str) -> None:
    """Replace ``tname`` with the rows of ``relation``, renaming the replaced table to ``kept`` (a
    rename, not a copy), in one transaction."""
    try:
        with transaction(con):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {tname.catalog}.{tname.schema}")
            con.execute(f"DROP TABLE IF EXISTS {kept}")
            if has_table(con, tname):
                con.execute(f"ALTER TABLE {tname} RENAME TO {kept.name}")
            con.execute(f"CREATE TABLE {tname} AS SELECT * FROM {relation}")
    except duckdb.Error as err:
        raise WarehouseError(f"{err}\nthe previous version of {tname} (if any) is unchanged") from err


def replace_partitions(
    con: duckdb.DuckDBPyConnection, tname: TableName, relation: str, by: Sequence[str]
) -> int:
    """Add the rows of ``relation`` to ``tname``, first deleting the rows that share a value of ``by``
    with them (so writing the same partition twice keeps one copy), in one transaction. Columns the
    table lacks are added (older rows read NULL); the table's row count after."""
    keys = ", ".join(f'"{c}"' for c in by)
    try:
        with transaction(con):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {tname.catalog}.{tname.schema}")
            if not has_table(con, tname):
                con.execute(f"CREATE TABLE {tname} AS SELECT * FROM {relation}")
                return _count(con, tname)
            have = {row[0] for row in con.execute(f"DESCRIBE {tname}").fetchall()}
            for name, kind, *_ in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall():
                if name not in have:
                    con.execute(f'ALTER TABLE {tname} ADD COLUMN "{name}" {kind}')
            con.execute(f"DELETE FROM {tname} WHERE ({keys}) IN (SELECT DISTINCT {keys} FROM {relation})")
            con.execute(f"INSERT INTO {tname} BY NAME SELECT * FROM {relation}")
            return _count(con, tname)
    except duckdb.Error as err:
        raise WarehouseError(f"{err}\nthe previous version of {tname} (if any) is unchanged") from err


def restore(con: duckdb.DuckDBPyConnection, tname: TableName, kept: TableName) -> int | None:
    """Put table ``kept`` back as ``tname`` in one transaction; its row count, or None when none was kept."""
    if not has_table(con, kept):
        return None
    with transaction(con):
        con.execute(f"DROP TABLE IF EXISTS {tname}")
        con.execute(f"ALTER TABLE {kept} RENAME TO {tname.name}")
        return _count(con, tname)


def copy_to(con: duckdb.DuckDBPyConnection, query: str, path: str | Path, fmt: ExportFormat) -> int:
    """Write a query's result straight to a file from DuckDB (no detour through Python); its row count."""
    options = _EXPORT_OPTIONS[fmt]
    target = str(Path(path).resolve()).replace("'", "''")
    try:
        con.execute(f"COPY ({query}) TO '{target}' ({options})")
        row = con.execute(f"SELECT count(*) FROM ({query})").fetchone()
    except duckdb.Error as err:
        raise WarehouseError(explain(err, query)) from err
    return int(row[0]) if row else 0


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """The block in one transaction: committed at its end, rolled back on any error."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def has_table(con: duckdb.DuckDBPyConnection, tname: TableName) -> bool:
    """Whether ``tname`` exists in the catalogs attached to ``con``."""
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog=? AND table_schema=? "
        "AND table_name=?",
        [tname.catalog, tname.schema, tname.name],
    ).fetchone()
    return bool(found and found[0])


def _count(con: duckdb.DuckDBPyConnection, tname: TableName) -> int:
    row = con.execute(f"SELECT count(*) FROM {tname}").fetchone()
    return int(row[0]) if row else 0


def _cancelled(err: RuntimeError, outcome: str) -> BaseException:
    # DuckDB turns SIGINT during execution into RuntimeError("Query interrupted")
    if "interrupt" in str(err).lower():
        return QueryCancelled(f"query cancelled; {outcome}")
    return err

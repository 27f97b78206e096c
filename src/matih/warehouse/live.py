"""Live sources: PostgreSQL schemas read in place through DuckDB's postgres extension.

A live source keeps the names its ingested copy would have (``postgresql.inventory.warehouses``): every
connection ATTACHes the PostgreSQL database read-only under the source's alias, and statements that name the
source's ``catalog.schema`` are rewritten (with sqlglot) to point at ``alias.pg_schema`` instead.

The extension comes from the ``duckdb-extension-postgres`` wheel and is LOADed by path: nothing is
downloaded, and connections never auto-install extensions.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

from matih.exceptions import WarehouseError
from matih.state import write_bytes_atomic


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


def attach_live(con: duckdb.DuckDBPyConnection, source: LiveSource) -> None:
    """ATTACH ``source`` read-only under its alias; an unreachable server is a :class:`WarehouseError`."""
    try:
        con.execute(f"LOAD '{postgres_extension()}'")
        con.execute(f"ATTACH '{source.dsn}' AS {source.alias} (TYPE postgres, READ_ONLY)")
    except duckdb.Error as err:
        text = str(err)
        if source.secret:
            text = text.replace(source.secret, "***")
        raise WarehouseError(
            f"cannot reach live source {source.catalog}.{source.schema}: {text.splitlines()[0]}"
        ) from None


def federate(stmt: str, live: Sequence[LiveSource]) -> str:
    """``stmt`` with references to a live source's ``catalog.schema`` pointed at its ATTACHed database."""
    lowered = stmt.lower()
    # most statements name no live source: skip parsing them
    wanted = [s for s in live if f"{s.catalog}.{s.schema}".lower() in lowered]
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


def postgres_extension() -> str:
    """Path of DuckDB's postgres extension from the ``duckdb-extension-postgres`` wheel, under the file name
    DuckDB loads it by (nothing is downloaded)."""
    try:
        import duckdb_extension_postgres  # only live sources need it: without it the rest still works
    except ImportError as err:
        raise WarehouseError(
            "live sources need DuckDB's postgres extension: pip install duckdb-extension-postgres"
        ) from err
    folder = Path(duckdb_extension_postgres.__file__).parent / "extensions"
    built = folder / f"v{duckdb.__version__}" / "postgres.duckdb_extension"
    if not built.is_file():
        raise WarehouseError(f"duckdb-extension-postgres has no build for DuckDB {duckdb.__version__}")
    # LOAD by path requires the file to be named after the extension's internal name
    target = (
        Path(tempfile.gettempdir())
        / f"matih-duckdb-{duckdb.__version__}"
        / "postgres_scanner.duckdb_extension"
    )
    if not target.exists() or target.stat().st_size != built.stat().st_size:
        _copy_atomically(built, target)
    return str(target)


def _copy_atomically(source: Path, target: Path) -> None:
    """Copy the bytes of ``source`` to ``target`` through a temporary file and a rename: another process
    loading ``target`` at the same moment sees the old file or the whole new one."""
    write_bytes_atomic(target, source.read_bytes())

"""``source-postgres``: tables of a PostgreSQL database, read with dlt's ``sql_database`` source.

``replication_method: standard`` reads whole tables (full refresh) or the rows whose ``cursor_field``
moved past the last sync (incremental, merged on the table's primary key). Rows stream as Arrow
batches (the ``pyarrow`` backend). Each stream is looked up in the spec's ``schemas`` in order.
"""

from __future__ import annotations

import logging
from typing import Any

from matih.exceptions import SourceError
from matih.sources.connector import Connector, StreamInfo, SyncContext

BATCH_ROWS = 50_000


def engine_for(config: dict[str, Any], source: str) -> Any:
    """A SQLAlchemy engine for the configured server; its repr and errors never show the password."""
    import sqlalchemy as sa

    if config.get("replication_method", {}).get("method", "standard") != "standard":
        raise SourceError(
            f"replication_method {config['replication_method']['method']!r} is not built yet; use 'standard'",
            source=source,
        )
    url = sa.engine.URL.create(
        "postgresql+psycopg2",
        username=config.get("username"),
        password=config.get("password"),
        host=config["host"],
        port=int(config.get("port", 5432)),
        database=config["database"],
    )
    # a connection lost mid-read makes SQLAlchemy's pool log a traceback on closing its cursor; the sync
    # reports the loss itself (_explain), in one line
    logging.getLogger("sqlalchemy.pool").setLevel(logging.CRITICAL)
    return sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})


def _locate(engine: Any, schemas: list[str], table: str, source: str) -> tuple[str, list[str]]:
    """(schema holding ``table``, its primary-key columns); clear errors for a down or wrong server."""
    import sqlalchemy as sa

    try:
        inspector = sa.inspect(engine)
        for schema in schemas:
            if inspector.has_table(table, schema=schema):
                return schema, list(inspector.get_pk_constraint(table, schema=schema)["constrained_columns"])
    except sa.exc.OperationalError as err:
        raise _connection_error(err, source, table) from None
    raise SourceError(
        f"table {table!r} not found in schema(s) {', '.join(schemas)} of database "
        f"{engine.url.database!r}; check the stream name or config.schemas",
        source=source,
        stream=table,
    )


def _connection_error(err: Exception, source: str, stream: str | None) -> SourceError:
    text = str(getattr(err, "orig", err)).strip().splitlines()[0]
    if "password authentication failed" in text or ("role" in text and "does not exist" in text):
        return SourceError(
            f"PostgreSQL refused the login ({text}); check config.username and the variable named in "
            "config.password",
            source=source,
            stream=stream,
        )
    return SourceError(f"cannot reach PostgreSQL: {text}", source=source, stream=stream, transient=True)


# what libpq and the server say when a connection is gone: the server stopped, restarted or is unreachable
_CONNECTION_LOST = (
    "connection already closed",
    "server closed the connection",
    "terminating connection",
    "connection refused",
    "could not connect",
    "could not receive data",
    "could not send data",
    "ssl syscall",
    "connection to server",
)


def _explain(err: BaseException, source: str) -> SourceError | None:
    """A lost connection or a server error met mid-sync, in words (see :attr:`Connector.explain`)."""
    import sqlalchemy as sa

    if not isinstance(err, sa.exc.DBAPIError):
        return None
    text = str(getattr(err, "orig", err)).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if err.connection_invalidated or any(part in text.lower() for part in _CONNECTION_LOST):
        return SourceError(
            f"lost the connection to PostgreSQL during the sync ({text}); nothing was loaded and the "
            "cursors did not move: run the sync again once the server answers",
            source=source,
            transient=True,
        )
    if isinstance(err, sa.exc.OperationalError):
        return SourceError(
            f"PostgreSQL failed the sync's query ({text}); nothing was loaded", source=source, transient=True
        )
    return None


def _resources(ctx: SyncContext) -> list[Any]:
    import dlt
    from dlt.sources.sql_database import sql_table

    engine = engine_for(ctx.config, ctx.source)
    schemas = ctx.config.get("schemas") or ["public"]
    resources = []
    for stream in ctx.streams:
        schema, primary_key = _locate(engine, schemas, stream.name, ctx.source)
        key = stream.primary_key or primary_key
        incremental = stream.sync_mode == "incremental"
        if incremental and not stream.cursor_field:
            raise SourceError(
                f'incremental stream {stream.name!r} needs a cursor_field (e.g. "updated_at")',
                source=ctx.source,
                stream=stream.name,
            )
        if incremental and not key:
            raise SourceError(
                f"table {stream.name!r} has no primary key to merge changed rows on: add one in PostgreSQL "
                "or set the stream's primary_key",
                source=ctx.source,
                stream=stream.name,
            )
        resource = sql_table(
            credentials=engine,
            table=stream.name,
            schema=schema,
            backend="pyarrow",
            chunk_size=BATCH_ROWS,
            incremental=dlt.sources.incremental(stream.cursor_field) if stream.cursor_field else None,
            write_disposition="merge" if incremental else "replace",
            primary_key=key or (),
            reflection_level="full",
        )
        resources.append(resource)
    return resources


CONNECTOR = Connector(
    name="source-postgres",
    streams={"*": StreamInfo(("*",))},
    destination=lambda spec, _name: ("postgresql", getattr(spec.config, "database", "postgres")),
    resources=_resources,
    explain=_explain,
)

__all__ = ["CONNECTOR"]

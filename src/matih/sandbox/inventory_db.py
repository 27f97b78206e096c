"""NovaMart's inventory system as a PostgreSQL database.

Tables ``inventory``, ``supplier_shipments`` and ``warehouses``.

The database shows the world as of the sandbox clock: shipments ordered after it do not exist yet, ones
received after it are still in transit. Advancing the clock a day inserts the day's new shipments,
receives the ones that arrived and moves stock for what sold, as the real system would.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from matih.exceptions import SandboxError
from matih.sandbox.postgres import PostgresServer

DATABASE = "inventory"
READER_ROLE = "inventory_reader"

_DDL = """
CREATE TABLE warehouses (
    warehouse_id   text PRIMARY KEY,
    name           text NOT NULL,
    city           text NOT NULL,
    capacity_units integer NOT NULL
);
CREATE TABLE inventory (
    product_id       text NOT NULL,
    warehouse_id     text NOT NULL REFERENCES warehouses (warehouse_id),
    quantity_on_hand integer NOT NULL,
    reorder_point    integer NOT NULL,
    updated_at       timestamp NOT NULL,
    PRIMARY KEY (product_id, warehouse_id)
);
CREATE TABLE supplier_shipments (
    shipment_id  bigint PRIMARY KEY,
    product_id   text NOT NULL,
    warehouse_id text NOT NULL REFERENCES warehouses (warehouse_id),
    supplier_id  bigint NOT NULL,
    quantity     integer NOT NULL,
    ordered_at   timestamp NOT NULL,
    expected_at  timestamp NOT NULL,
    received_at  timestamp,
    status       text NOT NULL,
    updated_at   timestamp NOT NULL
);
CREATE INDEX supplier_shipments_updated_at ON supplier_shipments (updated_at);
"""

# the world's shipments, shown as they stood at the end of day $as_of
_SHIPMENTS_AS_OF = """
SELECT shipment_id, product_id, warehouse_id, supplier_id, quantity, ordered_at, expected_at,
       CASE WHEN received_at < $cutoff THEN received_at END AS received_at,
       CASE WHEN received_at < $cutoff THEN 'received' ELSE 'in_transit' END AS status,
       CASE WHEN received_at < $cutoff THEN received_at ELSE ordered_at END AS updated_at
FROM world.source.supplier_shipments
WHERE ordered_at < $cutoff AND ordered_at >= $since
ORDER BY shipment_id
"""


def _cutoff(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time())


@contextmanager
def _admin(server: PostgresServer, database: str = "postgres") -> Iterator[Any]:
    import psycopg2

    # the unix socket in the server folder: local connections are trusted, TCP ones need a password
    con = psycopg2.connect(host=str(server.folder), port=server.port, dbname=database, user=server.superuser)
    con.autocommit = False
    try:
        yield con
        con.commit()
    except BaseException:
        con.rollback()
        raise
    finally:
        con.close()


def _copy(cur: Any, table: str, rows: pa.Table) -> None:
    if rows.num_rows == 0:
        return
    buffer = io.BytesIO()
    pacsv.write_csv(rows, buffer, pacsv.WriteOptions(include_header=False))
    buffer.seek(0)
    cur.copy_expert(f"COPY {table} ({', '.join(rows.column_names)}) FROM STDIN WITH (FORMAT csv)", buffer)


def _world(world_db: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"ATTACH '{world_db}' AS world (READ_ONLY)")
    return con


def create_inventory_db(server: PostgresServer, world_db: Path, as_of: dt.date, reader_password: str) -> None:
    """(Re)create the ``inventory`` database from the world as of ``as_of`` and its read-only role."""
    import psycopg2.extensions
    from psycopg2 import sql

    with _admin(server) as con:
        con.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        cur = con.cursor()
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (READER_ROLE,))
        verb = "ALTER" if cur.fetchone() else "CREATE"
        cur.execute(
            sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(READER_ROLE), sql.Literal(reader_password)
            )
        )
    cutoff = _cutoff(as_of)
    world = _world(world_db)
    try:
        warehouses = world.execute("SELECT * FROM world.source.warehouses").to_arrow_table()
        inventory = world.execute(
            "SELECT product_id, warehouse_id, quantity_on_hand, reorder_point,"
            " least(updated_at, $cutoff - INTERVAL 1 HOUR) AS updated_at FROM world.source.inventory",
            {"cutoff": cutoff},
        ).to_arrow_table()
        shipments = world.execute(_SHIPMENTS_AS_OF, {"cutoff": cutoff, "since": dt.datetime(1970, 1, 1)})
        shipments_table = shipments.to_arrow_table()
    finally:
        world.close()
    with _admin(server, DATABASE) as con:
        cur = con.cursor()
        cur.execute(_DDL)
        _copy(cur, "warehouses", warehouses)
        _copy(cur, "inventory", inventory)
        _copy(cur, "supplier_shipments", shipments_table)
        cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER_ROLE}")
        cur.execute("ANALYZE")


def advance_inventory_db(server: PostgresServer, world_db: Path, day: dt.date) -> dict[str, int]:
    """Apply day ``day`` to the database: new shipments, received shipments, stock moved by sales."""
    start, cutoff = dt.datetime.combine(day, dt.time()), _cutoff(day)
    world = _world(world_db)
    try:
        new = world.execute(_SHIPMENTS_AS_OF, {"cutoff": cutoff, "since": start}).to_arrow_table()
        received = world.execute(
            "SELECT shipment_id, received_at FROM world.source.supplier_shipments"
            " WHERE received_at >= $start AND received_at < $cutoff AND ordered_at < $start",
            {"start": start, "cutoff": cutoff},
        ).to_arrow_table()
        moves = world.execute(
            """
            WITH sold AS (
                SELECT oi.product_id, sum(oi.quantity) AS units
                FROM world.source.order_items oi JOIN world.source.orders o USING (order_id)
                WHERE o.created_at >= $start AND o.created_at < $cutoff GROUP BY ALL
            ), arrived AS (
                SELECT product_id, sum(quantity) AS units FROM world.source.supplier_shipments
                WHERE received_at >= $start AND received_at < $cutoff GROUP BY ALL
            )
            SELECT product_id, coalesce(a.units, 0)::BIGINT - coalesce(s.units, 0)::BIGINT AS delta
            FROM sold s FULL JOIN arrived a USING (product_id)
            """,
            {"start": start, "cutoff": cutoff},
        ).to_arrow_table()
    finally:
        world.close()
    stamp = start + dt.timedelta(hours=23)
    try:
        with _admin(server, DATABASE) as con:
            cur = con.cursor()
            _copy(cur, "supplier_shipments", new)
            cur.execute("CREATE TEMP TABLE received (shipment_id bigint, received_at timestamp)")
            _copy(cur, "received", received)
            cur.execute(
                "UPDATE supplier_shipments s SET status = 'received', received_at = r.received_at,"
                " updated_at = r.received_at FROM received r WHERE s.shipment_id = r.shipment_id"
            )
            cur.execute("CREATE TEMP TABLE moves (product_id text, delta bigint)")
            _copy(cur, "moves", moves)
            cur.execute(
                "UPDATE inventory i SET quantity_on_hand = greatest(i.quantity_on_hand + m.delta, 0),"
                " updated_at = %s FROM moves m WHERE i.product_id = m.product_id",
                (stamp,),
            )
            moved = cur.rowcount
    except Exception as err:  # psycopg2 errors carry no secrets: connection is over the trusted socket
        raise SandboxError(f"could not advance the inventory database to {day}: {err}") from err
    return {"new_shipments": new.num_rows, "received_shipments": received.num_rows, "inventory_moved": moved}

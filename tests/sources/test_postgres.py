"""source-postgres against the sandbox's real PostgreSQL server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from matih.exceptions import SourceError
from matih.sandbox import server
from matih.sandbox.postgres import PostgresServer
from matih.sources import sync

SOURCE = "inventory-db"


def _pg_rows(served, table: str) -> int:
    import psycopg2

    ep = served.endpoints
    secrets = server.sandbox_secrets(served.ws)
    with (
        psycopg2.connect(
            host=ep.postgres_host,
            port=ep.postgres_port,
            dbname=ep.postgres_database,
            user=ep.postgres_user,
            password=secrets["INVENTORY_DB_PASSWORD"],
        ) as con,
        con.cursor() as cur,
    ):
        cur.execute(f"SELECT count(*) FROM {table}")
        return int(cur.fetchone()[0])


def test_sync_copies_tables_and_incremental_picks_up_changes(served) -> None:
    run = sync(served.ws, SOURCE, full_refresh=True)
    counts = {s.name: s.rows for s in run.streams}
    for table in ("inventory", "supplier_shipments", "warehouses"):
        assert counts[table] == _pg_rows(served, table)
        assert served.warehouse(f"SELECT count(*) FROM inventory.{table}")[0][0] == _pg_rows(served, table)
    assert counts["inventory"] == 300

    server.advance(served.ws)
    day = served.clock()
    start = dt.datetime.combine(day, dt.time())
    cut = start + dt.timedelta(days=1)
    (changed,) = served.world(
        "SELECT count(*) FROM source.supplier_shipments WHERE (ordered_at >= $s AND ordered_at < $c)"
        " OR (received_at >= $s AND received_at < $c AND ordered_at < $s)",
        {"s": start, "c": cut},
    )[0]
    run = sync(served.ws, SOURCE)
    shipments = next(s for s in run.streams if s.name == "supplier_shipments")
    assert shipments.rows == changed
    assert (
        served.warehouse("SELECT count(*) - count(DISTINCT shipment_id) FROM inventory.supplier_shipments")[
            0
        ][0]
        == 0
    )
    assert served.warehouse("SELECT count(*) FROM inventory.supplier_shipments")[0][0] == _pg_rows(
        served, "supplier_shipments"
    )
    # the day's sales moved stock: the full-refresh table shows the new quantities
    moved = served.warehouse(f"SELECT count(*) FROM inventory.inventory WHERE updated_at >= '{start}'")[0][0]
    assert moved > 0

    # a full refresh replaces the table: a row the source no longer has is gone afterwards
    path = served.ws.warehouse_dir / "postgresql.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "INSERT INTO inventory.supplier_shipments (shipment_id, product_id, warehouse_id, supplier_id,"
            " quantity, ordered_at, expected_at, status, updated_at)"
            " VALUES (-1, 'PRD-STALE', 'WH-1', 1, 1, now(), now(), 'lost', now())"
        )
    sync(served.ws, SOURCE, full_refresh=True)
    assert served.warehouse("SELECT count(*) FROM inventory.supplier_shipments WHERE shipment_id = -1") == [
        (0,)
    ]
    assert served.warehouse("SELECT count(*) FROM inventory.supplier_shipments")[0][0] == _pg_rows(
        served, "supplier_shipments"
    )


def test_database_going_away_keeps_tables_and_rerun_completes(served) -> None:
    sync(served.ws, SOURCE)
    before = served.warehouse("SELECT count(*), sum(quantity_on_hand) FROM inventory.inventory")
    pg = PostgresServer(Path(served.endpoints.extra["postgres_folder"]), port=served.endpoints.postgres_port)
    pg.stop()
    try:
        with pytest.raises(SourceError) as failure:
            sync(served.ws, SOURCE, full_refresh=True)
        assert failure.value.transient
        assert "cannot reach PostgreSQL" in str(failure.value)
        assert served.warehouse("SELECT count(*), sum(quantity_on_hand) FROM inventory.inventory") == before
    finally:
        pg.start()
    run = sync(served.ws, SOURCE, full_refresh=True)
    assert {s.name: s.rows for s in run.streams}["inventory"] == 300


def test_a_connection_lost_inside_dlt_is_reported_in_one_clear_line() -> None:
    """The drill's finding: PostgreSQL restarted mid-sync surfaced as dlt's PipelineStepFailed wrapping
    ``InterfaceError: connection already closed``. The connector's explain finds it in the chain."""
    import psycopg2
    import sqlalchemy as sa

    from matih.sources.connector import connector_for
    from matih.sources.sync import _explained

    connector = connector_for("source-postgres")
    lost = sa.exc.InterfaceError("SELECT 1", None, psycopg2.InterfaceError("connection already closed"))
    try:
        try:
            raise lost
        except sa.exc.InterfaceError as inner:
            raise RuntimeError("Pipeline execution failed at `step=extract`") from inner
    except RuntimeError as outer:
        clear = _explained(connector, outer, SOURCE)
    assert isinstance(clear, SourceError) and clear.transient
    assert "lost the connection to PostgreSQL during the sync (connection already closed)" in str(clear)
    assert "run the sync again" in str(clear)
    other = sa.exc.ProgrammingError("SELECT x", None, psycopg2.ProgrammingError("column x does not exist"))
    assert _explained(connector, other, SOURCE) is other

"""A source declared ``mode: live`` is read straight from PostgreSQL through DuckDB's postgres extension."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from matih.exceptions import SourceError
from matih.query import run_sql
from matih.sandbox import server
from matih.sources import sync
from matih.sources.live import live_warehouse
from matih.workspace import Workspace
from tests.conftest import EXAMPLE


def test_a_row_inserted_a_moment_ago_is_seen_without_a_sync(served, tmp_path, monkeypatch) -> None:
    import psycopg2

    root = tmp_path / "ws"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".matih"))
    ep = served.endpoints
    spec = json.loads((root / "sources" / "inventory-db.json").read_text())
    spec["config"].update(
        host=ep.postgres_host,
        port=ep.postgres_port,
        username=ep.postgres_user,
        password="${INVENTORY_DB_PASSWORD}",
        mode="live",
    )
    (root / "sources" / "inventory-db.json").write_text(json.dumps(spec))
    (root / "matih.yaml").write_text("name: live\n")  # production endpoints: the spec as written
    secret = server.sandbox_secrets(served.ws)["INVENTORY_DB_PASSWORD"]
    monkeypatch.setenv("INVENTORY_DB_PASSWORD", secret)
    ws = Workspace(root)
    wh = live_warehouse(ws)
    count = "SELECT count(*) AS n FROM postgresql.inventory.warehouses"
    before = wh.query(count)["n"][0].as_py()
    assert before == 5
    admin = psycopg2.connect(
        host=str(Path(ep.extra["postgres_folder"])),
        port=ep.postgres_port,
        dbname="inventory",
        user="postgres",
    )
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute("INSERT INTO warehouses VALUES ('WH-LIVE', 'Live Test', 'Nowhere', 1)")
        # seen at once, through the seed's Trino-style names and the query service
        assert wh.query(count)["n"][0].as_py() == before + 1
        result = run_sql(
            wh,
            "SELECT name FROM postgresql.inventory.warehouses WHERE warehouse_id = 'WH-LIVE'",
            dialect="trino",
        )
        assert result[-1].table.to_pylist() == [{"name": "Live Test"}]
        # joins run inside the live source too
        joined = wh.query(
            "SELECT count(*) AS n FROM postgresql.inventory.inventory i"
            " JOIN postgresql.inventory.warehouses w USING (warehouse_id)"
        )
        assert joined["n"][0].as_py() == 300
    finally:
        with admin.cursor() as cur:
            cur.execute("DELETE FROM warehouses WHERE warehouse_id = 'WH-LIVE'")
        admin.close()
    with pytest.raises(SourceError, match="live"):
        sync(ws, "inventory-db")
    # the catalog lists the live tables under the names queries use
    from matih.catalog.tables import refresh

    listed = refresh(ws).get("postgresql.inventory.warehouses")
    assert listed.rows == 5 and (listed.origin or "").startswith("live")
    assert secret not in (ws.state / "catalog" / "catalog.json").read_text()
    # the password never shows, not even when the server refuses the login
    monkeypatch.setenv("INVENTORY_DB_PASSWORD", secret + "-wrong")
    with pytest.raises(Exception) as failure:
        live_warehouse(ws).query(count)
    assert secret not in str(failure.value) and "cannot reach live source" in str(failure.value)

"""source-file: CSV, JSON lines and Parquet from a glob, full refresh and incremental by file."""

from __future__ import annotations

import json
import os
import time

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from matih.sources import sync
from matih.workspace import Workspace


def _spec(ws: Workspace, name: str, path: str, fmt: str, mode: str, key: list[str] | None = None) -> None:
    (ws.root / "sources").mkdir(exist_ok=True)
    stream = {"name": "sales", "sync_mode": mode}
    if key:
        stream["primary_key"] = key
    spec = {
        "connector": "source-file",
        "config": {"path": path, "format": fmt},
        "streams": [stream],
        "schedule": {"type": "cron", "expression": "0 3 * * *"},
        "destination": {"catalog": "raw", "schema": "uploads"},
    }
    (ws.root / "sources" / f"{name}.json").write_text(json.dumps(spec))


def _rows(ws: Workspace, sql: str) -> list[tuple]:
    with duckdb.connect(str(ws.warehouse_dir / "raw.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_csv_glob_full_refresh_then_incremental_by_file(tmp_path) -> None:
    ws = Workspace.at(tmp_path / "ws")
    data = ws.root / "data"
    data.mkdir()
    (data / "a.csv").write_text("sku,day,qty\nA,2025-01-01,3\nB,2025-01-01,4\n")
    (data / "b.csv").write_text("sku,day,qty\nA,2025-01-02,5\n")
    _spec(ws, "uploads", "data/*.csv", "csv", "incremental", ["sku", "day"])
    run = sync(ws, "uploads")
    assert run.streams[0].rows == 3
    assert _rows(ws, "SELECT sum(qty) FROM uploads.sales") == [(12,)]
    # a corrected file and a new one: only they are read; the correction replaces its row
    time.sleep(0.01)
    (data / "b.csv").write_text("sku,day,qty\nA,2025-01-02,6\n")
    (data / "c.csv").write_text("sku,day,qty\nB,2025-01-03,1\n")
    future = time.time() + 5
    os.utime(data / "b.csv", (future, future))
    os.utime(data / "c.csv", (future, future))
    run = sync(ws, "uploads")
    assert run.streams[0].rows == 2
    assert _rows(ws, "SELECT count(*), sum(qty) FROM uploads.sales") == [(4, 14)]


def test_a_new_column_in_a_later_file_evolves_the_table(tmp_path) -> None:
    ws = Workspace.at(tmp_path / "ws")
    data = ws.root / "data"
    data.mkdir()
    (data / "a.csv").write_text("sku,day,qty\nA,2025-01-01,3\n")
    _spec(ws, "uploads", "data/*.csv", "csv", "incremental", ["sku", "day"])
    sync(ws, "uploads")
    (data / "b.csv").write_text("sku,day,qty,channel\nB,2025-01-02,5,web\n")
    future = time.time() + 5
    os.utime(data / "b.csv", (future, future))
    sync(ws, "uploads")
    assert _rows(ws, "SELECT sku, channel FROM uploads.sales ORDER BY sku") == [("A", None), ("B", "web")]


def test_parquet_and_jsonl(tmp_path) -> None:
    ws = Workspace.at(tmp_path / "ws")
    (ws.root / "data").mkdir()
    pq.write_table(pa.table({"sku": ["A", "B"], "qty": [1, 2]}), ws.root / "data" / "s.parquet")
    (ws.root / "data" / "s.jsonl").write_text('{"sku": "C", "qty": 7}\n{"sku": "D", "qty": 8}\n')
    _spec(ws, "pq", "data/*.parquet", "parquet", "full_refresh")
    assert sync(ws, "pq").streams[0].rows == 2
    _spec(ws, "pq", "data/*.jsonl", "jsonl", "full_refresh")
    assert sync(ws, "pq").streams[0].rows == 2
    assert _rows(ws, "SELECT string_agg(sku, '' ORDER BY sku) FROM uploads.sales") == [("CD",)]


def test_missing_files_name_the_path(tmp_path) -> None:
    import pytest

    from matih.exceptions import SourceError

    ws = Workspace.at(tmp_path / "ws")
    _spec(ws, "none", "nowhere/*.csv", "csv", "full_refresh")
    with pytest.raises(SourceError, match=r"nowhere/\*\.csv"):
        sync(ws, "none")


def test_an_unsupported_cursor_field_is_a_spec_error_not_ignored(tmp_path) -> None:
    import pytest

    from matih.exceptions import SpecError
    from tests.conftest import copy_example

    ws = Workspace(copy_example(tmp_path / "ws"))
    path = ws.root / "sources" / "shopify-orders.json"
    spec = json.loads(path.read_text())
    spec["streams"][0]["cursor_field"] = "created_at"
    path.write_text(json.dumps(spec))
    with pytest.raises(SpecError) as failure:
        sync(ws, "shopify-orders", endpoints="production")
    assert "$.streams[0].cursor_field" in str(failure.value) and "'updated_at'" in str(failure.value)


def test_fields_a_connector_cannot_honour_are_spec_errors(tmp_path) -> None:
    import pytest

    from matih.exceptions import SpecError
    from tests.conftest import copy_example

    ws = Workspace(copy_example(tmp_path / "ws"))
    path = ws.root / "sources" / "shopify-orders.json"
    original = json.loads(path.read_text())
    keyed = json.loads(json.dumps(original))
    keyed["streams"][1]["primary_key"] = ["title"]
    path.write_text(json.dumps(keyed))
    with pytest.raises(SpecError, match=r"primary_key"):
        sync(ws, "shopify-orders", endpoints="production")
    renamed = {**original, "transformation": {"schema_mapping": {"title": "name"}}}
    path.write_text(json.dumps(renamed))
    with pytest.raises(SpecError, match=r"\$\.transformation"):
        sync(ws, "shopify-orders", endpoints="production")


def test_on_spark_each_sync_lands_where_spark_reads_it(tmp_path, spark_warehouse) -> None:
    from matih.catalog.tables import refresh
    from matih.warehouse import warehouse_of

    ws = Workspace.at(tmp_path / "ws")
    # threads: 2 is the master the test session's Spark already runs (local[2]); one master per process
    (ws.root / "matih.yaml").write_text("name: ws\nwarehouse:\n  engine: spark\n  threads: 2\n")
    data = ws.root / "data"
    data.mkdir()
    (data / "a.csv").write_text("sku,day,qty\nA,2025-01-01,3\nB,2025-01-01,4\n")
    _spec(ws, "uploads", "data/*.csv", "csv", "incremental", ["sku", "day"])
    sync(ws, "uploads")
    wh = warehouse_of(ws)
    assert wh.engine == "spark"
    assert wh.query("SELECT sum(qty) AS s FROM raw.uploads.sales").column("s").to_pylist() == [7]
    # a correction merges by key in the landing file; Spark reads the merged table
    (data / "b.csv").write_text("sku,day,qty\nA,2025-01-01,6\nC,2025-01-02,1\n")
    future = time.time() + 5
    os.utime(data / "b.csv", (future, future))
    sync(ws, "uploads")
    got = wh.query("SELECT count(*) AS n, sum(qty) AS s FROM raw.uploads.sales")
    assert (got.column("n")[0].as_py(), got.column("s")[0].as_py()) == (3, 11)
    # the key dlt declared reaches the catalog through its published schema table
    assert refresh(ws).tables["raw.uploads.sales"].primary_key == ["sku", "day"]

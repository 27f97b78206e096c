"""The warehouse runs the seed's SQL verbatim, atomically, and agrees with an independent computation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from matih.exceptions import WarehouseError
from matih.warehouse import Warehouse, warehouse_of
from tests.shop_sql import FEATURES, shop_warehouse

SEED_COLUMNS = [
    "product_id",
    "sale_date",
    "units_sold",
    "revenue",
    "avg_selling_price",
    "avg_discount_pct",
    "sales_rolling_7d",
    "sales_rolling_14d",
    "sales_rolling_30d",
    "sales_volatility_30d",
    "sales_lag_7d",
    "sales_lag_14d",
    "sales_same_day_last_year",
    "day_of_week",
    "month",
    "is_weekend",
    "is_holiday_period",
    "category",
    "subcategory",
    "seasonal_flag",
    "quantity_on_hand",
    "reorder_point",
    "is_low_stock",
]


def test_feature_sql_matches_a_pandas_reference(loaded_workspace, small_world):
    wh = warehouse_of(loaded_workspace)
    got = wh.query("SELECT * FROM analytics.derived.demand_features").to_pandas()
    assert list(got.columns) == SEED_COLUMNS
    items = small_world.tables["order_items"].to_pandas()
    orders = small_world.tables["orders"].to_pandas()
    df = items.merge(orders[["order_id", "order_date"]], on="order_id")
    df["sale_date"] = df["order_date"].dt.normalize()
    df["product_id"] = df["product_id"].astype(str)
    daily = df.groupby(["product_id", "sale_date"]).agg(units_sold=("quantity", "sum")).reset_index()
    daily = daily.sort_values(["product_id", "sale_date"])
    g = daily.groupby("product_id")["units_sold"]
    daily["sales_rolling_7d"] = g.transform(lambda s: s.rolling(7, min_periods=1).mean())
    daily["sales_volatility_30d"] = g.transform(lambda s: s.rolling(30, min_periods=2).std())
    daily["sales_lag_7d"] = g.shift(7)
    inv = small_world.tables["inventory"].to_pandas()
    daily = daily.merge(inv[["product_id", "quantity_on_hand", "reorder_point"]], on="product_id", how="left")
    daily["is_low_stock"] = (daily["quantity_on_hand"] <= daily["reorder_point"]).astype(int)
    daily = daily[daily["sale_date"] >= "2024-02-01"]
    got = got.sort_values(["product_id", "sale_date"]).reset_index(drop=True)
    ref = daily.reset_index(drop=True)
    assert len(got) == len(ref)
    assert (got["product_id"].to_numpy() == ref["product_id"].to_numpy()).all()
    for col in ("units_sold", "sales_rolling_7d", "sales_volatility_30d", "sales_lag_7d", "is_low_stock"):
        a = got[col].astype(float).to_numpy()
        b = ref[col].astype(float).to_numpy()
        assert np.allclose(a, b, equal_nan=True), col


def test_history_bucket_query_runs_verbatim(loaded_workspace):
    wh = warehouse_of(loaded_workspace)
    t = wh.query(loaded_workspace.query_path("history_buckets").read_text()).to_pandas()
    assert list(t.columns) == ["history_bucket", "product_count", "pct"]
    assert t["history_bucket"].tolist()[0] == "12+ months"
    assert t["pct"].sum() == pytest.approx(100, abs=0.3)


def test_failed_overwrite_keeps_the_previous_table(tmp_path):
    wh = Warehouse(tmp_path)
    wh.run("CREATE TABLE analytics.derived.t AS SELECT range AS x FROM range(5)")
    bad = (
        "CREATE TABLE analytics.derived.t AS "
        "SELECT CAST(CASE WHEN range < 3 THEN '1' ELSE 'x' END AS INT) AS x FROM range(10)"
    )
    with pytest.raises(WarehouseError, match=r"previous version of analytics\.derived\.t"):
        wh.run(bad)
    assert wh.query("SELECT count(*) AS n, sum(x) AS s FROM analytics.derived.t").to_pylist() == [
        {"n": 5, "s": 10}
    ]
    wh.run("CREATE TABLE analytics.derived.t AS SELECT 7 AS x")  # re-running a CREATE replaces
    assert wh.query("SELECT x FROM analytics.derived.t").to_pylist() == [{"x": 7}]


def test_append_and_target_table(tmp_path):
    wh = Warehouse(tmp_path)
    wh.run("SELECT 1 AS a", target="analytics.s.t", write_mode="append")
    wh.run("SELECT 2 AS a", target="analytics.s.t", write_mode="append")
    assert sorted(r["a"] for r in wh.query("SELECT a FROM analytics.s.t").to_pylist()) == [1, 2]
    wh.run("SELECT 3 AS a", target="analytics.s.t", write_mode="overwrite")
    assert wh.query("SELECT a FROM analytics.s.t").to_pylist() == [{"a": 3}]


def test_unknown_catalog_is_a_clear_error_and_creates_nothing(tmp_path):
    wh = Warehouse(tmp_path)
    with pytest.raises(WarehouseError, match="nowhere"):
        wh.run("SELECT * FROM nowhere.s.t")
    assert "nowhere" not in wh.catalogs()


def test_row_limit_reports_truncation(tmp_path):
    wh = Warehouse(tmp_path)
    [res] = wh.run("SELECT range AS x FROM range(1000)", max_rows=10)
    assert res.table is not None and res.table.num_rows == 10 and res.truncated
    [res] = wh.run("SELECT range AS x FROM range(10)", max_rows=10)
    assert not res.truncated


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_formats(tmp_path, fmt):
    wh = Warehouse(tmp_path / "wh")
    path = tmp_path / f"out.{fmt}"
    assert wh.export("SELECT range AS x, 'a' AS y FROM range(3)", path, fmt) == 3
    if fmt == "csv":
        assert pd.read_csv(path)["x"].tolist() == [0, 1, 2]
    elif fmt == "json":
        assert [r["x"] for r in json.loads(path.read_text())] == [0, 1, 2]
    else:
        assert pq.read_table(path).column("x").to_pylist() == [0, 1, 2]


def test_integer_sums_are_stored_as_bigint_like_trino_and_postgres(tmp_path):
    wh = Warehouse(tmp_path)
    wh.run("CREATE TABLE analytics.s.t AS SELECT sum(range::INTEGER) AS total, 1.5 AS x FROM range(10)")
    types = wh.query("SELECT typeof(total) AS t FROM analytics.s.t").column("t").to_pylist()
    assert types == ["BIGINT"]
    assert wh.query("SELECT total FROM analytics.s.t").to_pylist() == [{"total": 45}]
    # beyond BIGINT the value is kept exactly, as HUGEINT
    wh.run("CREATE TABLE analytics.s.big AS SELECT sum(9223372036854775807::HUGEINT) AS v FROM range(2)")
    assert wh.query("SELECT typeof(v) AS t, v::VARCHAR AS v FROM analytics.s.big").to_pylist() == [
        {"t": "HUGEINT", "v": "18446744073709551614"}
    ]


def test_an_interrupted_write_keeps_the_previous_table(tmp_path) -> None:
    import threading
    import time

    from matih.exceptions import QueryCancelled

    wh = Warehouse(tmp_path / "wh")
    wh.run("CREATE TABLE analytics.derived.t AS SELECT 42 AS x")
    outcome: dict[str, BaseException] = {}

    def long_write() -> None:
        try:
            endless = "SELECT count(*) AS x FROM range(100000000000) r(i) WHERE i % 7 = 3"
            wh.run(f"CREATE TABLE analytics.derived.t AS {endless}")
        except BaseException as err:
            outcome["error"] = err

    worker = threading.Thread(target=long_write, daemon=True)
    worker.start()
    time.sleep(0.5)
    # interrupt until it takes: a call that lands before the statement starts has nothing to stop
    deadline = time.monotonic() + 20
    while worker.is_alive() and time.monotonic() < deadline:
        wh.interrupt()
        worker.join(0.2)
    assert not worker.is_alive()
    assert isinstance(outcome.get("error"), QueryCancelled), outcome
    assert wh.query("SELECT x FROM analytics.derived.t").to_pylist() == [{"x": 42}]


def test_swap_in_keeps_the_replaced_rows_and_restore_puts_them_back(tmp_path):
    import pyarrow as pa

    wh = Warehouse(tmp_path)
    assert wh.swap_in("analytics.f.t", pa.table({"v": ["blue"] * 3}), keep_as="t_previous") == 3
    assert not wh.table_exists("analytics.f.t_previous")  # nothing was there to keep
    wh.swap_in("analytics.f.t", pa.table({"v": ["green"] * 2}), keep_as="t_previous")
    assert wh.query("SELECT v FROM analytics.f.t").column(0).to_pylist() == ["green"] * 2
    assert wh.query("SELECT v FROM analytics.f.t_previous").column(0).to_pylist() == ["blue"] * 3
    with pytest.raises(WarehouseError):  # a failed swap changes nothing
        wh.swap_in("analytics.f.t", pa.table({"v": ["x"]}), keep_as="not a name; DROP")
    assert wh.query("SELECT count(*) FROM analytics.f.t").column(0)[0].as_py() == 2
    assert wh.restore_kept("analytics.f.t", kept_as="t_previous")
    assert wh.query("SELECT v FROM analytics.f.t").column(0).to_pylist() == ["blue"] * 3
    assert not wh.table_exists("analytics.f.t_previous")
    assert not wh.restore_kept("analytics.f.t", kept_as="t_previous")  # nothing kept any more


def test_every_committed_write_is_journaled_and_stamps_its_table(tmp_path):
    import pyarrow as pa

    wh = Warehouse(tmp_path)
    assert wh.last_write("analytics.s.t") is None
    wh.run("CREATE TABLE analytics.s.t AS SELECT 1 AS a")
    wh.write_arrow("analytics.s.t2", pa.table({"a": [1, 2]}), mode="append")
    with pytest.raises(WarehouseError):
        wh.run("CREATE TABLE analytics.s.t AS SELECT CAST('x' AS INT) AS a")  # failed: not journaled
    entries = [json.loads(line) for line in wh.writes_path.read_text().splitlines()]
    assert [(e["table"], e["mode"], e["rows"]) for e in entries] == [
        ("analytics.s.t", "overwrite", 1),
        ("analytics.s.t2", "append", 2),
    ]
    assert list(entries[0]) == ["table", "mode", "rows", "at"]
    assert wh.last_write("s.t") == f"1@{entries[0]['at']}"  # t2 contains t's name but is another table


def test_a_database_held_open_serves_calls_and_takes_new_catalogs(tmp_path):
    wh = Warehouse(tmp_path, hold_open_seconds=0.2)
    wh.run("CREATE TABLE analytics.s.t AS SELECT 1 AS a")
    assert wh.query("SELECT a FROM analytics.s.t").to_pylist() == [{"a": 1}]
    wh.run("CREATE TABLE other.s.t AS SELECT 2 AS a")  # a catalog the held database lacked
    assert wh.query("SELECT a FROM other.s.t").to_pylist() == [{"a": 2}]
    assert sorted(wh.catalogs()) == ["analytics", "other"]


def test_live_source_names_are_rewritten_to_the_attached_database():
    from matih.warehouse.live import LiveSource, federate

    source = LiveSource("postgresql", "inventory", "live_inventory_db", "host=h", pg_schema="public")
    sql = "SELECT * FROM postgresql.inventory.warehouses JOIN analytics.s.t USING (id)"
    rewritten = federate(sql, [source])
    assert "live_inventory_db.public.warehouses" in rewritten and "analytics.s.t" in rewritten
    assert federate("SELECT 1", [source]) == "SELECT 1"


def test_another_warehouse_in_the_process_gets_the_files_an_idle_held_database_has(tmp_path):
    """A process may attach a DuckDB file once. The HTTP API holds its database open between requests;
    catalog refreshes, lineage and live reloads in the same process open their own: the idle held one
    lets go at once, and one in use makes the other a retryable error, not a crash."""
    Warehouse(tmp_path).run("CREATE TABLE analytics.derived.t AS SELECT 1 AS x")
    held = Warehouse(tmp_path, hold_open_seconds=60)
    assert held.query("SELECT x FROM analytics.derived.t").num_rows == 1  # now held open, idle
    assert Warehouse(tmp_path).query("SELECT count(*) FROM analytics.derived.t").column(0)[0].as_py() == 1
    assert held.query("SELECT x FROM analytics.derived.t").num_rows == 1  # reopened on demand
    with held.connect():
        with pytest.raises(WarehouseError, match="held open") as busy:
            Warehouse(tmp_path).query("SELECT 1 FROM analytics.derived.t")
        assert busy.value.transient


def test_interrupt_by_label_stops_only_that_statement(tmp_path) -> None:
    import threading
    import time

    from matih.exceptions import QueryCancelled
    from matih.warehouse import Warehouse, labelled

    wh = Warehouse(tmp_path / "wh", hold_open_seconds=5.0)
    slow = "SELECT count(*) FROM range(100000000) a, range(100000) b WHERE (a.range + b.range) % 7 = 3"
    outcome: dict[str, object] = {}

    def run(label: str, sql: str) -> None:
        try:
            with labelled(label):
                outcome[label] = wh.run(sql)[-1].table
        except QueryCancelled as err:
            outcome[label] = err

    mine = threading.Thread(target=run, args=("mine", slow))
    mine.start()
    deadline = time.monotonic() + 10
    while not any(label == "mine" for _, label in wh._open) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert wh.interrupt("someone-else") == 0
    other = threading.Thread(target=run, args=("other", "SELECT 42"))
    other.start()
    other.join(10)
    assert wh.interrupt("mine") == 1
    mine.join(30)
    assert isinstance(outcome["mine"], QueryCancelled)
    assert outcome["other"].column(0).to_pylist() == [42]


def _plan(wh: Warehouse, sql: str, side) -> str:
    result = wh.run(f"EXPLAIN {sql}", join_build_side=side)[-1]
    assert result.table is not None
    return "\n".join(str(v) for v in result.table.column(1).to_pylist())


def test_join_build_side_as_written_keeps_the_left_join_and_the_rows(tmp_path):
    wh = shop_warehouse(tmp_path / "wh")
    # DuckDB 1.5 under-estimates the daily aggregate and builds the hash join on it (a RIGHT join with
    # the 3,000 products as the probe side): what "as_written" is for
    assert "RIGHT" in _plan(wh, FEATURES, "estimated")
    kept = _plan(wh, FEATURES, "as_written")
    assert "LEFT" in kept and "RIGHT" not in kept
    key = ["product_id", "day"]
    default = wh.run(FEATURES)[-1].table.to_pandas().sort_values(key, ignore_index=True)
    written = wh.run(FEATURES, join_build_side="as_written")[-1].table
    pd.testing.assert_frame_equal(written.to_pandas().sort_values(key, ignore_index=True), default)
    # a write with it lands the same rows, and the setting does not outlive its statement's database
    wh.run(f"CREATE TABLE shopdb.shop.daily AS {FEATURES}", join_build_side="as_written")
    assert wh.query("SELECT count(*) FROM shopdb.shop.daily").column(0)[0].as_py() == len(default)
    assert "RIGHT" in _plan(wh, FEATURES, "estimated")


def test_join_build_side_as_written_opens_its_own_database_beside_a_held_one(tmp_path):
    shop_warehouse(tmp_path / "wh")
    held = Warehouse(tmp_path / "wh", hold_open_seconds=5)
    assert "LEFT" in _plan(held, FEATURES, "as_written")
    assert "RIGHT" in _plan(held, FEATURES, "estimated")  # the held database is untouched


def test_the_seed_sql_gives_the_same_rows_with_join_sides_as_written(loaded_workspace):
    wh = warehouse_of(loaded_workspace)
    sql = loaded_workspace.query_path("demand_features").read_text()
    body = sql[sql.index("WITH daily_sales") :].rstrip().rstrip(";")
    key = ["product_id", "sale_date"]
    default = wh.run(body)[-1].table.to_pandas().sort_values(key, ignore_index=True)
    written = wh.run(body, join_build_side="as_written")[-1].table.to_pandas()
    pd.testing.assert_frame_equal(written.sort_values(key, ignore_index=True), default)
    assert len(default) > 1000

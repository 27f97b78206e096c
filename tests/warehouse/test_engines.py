"""The warehouse interface, held to the same behaviour on both engines: DuckDB files and Spark SQL over
Parquet. Each contract test runs once per engine; the cross-engine tests run the same SQL on both."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from matih.exceptions import WarehouseError
from matih.warehouse import Engine, Warehouse
from matih.warehouse.compare import differing_rows

from ..conftest import EXAMPLE

Make = Callable[[str], Engine]

ORDERS = pa.table(
    {
        "order_id": pa.array([1, 2, 3, 4], pa.int64()),
        "product_id": ["a", "a", "b", "c"],
        "order_date": pa.array(
            [dt.datetime(2026, 12, d, 10, tzinfo=dt.UTC) for d in (5, 6, 6, 7)], pa.timestamp("us", "UTC")
        ),
        "sale_date": [dt.date(2026, 12, d) for d in (5, 6, 6, 7)],
        "quantity": pa.array([1, 2, 3, 4], pa.int32()),
        "price": [9.5, 9.5, 20.0, None],
    }
)


@pytest.fixture(params=["duckdb", "spark"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Make:
    """A fresh warehouse of the parametrised engine in a folder of its own."""

    def build(folder: str = "wh") -> Engine:
        if request.param == "duckdb":
            return Warehouse(tmp_path / folder, threads=2, memory_limit="1GB")
        return request.getfixturevalue("spark_warehouse")(tmp_path / folder)

    return build


def rows(wh: Engine, sql: str) -> list[tuple]:
    table = wh.query(sql)
    return sorted(zip(*[c.to_pylist() for c in table.columns], strict=True))


def journal(wh: Engine) -> list[dict]:
    path = wh.writes_path
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# -- the contract, on each engine ------------------------------------------------------------------------
def test_the_seeds_names_resolve_as_written(make: Make):
    wh = make("wh")
    assert wh.write_arrow("postgresql.shopify.orders", ORDERS) == 4
    (result,) = wh.run(
        "CREATE TABLE analytics.derived.per_product AS "
        "SELECT o.product_id, sum(o.quantity) AS units FROM postgresql.shopify.orders o GROUP BY ALL"
    )
    assert result.kind == "write" and result.rows == 3 and result.target == "analytics.derived.per_product"
    # two-part names are in the analytics catalog, as DuckDB's USE analytics makes them
    assert rows(wh, "SELECT * FROM derived.per_product") == [("a", 3), ("b", 3), ("c", 4)]
    assert wh.table_exists("analytics.derived.per_product")
    assert not wh.table_exists("analytics.derived.nothing")
    assert set(map(str, wh.describe())) == {"postgresql.shopify.orders", "analytics.derived.per_product"}
    with pytest.raises(WarehouseError, match="does not exist"):
        wh.query("SELECT * FROM analytics.derived.nothing")


def test_a_failed_write_leaves_the_previous_table_and_journal(make: Make):
    wh = make("wh")
    wh.write_arrow("postgresql.shopify.orders", ORDERS)
    wh.run("CREATE TABLE analytics.derived.t AS SELECT product_id, quantity FROM postgresql.shopify.orders")
    before, written = rows(wh, "SELECT * FROM analytics.derived.t"), journal(wh)
    # fails while it runs, on the first row that is not a number (DuckDB and Spark's ANSI mode alike)
    with pytest.raises(WarehouseError):
        wh.run(
            "CREATE TABLE analytics.derived.t AS "
            "SELECT CAST(product_id AS INTEGER) AS n FROM postgresql.shopify.orders"
        )
    assert rows(wh, "SELECT * FROM analytics.derived.t") == before
    assert journal(wh) == written
    if wh.engine == "spark":  # nothing half-written is left beside the table
        assert len(list((wh.directory / "analytics" / "derived" / "t").iterdir())) == 1


def test_append_adds_rows_and_journals_the_mode(make: Make):
    wh = make("wh")
    wh.write_arrow("analytics.main.events", ORDERS.select(["order_id"]))
    wh.write_arrow("analytics.main.events", ORDERS.select(["order_id"]).slice(0, 2), mode="append")
    wh.run("CREATE TABLE analytics.main.events AS SELECT 9::BIGINT AS order_id", write_mode="append")
    assert rows(wh, "SELECT order_id FROM events") == [(1,), (1,), (2,), (2,), (3,), (4,), (9,)]
    assert [e["mode"] for e in journal(wh)] == ["overwrite", "append", "append"]


def test_arrow_round_trips_with_its_types(make: Make):
    wh = make("wh")
    wh.write_arrow("analytics.main.orders", ORDERS)
    back = wh.query("SELECT * FROM analytics.main.orders ORDER BY order_id")
    assert back.column_names == ORDERS.column_names
    for name in ORDERS.column_names:
        assert back.column(name).to_pylist() == ORDERS.column(name).to_pylist(), name
    assert wh.columns("analytics.main.orders") == [
        ("order_id", "BIGINT"),
        ("product_id", "VARCHAR"),
        ("order_date", "TIMESTAMP WITH TIME ZONE"),
        ("sale_date", "DATE"),
        ("quantity", "INTEGER"),
        ("price", "DOUBLE"),
    ]


def test_a_stream_of_batches_is_written_whole(make: Make):
    wh = make("wh")
    reader = pa.RecordBatchReader.from_batches(ORDERS.schema, ORDERS.to_batches(max_chunksize=1))
    assert wh.write_arrow("analytics.main.streamed", reader) == 4
    assert rows(wh, "SELECT count(*) FROM analytics.main.streamed") == [(4,)]


def test_swap_in_keeps_the_replaced_rows_for_a_rollback(make: Make):
    wh = make("wh")
    wh.write_arrow("analytics.forecasts.live", ORDERS.select(["order_id"]))
    wh.swap_in("analytics.forecasts.live", pa.table({"order_id": [7]}), keep_as="live_previous")
    assert rows(wh, "SELECT * FROM analytics.forecasts.live") == [(7,)]
    assert rows(wh, "SELECT count(*) FROM analytics.forecasts.live_previous") == [(4,)]
    assert wh.restore_kept("analytics.forecasts.live", kept_as="live_previous")
    assert rows(wh, "SELECT * FROM analytics.forecasts.live") == [(1,), (2,), (3,), (4,)]
    assert not wh.table_exists("analytics.forecasts.live_previous")
    assert not wh.restore_kept("analytics.forecasts.live", kept_as="live_previous")


def test_replace_partitions_holds_each_partition_once_and_adds_new_columns(make: Make):
    wh = make("wh")
    first = pa.table({"origin": ["d1", "d1", "d2"], "y": [1.0, 2.0, 3.0]})
    assert wh.replace_partitions("analytics.forecasts.history", first, by=["origin"]) == 3
    again = pa.table({"origin": ["d1"], "y": [10.0], "p90": [12.0]})
    assert wh.replace_partitions("analytics.forecasts.history", again, by=["origin"]) == 2
    assert rows(wh, "SELECT origin, y, p90 FROM analytics.forecasts.history") == [
        ("d1", 10.0, 12.0),
        ("d2", 3.0, None),
    ]


def test_replace_days_swaps_the_days_from_the_first_changed_one(make: Make):
    wh = make("wh")
    wh.write_arrow("postgresql.shopify.orders", ORDERS)
    body = "SELECT sale_date, sum(quantity) AS units FROM postgresql.shopify.orders GROUP BY ALL"
    wh.run(f"CREATE TABLE analytics.derived.daily AS {body}")
    wh.write_arrow(
        "postgresql.shopify.orders", ORDERS.set_column(4, "quantity", pa.array([5] * 4, pa.int32()))
    )
    written = wh.replace_days(
        "analytics.derived.daily",
        body + " HAVING sale_date >= DATE '2026-12-06'",
        "sale_date",
        dt.date(2026, 12, 6),
    )
    assert written == 2
    assert rows(wh, "SELECT * FROM analytics.derived.daily") == [
        (dt.date(2026, 12, 5), 1),  # before the first changed day: as it was
        (dt.date(2026, 12, 6), 10),
        (dt.date(2026, 12, 7), 5),
    ]


def test_a_partitioned_export_writes_one_hive_directory_per_value(make: Make, tmp_path: Path):
    wh = make("wh")
    wh.write_arrow("postgresql.shopify.orders", ORDERS)
    out = tmp_path / "export"
    sql = (
        "SELECT product_id, quantity, CASE WHEN product_id = 'a' THEN 0 ELSE 1 END AS part "
        "FROM postgresql.shopify.orders"
    )
    wh.export_partitioned(sql, out, "part")
    import duckdb

    for part, want in ((0, [("a", 1), ("a", 2)]), (1, [("b", 3), ("c", 4)])):
        files = str(out / f"part={part}" / "*.parquet")
        got = duckdb.sql(f"SELECT product_id, quantity FROM read_parquet('{files}', hive_partitioning=false)")
        assert sorted(got.fetchall()) == want
        assert "part" not in got.columns  # the partition is the directory, not a column of the files
    with pytest.raises(WarehouseError, match="SELECT"):
        wh.export_partitioned("DROP TABLE postgresql.shopify.orders", out, "part")
    assert wh.table_exists("postgresql.shopify.orders")


def test_positional_and_named_parameters(make: Make):
    wh = make("wh")
    wh.write_arrow("analytics.main.orders", ORDERS)
    got = wh.query("SELECT count(*) AS n FROM analytics.main.orders WHERE quantity > $low", params={"low": 1})
    assert got.column("n").to_pylist() == [3]
    with wh.cursor() as cursor:
        assert (
            cursor.execute("SELECT count(*) FROM analytics.main.orders WHERE quantity < ?", [3]).fetchone()[0]
            == 2
        )


# -- the same SQL, the same rows ---------------------------------------------------------------------------
@pytest.fixture
def both(tmp_path: Path, spark_warehouse) -> tuple[Engine, Engine]:
    return Warehouse(tmp_path / "duck", threads=2), spark_warehouse(tmp_path / "spark")


def test_functions_spelt_alike_mean_the_same(both):
    """sqlglot carries the syntax; these meanings differ between the engines and MATIH rewrites them."""
    days = pa.table({"d": [dt.date(2026, 11, 29) + dt.timedelta(days=i) for i in range(7)]})
    sql = (
        "SELECT d, EXTRACT(DOW FROM d) AS dow, dayofweek(d) AS dow2, EXTRACT(ISODOW FROM d) AS isodow, "
        "log(100) AS log10, ln(1) AS ln1, strftime(d, '%Y-%m') AS ym, "
        "date_diff('day', DATE '2026-11-01', d) AS n "
        "FROM analytics.main.days"
    )
    results = []
    for wh in both:
        wh.write_arrow("analytics.main.days", days)
        results.append(
            [tuple(map(lambda v: float(v) if isinstance(v, int | float) else v, r)) for r in rows(wh, sql)]
        )
    assert results[0] == results[1]
    assert results[0][0][1:4] == (0.0, 0.0, 7.0)  # 2026-11-29 is a Sunday


def test_the_seeds_feature_sql_gives_the_same_rows_on_both(both, small_world, tmp_path: Path):
    from matih.sandbox import load_world, save_world

    save_world(small_world, tmp_path / "sandbox")
    seed_sql = (EXAMPLE / "queries" / "demand_features.sql").read_text()
    built = []
    for wh in both:
        load_world(tmp_path / "sandbox", wh)
        (result,) = wh.run(seed_sql)
        built.append(wh.query("SELECT * FROM analytics.derived.demand_features"))
        assert result.rows == built[-1].num_rows
    duck, spark = built
    assert duck.num_rows > 10_000 and spark.num_rows == duck.num_rows
    assert spark.column_names == duck.column_names
    compare = Warehouse(tmp_path / "compare")
    compare.write_arrow("analytics.main.duck", duck)
    compare.write_arrow("analytics.main.spark", spark.cast(duck.schema))
    assert (
        differing_rows(compare, "analytics.main.duck", "analytics.main.spark", ["product_id", "sale_date"])
        == 0
    )


# -- what Spark refuses, and how -----------------------------------------------------------------------
REFUSED = r"not available on warehouse\.engine 'spark' \(matih\.yaml\)"


def test_spark_refuses_what_it_cannot_do_atomically_naming_the_setting(spark_warehouse, tmp_path: Path):
    wh = spark_warehouse(tmp_path / "spark")
    wh.write_arrow("analytics.main.orders", ORDERS)
    for statement in (
        "INSERT INTO analytics.main.orders SELECT * FROM analytics.main.orders",
        "DELETE FROM analytics.main.orders",
        "CREATE VIEW analytics.main.v AS SELECT 1",
    ):
        with pytest.raises(WarehouseError, match=REFUSED):
            wh.run(statement)
    with pytest.raises(WarehouseError, match="table functions .* " + REFUSED):
        wh.run("SELECT * FROM read_csv('/etc/passwd')")
    with pytest.raises(WarehouseError, match="calls Java methods"):
        wh.run("SELECT reflect('java.lang.System', 'getenv', 'HOME') AS home")
    assert rows(wh, "SELECT count(*) FROM analytics.main.orders") == [(4,)]


def test_incremental_refresh_is_refused_on_spark_naming_the_setting(spark_warehouse, tmp_path: Path):
    from matih.query.incremental import refresh
    from matih.warehouse.incremental import NotIncremental
    from matih.workspace import Workspace

    wh = spark_warehouse(tmp_path / "spark")
    with pytest.raises(NotIncremental, match=r"needs warehouse\.engine 'duckdb' \(matih\.yaml\)"):
        refresh(
            Workspace(tmp_path),
            wh,
            "SELECT DATE '2026-12-01' AS d",
            "analytics.main.x",
            date_column="d",
            lookback_days=1,
        )


def test_explain_and_describe_answer_on_both(make: Make):
    wh = make("wh")
    wh.write_arrow("analytics.main.orders", ORDERS)
    plan = wh.query("EXPLAIN SELECT product_id, sum(quantity) FROM analytics.main.orders GROUP BY 1")
    text = " ".join(map(str, plan.column(plan.num_columns - 1).to_pylist()))
    assert "quantity" in text.lower(), text
    described = wh.query("DESCRIBE analytics.main.orders")
    assert described.column(0).to_pylist()[:2] == ["order_id", "product_id"]
    assert described.column(1).to_pylist()[:2] == ["BIGINT", "VARCHAR"]

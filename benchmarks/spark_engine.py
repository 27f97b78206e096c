"""The seed's feature SQL at the seed's scale on the Spark warehouse (local, this machine) beside the embedded
DuckDB warehouse, in the same run.

    .venv/bin/python benchmarks/spark_engine.py [--bench-workdir /tmp/matih-bench]
        [--workdir /tmp/matih-spark] [--driver-memory 8GB]

Needs a seed-scale warehouse (``benchmarks/seed_scale.py`` leaves one in its ``--workdir``). Its source
tables are published into a Spark warehouse as a sync would publish them (streamed Arrow batches to
Parquet), then ``examples/novamart/queries/demand_features.sql`` runs as written on each engine. Writes
benchmarks/results/spark_engine.json.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import time
from pathlib import Path

import duckdb
from results_file import write_results  # benchmarks/ is the script's folder
from rich.console import Console
from rich.table import Table

from matih.warehouse import Warehouse
from matih.warehouse.spark_session import stop_sessions
from matih.warehouse.spark_warehouse import SparkWarehouse

HERE = Path(__file__).resolve().parent
SEED_SQL = HERE.parent / "examples" / "novamart" / "queries" / "demand_features.sql"
SOURCES = ("shopify.orders", "shopify.order_items", "inventory.inventory", "analytics.product_categories")
console = Console(width=140)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench-workdir", type=Path, default=Path("/tmp/matih-bench"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/matih-spark"))
    parser.add_argument("--driver-memory", default="8GB")
    args = parser.parse_args()
    source = args.bench_workdir / ".matih" / "warehouse" / "postgresql.duckdb"
    if not source.exists():
        raise SystemExit(f"no seed-scale warehouse at {source}: run benchmarks/seed_scale.py first")
    if args.workdir.exists():
        shutil.rmtree(args.workdir)
    figures: dict[str, object] = {}

    # DuckDB first, on a copy of the source catalog (the seed SQL writes only into analytics)
    duck = Warehouse(args.workdir / "duckdb")
    duck.directory.mkdir(parents=True)
    shutil.copy(source, duck.directory / "postgresql.duckdb")
    started = time.perf_counter()
    (result,) = duck.run(SEED_SQL.read_text())
    duck_seconds = time.perf_counter() - started
    figures["duckdb_seconds"] = round(duck_seconds, 1)
    figures["rows"] = result.rows
    console.print(f"DuckDB: {result.rows:,} rows in {figures['duckdb_seconds']} s")

    spark = SparkWarehouse(args.workdir / "spark", memory_limit=args.driver_memory)
    started = time.perf_counter()
    loaded = 0
    with duckdb.connect(str(source), read_only=True) as con:
        for name in SOURCES:
            reader = con.execute(f"SELECT * FROM {name}").to_arrow_reader(1_000_000)
            loaded += spark.write_arrow(f"postgresql.{name}", reader)
    figures["spark_publish_seconds"] = round(time.perf_counter() - started, 1)
    figures["published_rows"] = loaded
    console.print(f"published {loaded:,} source rows as Parquet in {figures['spark_publish_seconds']} s")
    started = time.perf_counter()
    _ = spark.spark  # start the session outside the timed query
    figures["spark_start_seconds"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    (result,) = spark.run(SEED_SQL.read_text())
    spark_seconds = time.perf_counter() - started
    figures["spark_seconds"] = round(spark_seconds, 1)
    figures["spark_rows"] = result.rows
    console.print(f"Spark {spark.master}: {result.rows:,} rows in {figures['spark_seconds']} s")
    stop_sessions()
    figures["peak_rss_gb_self"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    figures["peak_rss_gb_children"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20, 2)
    figures["spark_over_duckdb"] = round(spark_seconds / duck_seconds, 2)

    table = Table(title="the seed's feature SQL at seed scale")
    for column in ("engine", "seconds", "rows"):
        table.add_column(column, justify="right")
    table.add_row("DuckDB (embedded)", str(figures["duckdb_seconds"]), f"{figures['rows']:,}")
    table.add_row("Spark local", str(figures["spark_seconds"]), f"{figures['spark_rows']:,}")
    console.print(table)

    console.print(f"wrote {write_results('spark_engine', figures)}")


if __name__ == "__main__":
    main()

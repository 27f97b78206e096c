"""Incremental feature refresh at the seed's scale: one new day of orders, refreshed by days, against a
full rebuild of the same query in the same run (and the seed's own SQL, which cannot be refreshed by days).

    .venv/bin/python benchmarks/incremental.py [--seed-workdir /tmp/matih-seed] [--workdir /tmp/matih-incr]

Needs a seed-scale warehouse (``benchmarks/seed_scale.py`` leaves one in its ``--workdir``). The last day of
orders is held back, the tables are built in full, then that day arrives as an incremental sync would
land it (new rows past the ``updated_at`` cursor, a sync journal record) and the table is refreshed.
Writes benchmarks/results/incremental.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import time
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from matih.query.incremental import refresh
from matih.sources import runs
from matih.state import utc_stamp
from matih.warehouse import warehouse_of
from matih.warehouse.compare import differing_rows
from matih.warehouse.incremental import NotIncremental
from matih.workspace import Workspace

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "novamart"
QUERY = HERE / "queries" / "demand_features_by_date.sql"
YEAR_AGO = """,
        SUM(units_sold) OVER (
            PARTITION BY product_id ORDER BY sale_date
            RANGE BETWEEN INTERVAL 365 DAYS PRECEDING AND INTERVAL 365 DAYS PRECEDING
        ) AS sales_same_day_last_year"""
KEYS = ("product_id", "sale_date")
console = Console(width=140)


def prepare(seed: Path, workdir: Path) -> tuple[Workspace, dt.date]:
    """A workspace holding the seed's warehouse minus its last day of orders, which waits in
    ``shopify.arriving_*``; order items carry their order's ``updated_at``, as the Shopify connector lands
    them."""
    if workdir.exists():
        shutil.rmtree(workdir)
    shutil.copytree(EXAMPLE, workdir, ignore=shutil.ignore_patterns(".matih"))
    ws = Workspace(workdir)
    ws.ensure_state()
    shutil.copy(seed / ".matih" / "warehouse" / "postgresql.duckdb", ws.warehouse_dir / "postgresql.duckdb")
    with duckdb.connect(str(ws.warehouse_dir / "postgresql.duckdb")) as con:
        last = con.execute("SELECT max(order_date)::DATE FROM shopify.orders").fetchone()[0]
        columns = {r[0] for r in con.execute("DESCRIBE shopify.order_items").fetchall()}
        if "updated_at" not in columns:
            con.execute("ALTER TABLE shopify.order_items ADD COLUMN updated_at TIMESTAMP")
            con.execute(
                "UPDATE shopify.order_items i SET updated_at = o.updated_at FROM shopify.orders o "
                "WHERE i.order_id = o.order_id"
            )
        con.execute(
            f"CREATE OR REPLACE TABLE shopify.arriving_orders AS SELECT * FROM shopify.orders "
            f"WHERE order_date::DATE = DATE '{last}'"
        )
        con.execute(
            "CREATE OR REPLACE TABLE shopify.arriving_items AS SELECT * FROM shopify.order_items "
            "WHERE order_id IN (SELECT order_id FROM shopify.arriving_orders)"
        )
        con.execute(
            "DELETE FROM shopify.order_items WHERE order_id IN (SELECT order_id FROM shopify.arriving_orders)"
        )
        con.execute(
            "DELETE FROM shopify.orders WHERE order_id IN (SELECT order_id FROM shopify.arriving_orders)"
        )
        orders, items = (
            con.execute(f"SELECT count(*) FROM shopify.{t}").fetchone()[0] for t in ("orders", "order_items")
        )
    _journal(ws, "shopify-orders", "postgresql.shopify", {"orders": orders, "order_items": items}, full=True)
    return ws, last


def arrive(ws: Workspace) -> int:
    """Land the held-back day as an incremental sync would: rows past the cursor, then a journal record."""
    with duckdb.connect(str(ws.warehouse_dir / "postgresql.duckdb")) as con:
        mark = con.execute("SELECT max(updated_at) FROM shopify.orders").fetchone()[0]
        later = f"TIMESTAMP '{mark}' + INTERVAL 1 HOUR"
        con.execute(f"UPDATE shopify.arriving_orders SET updated_at = {later}")
        con.execute(f"UPDATE shopify.arriving_items SET updated_at = {later}")
        con.execute("INSERT INTO shopify.orders BY NAME SELECT * FROM shopify.arriving_orders")
        con.execute("INSERT INTO shopify.order_items BY NAME SELECT * FROM shopify.arriving_items")
        orders, items = (
            con.execute(f"SELECT count(*) FROM shopify.arriving_{t}").fetchone()[0]
            for t in ("orders", "items")
        )
    _journal(ws, "shopify-orders", "postgresql.shopify", {"orders": orders, "order_items": items}, full=False)
    return orders


def _journal(ws: Workspace, source: str, destination: str, tables: dict[str, int], *, full: bool) -> None:
    mode = "full_refresh" if full else "incremental"
    runs.record(
        ws,
        runs.SyncRun(
            run_id=f"bench-{time.time_ns()}",
            source=source,
            connector="source-shopify",
            started_at=utc_stamp(),
            ended_at=utc_stamp(),
            status="succeeded",
            full_refresh=full,
            destination=destination,
            streams=[runs.StreamRun(name="orders", mode=mode, tables=tables)],
        ),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed-workdir", type=Path, default=Path("/tmp/matih-seed"))
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/matih-incr"))
    args = ap.parse_args()

    ws, last = prepare(args.seed_workdir, args.workdir)
    wh = warehouse_of(ws)
    cases = {
        "by date, 30-day windows": ("features_30d", "", 30),
        "by date, with the year-ago lag": ("features_365d", YEAR_AGO, 365),
    }
    sql = {
        name: QUERY.read_text().format(table=table, lag_year=lag) for name, (table, lag, _) in cases.items()
    }
    figures: dict[str, dict[str, float | int | str]] = {}

    seed_sql = (EXAMPLE / "queries" / "demand_features.sql").read_text()
    try:
        refresh(
            ws, wh, seed_sql, "analytics.derived.seed_features", date_column="sale_date", lookback_days=400
        )
        refused = "accepted (unexpected)"
    except NotIncremental as err:
        refused = err.message
    console.print(f"[bold]The seed's own SQL[/]: {refused}")

    for name, (table, _, lookback) in cases.items():
        first = refresh(
            ws, wh, sql[name], f"analytics.derived.{table}", date_column="sale_date", lookback_days=lookback
        )
        figures[name] = {
            "first_build_s": round(first.seconds, 1),
            "rows": first.rows,
            "lookback_days": lookback,
        }
    arrived = arrive(ws)
    for name, (table, _, lookback) in cases.items():
        target = f"analytics.derived.{table}"
        done = refresh(ws, wh, sql[name], target, date_column="sale_date", lookback_days=lookback)
        assert done.mode == "incremental", done.reason
        started = time.perf_counter()
        wh.run(sql[name].replace(f".{table} AS", f".{table}_full AS"))
        rebuild = time.perf_counter() - started
        figures[name].update(
            incremental_s=round(done.seconds, 1),
            replaced_rows=done.rows,
            first_day=str(done.first_day),
            full_rebuild_s=round(rebuild, 1),
            speedup=round(rebuild / done.seconds, 1),
            differing_rows=differing_rows(wh, target, f"{target}_full", KEYS),
        )

    out = Table(title=f"Incremental refresh after one new day ({last}, {arrived:,} orders), 2-core VM")
    for col in (
        "query",
        "lookback",
        "full rebuild",
        "incremental",
        "speed-up",
        "rows replaced",
        "differing rows",
    ):
        out.add_column(col, justify="right" if col != "query" else "left")
    for name, f in figures.items():
        out.add_row(
            name,
            f"{f['lookback_days']} d",
            f"{f['full_rebuild_s']} s",
            f"{f['incremental_s']} s",
            f"{f['speedup']}x",
            f"{f['replaced_rows']:,}",
            str(f["differing_rows"]),
        )
    console.print(out)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    console.print(f"peak memory {peak:.1f} GB")
    result = {
        "day": str(last),
        "orders_arrived": arrived,
        "seed_sql": refused,
        "cases": figures,
        "peak_gb": peak,
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "incremental.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

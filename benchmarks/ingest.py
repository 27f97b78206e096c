"""Ingestion benchmark: the seed's connectors against the sandbox at seed scale, beside plain dlt.

    .venv/bin/python benchmarks/ingest.py [--products 45291] [--days 120] [--workdir /tmp/matih-ingest]
                                          [--no-peer]

Builds a NovaMart world of ``--products`` products over ``--days`` days (at 45,291 x 120 about 3.3M
order items), serves it one day short of its end, then measures:

- the initial Shopify sync (orders with their line items, products, inventory levels);
- the incremental sync after the sandbox advances a day (new and edited orders only);
- the PostgreSQL inventory sync (45,291 inventory rows, shipments, warehouses).

The peer is a plain dlt pipeline doing the same copies in the same process: dlt's own REST client with
its Link-header paginator, yielding the API's JSON for dlt to normalise (line items become
``orders__line_items``), and dlt's ``sql_table`` for PostgreSQL. Prints a table and writes
benchmarks/results/ingest.json; RESULTS.md quotes it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

from results_file import write_results  # benchmarks/ is the script's folder
from rich.console import Console
from rich.table import Table

from matih.sandbox import WorldConfig, generate_world, save_world, server
from matih.sources import sync
from matih.workspace import Workspace

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "novamart"
END = dt.date(2025, 12, 15)
console = Console(width=140)


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def plain_dlt_shopify(endpoints: Any, token: str, workdir: Path, max_orders: int) -> tuple[float, int]:
    """Orders with nested line items through dlt's REST client and normaliser: (seconds, rows).

    Stops after ``max_orders`` orders: plain dlt normalises row by row in Python, so a full seed-scale
    copy would take it most of an hour; rows/s is what is compared."""
    import dlt
    from dlt.sources.helpers.rest_client import RESTClient
    from dlt.sources.helpers.rest_client.paginators import HeaderLinkPaginator

    client = RESTClient(
        base_url=f"{endpoints.shopify_url}/admin/api/2025-10/",
        headers={"X-Shopify-Access-Token": token},
        paginator=HeaderLinkPaginator(),
        data_selector="orders",
    )

    @dlt.resource(name="orders", primary_key="id", write_disposition="merge")
    def orders() -> Any:
        taken = 0
        params = {"status": "any", "limit": 250, "order": "updated_at asc"}
        for page in client.paginate("orders.json", params=params):
            yield page
            taken += len(page)
            if taken >= max_orders:
                return

    return _run_plain(orders(), "plain_shopify", "shopify", workdir)


def plain_dlt_postgres(endpoints: Any, password: str, workdir: Path) -> tuple[float, int]:
    import sqlalchemy as sa
    from dlt.sources.sql_database import sql_database

    url = sa.engine.URL.create(
        "postgresql+psycopg2",
        username=endpoints.postgres_user,
        password=password,
        host=endpoints.postgres_host,
        port=endpoints.postgres_port,
        database=endpoints.postgres_database,
    )
    source = sql_database(
        credentials=sa.create_engine(url),
        schema="public",
        table_names=["inventory", "supplier_shipments", "warehouses"],
        backend="pyarrow",
    )
    return _run_plain(source, "plain_pg", "inventory", workdir)


def _run_plain(data: Any, name: str, dataset: str, workdir: Path) -> tuple[float, int]:
    """(seconds, rows loaded) of a plain dlt pipeline into its own DuckDB file."""
    import dlt

    pipeline = dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(workdir / "plain.duckdb")),
        dataset_name=dataset,
        pipelines_dir=str(workdir / "plain_pipelines"),
    )
    started = time.perf_counter()
    pipeline.run(data)
    seconds = time.perf_counter() - started
    counts = pipeline.last_trace.last_normalize_info.row_counts
    return seconds, int(sum(v for k, v in counts.items() if not k.startswith("_dlt")))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=45_291)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/matih-ingest"))
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--peer-orders", type=int, default=100_000, help="Orders the plain dlt peer copies.")
    args = parser.parse_args()

    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    root = args.workdir / "novamart"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".matih"))
    ws = Workspace(root)
    ws.ensure_state()
    figures: dict[str, Any] = {}

    started = time.perf_counter()
    world = generate_world(WorldConfig(products=args.products, seed=7, end_date=END, days=args.days))
    save_world(world, ws.sandbox_dir)
    figures["world_rows"] = world.row_counts()
    figures["generate_and_store"] = time.perf_counter() - started
    del world

    started = time.perf_counter()
    with server.start(ws, as_of=END - dt.timedelta(days=1)) as sandbox:
        figures["sandbox_start"] = time.perf_counter() - started
        secrets = server.sandbox_secrets(ws)

        run = sync(ws, "shopify-orders")
        figures["shopify_initial"] = run.seconds
        figures["shopify_initial_rows"] = {t: n for s in run.streams for t, n in s.tables.items()}

        advanced = server.advance(ws)
        figures["advance"] = advanced["changes"]
        run = sync(ws, "shopify-orders")
        figures["shopify_incremental"] = run.seconds
        figures["shopify_incremental_rows"] = {t: n for s in run.streams for t, n in s.tables.items()}

        run = sync(ws, "inventory-db", full_refresh=True)
        figures["postgres_initial"] = run.seconds
        figures["postgres_rows"] = {t: n for s in run.streams for t, n in s.tables.items()}

        if not args.no_peer:
            figures["peer_shopify"], figures["peer_shopify_rows"] = plain_dlt_shopify(
                sandbox.endpoints, secrets["SHOPIFY_API_KEY"], args.workdir, args.peer_orders
            )
            figures["peer_postgres"], figures["peer_postgres_rows"] = plain_dlt_postgres(
                sandbox.endpoints, secrets["INVENTORY_DB_PASSWORD"], args.workdir
            )
    figures["peak_gb"] = peak_gb()

    shop_rows = figures["shopify_initial_rows"]
    order_rows = shop_rows["orders"] + shop_rows["order_items"]
    table = Table(title=f"Ingestion, {args.products:,} products x {args.days} days")
    for col in ("step", "rows", "seconds", "rows/s", "goal", "met"):
        table.add_column(col, justify="left" if col in ("step", "goal") else "right")

    def row(step: str, rows: int, seconds: float, goal: str = "", limit: float | None = None) -> None:
        met = "" if limit is None else ("yes" if seconds < limit else "no")
        table.add_row(step, f"{rows:,}", f"{seconds:.1f}", f"{rows / max(seconds, 1e-9):,.0f}", goal, met)

    row(
        f"Shopify initial sync (orders + {shop_rows['order_items']:,} line items)",
        order_rows,
        figures["shopify_initial"],
        "< 300 s",
        300,
    )
    inc = figures["shopify_incremental_rows"]
    row(
        "Shopify incremental sync after one day",
        inc["orders"] + inc["order_items"],
        figures["shopify_incremental"],
        "< 10 s",
        10,
    )
    pg_rows = sum(figures["postgres_rows"].values())
    row("PostgreSQL inventory sync (full refresh)", pg_rows, figures["postgres_initial"], "< 5 s", 5)
    if not args.no_peer:
        row(
            f"plain dlt: Shopify orders + line items (first {args.peer_orders:,} orders)",
            figures["peer_shopify_rows"],
            figures["peer_shopify"],
        )
        row("plain dlt: sql_database, same tables", figures["peer_postgres_rows"], figures["peer_postgres"])
    console.print(table)
    console.print(f"peak memory {figures['peak_gb']:.1f} GB; world {figures['world_rows']}")
    figures.update(products=args.products, days=args.days)
    out = write_results("ingest", figures)
    console.print(f"figures written to {out}")


if __name__ == "__main__":
    main()

"""Discovery and query benchmark: catalog refresh, workspace lineage and API point lookups at seed scale.

    .venv/bin/python benchmarks/discovery.py [--products 45291] [--workdir /tmp/matih-discovery] [--reuse]

Builds the seed-scale warehouse (the world copied in directly, then the seed's feature SQL: about 20M
``demand_features`` rows), then measures ``matih catalog refresh``, the lineage of the whole workspace,
and ``POST /query`` point lookups on ``demand_features`` over real HTTP (uvicorn on 127.0.0.1),
beside the same lookup run directly on DuckDB in the same process (the floor the API adds to).
Prints a table and writes benchmarks/results/discovery.json; RESULTS.md quotes it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from results_file import write_results  # benchmarks/ is the script's folder
from rich.console import Console
from rich.table import Table

from matih.api.app import create_app
from matih.catalog.lineage import build_lineage
from matih.catalog.tables import refresh
from matih.sandbox import WorldConfig, generate_world, load_world, save_world
from matih.sandbox.postgres import free_port
from matih.warehouse import warehouse_of
from matih.workspace import Workspace

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "novamart"
END = dt.date(2025, 12, 15)
console = Console(width=140)


def build(ws: Workspace, products: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    started = time.perf_counter()
    world = generate_world(WorldConfig(products=products, seed=7, end_date=END, days=730))
    save_world(world, ws.sandbox_dir)
    del world
    wh = warehouse_of(ws)
    load_world(ws.sandbox_dir, wh)
    figures["build_world"] = time.perf_counter() - started
    started = time.perf_counter()
    wh.run(ws.query_path("demand_features").read_text())
    figures["feature_sql"] = time.perf_counter() - started
    return figures


def lookups(url: str, keys: list[tuple[str, str]], n: int) -> list[float]:
    times = []
    with httpx.Client(base_url=url) as client:
        for product, day in keys[:n]:
            sql = (
                "SELECT * FROM analytics.derived.demand_features"
                f" WHERE product_id = '{product}' AND sale_date = DATE '{day}'"
            )
            started = time.perf_counter()
            reply = client.post("/query", json={"sql": sql})
            times.append(time.perf_counter() - started)
            reply.raise_for_status()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=45_291)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/matih-discovery"))
    parser.add_argument("--reuse", action="store_true", help="Keep an existing warehouse in --workdir.")
    parser.add_argument("--lookups", type=int, default=200)
    args = parser.parse_args()

    root = args.workdir / "novamart"
    figures: dict[str, Any] = {}
    if not (args.reuse and (root / ".matih" / "warehouse" / "analytics.duckdb").exists()):
        shutil.rmtree(args.workdir, ignore_errors=True)
        args.workdir.mkdir(parents=True)
        shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".matih"))
        figures.update(build(Workspace(root), args.products))
    ws = Workspace(root)
    wh = warehouse_of(ws)
    (rows,) = wh.query("SELECT count(*) AS n FROM analytics.derived.demand_features")["n"].to_pylist()
    figures["demand_features_rows"] = rows

    (ws.state / "catalog" / "catalog.json").unlink(missing_ok=True)
    started = time.perf_counter()
    catalog = refresh(ws)  # everything checked: no earlier snapshot to reuse
    figures["catalog_refresh_cold"] = time.perf_counter() - started
    started = time.perf_counter()
    refresh(ws)  # nothing changed since: counts and metadata read again, key checks reused
    figures["catalog_refresh"] = time.perf_counter() - started
    figures["catalog_tables"] = len(catalog.tables)

    build_lineage(ws)
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        graph = build_lineage(ws)
        runs.append(time.perf_counter() - started)
    figures["lineage"] = statistics.median(runs)
    figures["lineage_edges"] = len(graph.edges)

    sample = wh.query(
        "SELECT product_id, sale_date::VARCHAR AS d FROM analytics.derived.demand_features"
        " USING SAMPLE 1000 ROWS"
    ).to_pylist()
    keys = [(r["product_id"], r["d"]) for r in sample]
    random.Random(7).shuffle(keys)

    # the floor: the same statement on one open DuckDB connection, no HTTP, no connection set-up
    direct = []
    with wh.connect() as con:
        for product, day in keys[: args.lookups]:
            started = time.perf_counter()
            con.execute(
                "SELECT * FROM analytics.derived.demand_features WHERE product_id = ? AND sale_date = ?",
                [product, day],
            ).fetchall()
            direct.append(time.perf_counter() - started)
    figures["direct_p50_ms"] = statistics.median(direct) * 1000

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(ws), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    lookups(url, keys, 10)  # warm
    times = lookups(url, keys, args.lookups)
    server.should_exit = True
    thread.join(timeout=10)
    figures["api_p50_ms"] = statistics.median(times) * 1000
    figures["api_p95_ms"] = sorted(times)[int(0.95 * len(times)) - 1] * 1000

    table = Table(title=f"Discovery and query, {args.products:,} products ({rows:,} demand_features rows)")
    for col in ("measure", "value", "goal", "met"):
        table.add_column(col, justify="left" if col in ("measure", "goal") else "right")
    for label, key in (
        ("catalog refresh, first (every key verified)", "catalog_refresh_cold"),
        ("catalog refresh, nothing changed since the last", "catalog_refresh"),
    ):
        table.add_row(
            f"{label} ({figures['catalog_tables']} tables)",
            f"{figures[key]:.2f} s",
            "< 5 s",
            "yes" if figures[key] < 5 else "no",
        )
    table.add_row(
        f"lineage of the workspace ({figures['lineage_edges']} edges, column lineage included)",
        f"{figures['lineage'] * 1000:.0f} ms",
        "< 1 s",
        "yes" if figures["lineage"] < 1 else "no",
    )
    table.add_row(
        "POST /query point lookup on demand_features, p50",
        f"{figures['api_p50_ms']:.1f} ms",
        "< 20 ms",
        "yes" if figures["api_p50_ms"] < 20 else "no",
    )
    table.add_row("  same, p95", f"{figures['api_p95_ms']:.1f} ms", "", "")
    table.add_row(
        "  peer: the same lookup on an open DuckDB connection, p50",
        f"{figures['direct_p50_ms']:.1f} ms",
        "",
        "",
    )
    console.print(table)
    figures.update(products=args.products)
    out = write_results("discovery", figures)
    console.print(f"figures written to {out}")


if __name__ == "__main__":
    main()

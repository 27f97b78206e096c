"""Data-quality benchmark: the seed's suite with Great Expectations on the seed-scale demand_features.

    .venv/bin/python benchmarks/quality.py [--workdir /tmp/matih-bench] [--products 45291]

Uses the workspace ``benchmarks/seed_scale.py`` leaves (or builds one in a child process: the world
copied straight into the warehouse, then the seed's feature SQL). Measures, in this process:

- the seed's suite through MATIH (GX 1.x, SQL in DuckDB), and the process's peak memory (maxrss);
- peer: the same four checks as hand-written DuckDB SQL in the same process (the floor GX adds to);
- ``matih profile`` of the same table.

Prints a table and writes benchmarks/results/quality.json; RESULTS.md quotes it. Goals: the suite in
under 20 s with peak memory under 2 GB.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import shutil
import time
from pathlib import Path
from typing import Any

from results_file import write_results  # benchmarks/ is the script's folder
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "novamart"
TABLE = "analytics.derived.demand_features"
console = Console(width=120)


def build(root: str, products: int) -> None:
    """Child process: the seed-scale world in the warehouse plus the seed's feature SQL."""
    import datetime as dt

    from matih.sandbox import WorldConfig, generate_world, load_world, save_world
    from matih.warehouse import warehouse_of
    from matih.workspace import Workspace

    ws = Workspace(Path(root))
    ws.ensure_state()
    world = generate_world(WorldConfig(products=products, seed=7, end_date=dt.date(2025, 12, 15), days=730))
    save_world(world, ws.sandbox_dir)
    del world
    wh = warehouse_of(ws)
    load_world(ws.sandbox_dir, wh)
    wh.run(ws.query_path("demand_features").read_text())


def peer(ws: Any) -> float:
    """The suite's four checks written by hand in DuckDB SQL, one scan each as GX does them."""
    from matih.warehouse import warehouse_of

    wh = warehouse_of(ws)
    started = time.perf_counter()
    with wh.connect() as con:
        con.execute(
            f"SELECT count(*) FILTER (WHERE units_sold NOT BETWEEN 0 AND 10000) FROM {TABLE}"
        ).fetchall()
        con.execute(
            f"SELECT count(*) FILTER (WHERE avg_selling_price NOT BETWEEN 0.01 AND 9999.99) FROM {TABLE}"
        ).fetchall()
        con.execute(f"SELECT count(*) FILTER (WHERE sales_rolling_7d IS NULL) FROM {TABLE}").fetchall()
        con.execute(
            f"SELECT count(*) FROM (SELECT product_id, sale_date FROM {TABLE} GROUP BY ALL "
            "HAVING count(*) > 1)"
        ).fetchall()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/matih-bench")
    parser.add_argument("--products", type=int, default=45_291)
    args = parser.parse_args()
    from matih.workspace import Workspace

    root = Path(args.workdir)
    ready = (root / ".matih" / "warehouse" / "analytics.duckdb").exists()
    if not ready:
        if root.exists():
            shutil.rmtree(root)
        shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".matih"))
        console.print(f"building the seed-scale warehouse in {root} (a few minutes)")
        child = multiprocessing.get_context("spawn").Process(target=build, args=(str(root), args.products))
        child.start()
        child.join()
        if child.exitcode:
            raise SystemExit(f"building the warehouse failed ({child.exitcode})")
    ws = Workspace(root)
    from matih.quality.profile import profile_table
    from matih.quality.suites import run_suite
    from matih.warehouse import warehouse_of

    rows = warehouse_of(ws).query(f"SELECT count(*) AS n FROM {TABLE}").column("n")[0].as_py()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    run = run_suite(ws, "demand_features_validation", table=TABLE, record_run=False)
    suite_s = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    direct = peer(ws)
    started = time.perf_counter()
    profile = profile_table(ws, TABLE)
    profile_s = time.perf_counter() - started
    figures = {
        "rows": rows,
        "suite_s": suite_s,
        "suite_passed": run.success,
        "peak_rss_mb_after_suite": peak_mb,
        "rss_mb_before_suite": rss_before,
        "peer_duckdb_sql_s": direct,
        "gx_over_peer": suite_s / direct if direct else None,
        "profile_s": profile_s,
        "correlations": len(profile.correlations),
        "goals": {"suite_s": 20, "peak_rss_mb": 2048},
    }
    table = Table(title=f"The seed's suite on {rows:,} demand_features rows")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("suite through MATIH (GX 1.x, SQL in DuckDB)", f"{suite_s:.1f} s (goal < 20 s)")
    table.add_row("peak memory of this process after the suite", f"{peak_mb:,.0f} MB (goal < 2,048 MB)")
    table.add_row("peer: the four checks as hand-written DuckDB SQL", f"{direct:.1f} s")
    table.add_row("matih profile (buckets, correlations, column stats)", f"{profile_s:.1f} s")
    table.add_row("suite verdict", "passed" if run.success else "failed")
    console.print(table)
    console.print(f"figures: {write_results('quality', figures)}")


if __name__ == "__main__":
    main()

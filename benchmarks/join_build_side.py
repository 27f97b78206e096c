"""`sql_execute`'s `join_build_side`: the seed's feature SQL and TPC-H, each with DuckDB's build-side swap
on (`estimated`, the default) and off (`as_written`), alternating, in one process.

    .venv/bin/python benchmarks/join_build_side.py [--workdir /tmp/matih-bench] [--rounds 2] [--tpch-sf 3]

The seed's SQL runs on the warehouse `benchmarks/seed_scale.py` left in --workdir (run that first). TPC-H
runs on DuckDB's own generator (the `duckdb-extension-tpch` package, in the `bench` extra): the check
that turning the swap off is not a default for every query. Writes results/join_build_side.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import tempfile
import time
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from matih.warehouse import warehouse_of
from matih.workspace import Workspace

HERE = Path(__file__).resolve().parent
SIDES = ("estimated", "as_written")
console = Console(width=120)


def seed_sql(workdir: Path, rounds: int) -> dict[str, list[float]]:
    ws = Workspace(workdir)
    wh = warehouse_of(ws)
    sql = ws.query_path("demand_features").read_text()
    seconds: dict[str, list[float]] = {side: [] for side in SIDES}
    rows: set[int] = set()
    for _ in range(rounds):
        for side in SIDES:
            started = time.perf_counter()
            out = wh.run(sql, join_build_side=side)  # type: ignore[arg-type]
            seconds[side].append(time.perf_counter() - started)
            rows.add(int(out[-1].rows or 0))
            console.print(f"seed SQL, {side}: {seconds[side][-1]:.1f}s, {out[-1].rows:,} rows")
    assert len(rows) == 1, rows
    return seconds


def tpch(scale: float, rounds: int) -> dict[str, dict[int, float]]:
    """Each query's best time of ``rounds`` with the swap on and off."""
    spec = importlib.util.find_spec("duckdb_extension_tpch")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the tpch extension is missing: pip install -e '.[bench]'")
    found = sorted(Path(spec.submodule_search_locations[0]).glob("extensions/*/tpch.duckdb_extension"))
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "tpch.duckdb"))
        con.execute(f"LOAD '{found[-1]}'")
        con.execute(f"CALL dbgen(sf={scale})")
        best: dict[str, dict[int, float]] = {side: {} for side in SIDES}
        for _ in range(rounds):
            for side in SIDES:
                off = "build_side_probe_side" if side == "as_written" else ""
                con.execute(f"SET disabled_optimizers = '{off}'")
                for q in range(1, 23):
                    started = time.perf_counter()
                    con.execute(f"PRAGMA tpch({q})").fetchall()
                    took = time.perf_counter() - started
                    best[side][q] = min(best[side].get(q, took), took)
        con.close()
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workdir", default="/tmp/matih-bench")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--tpch-sf", type=float, default=3.0)
    args = ap.parse_args()

    seed = seed_sql(Path(args.workdir), args.rounds)
    queries = tpch(args.tpch_sf, args.rounds)
    table = Table(title="join_build_side: estimated (default) vs as_written", header_style="bold")
    for col in ("workload", "estimated", "as_written", "ratio"):
        table.add_column(col, justify="left" if col == "workload" else "right")
    est, wrt = min(seed["estimated"]), min(seed["as_written"])
    table.add_row("seed feature SQL (best)", f"{est:.1f}s", f"{wrt:.1f}s", f"{wrt / est:.2f}x")
    totals = {side: sum(queries[side].values()) for side in SIDES}
    table.add_row(
        f"TPC-H sf {args.tpch_sf:g}, 22 queries (sum of bests)",
        f"{totals['estimated']:.2f}s",
        f"{totals['as_written']:.2f}s",
        f"{totals['as_written'] / totals['estimated']:.2f}x",
    )
    worst = max(range(1, 23), key=lambda q: queries["as_written"][q] / queries["estimated"][q])
    table.add_row(
        f"TPC-H worst query (q{worst})",
        f"{queries['estimated'][worst]:.2f}s",
        f"{queries['as_written'][worst]:.2f}s",
        f"{queries['as_written'][worst] / queries['estimated'][worst]:.2f}x",
    )
    console.print(table)
    out = {
        "seed_feature_sql_seconds": seed,
        "tpch_scale": args.tpch_sf,
        "tpch_best_seconds": queries,
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    dest = HERE / "results" / "join_build_side.json"
    dest.write_text(json.dumps(out, indent=2))
    console.print(f"written {dest}")


if __name__ == "__main__":
    main()

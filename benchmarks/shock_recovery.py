"""How fast MATIH's forecasts follow a sustained shift in demand, without simulating production day by day.

    .venv/bin/python benchmarks/shock_recovery.py [--products 2000] [--change 30] [--weeks 1,2,3,4]

Two NovaMart worlds that differ only by a shock (``matih.sandbox.shocks``: the shocked category's units
are drawn from their own random stream, so every other sale is the same unit for unit): Electronics
sells ``--change`` percent more from ``SHOCK``. At origins one to four weeks into the shock, the seed's
pipeline trains on the data up to the origin, as the daily pipeline does, and forecasts 14 days. Each
run is scored on the shocked category (WAPE: the seed's volume-weighted MAPE over the 14 days, and bias)
and on the others, in both worlds, with the refit (``"refit": true``) and with the validated fit
alone (the default). The unshocked world at the same origin is the counterfactual: what the same
category's error would have been without the shock, season for season.

``matih sandbox simulate --shock`` measures the same thing through Temporal, the archive and the
monitors (benchmarks/simulation.py: about 54 minutes); this script isolates the forecaster (about 10
minutes at 2,000 products). Writes benchmarks/results/shock_recovery.json; RESULTS.md quotes it.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from results_file import write_results  # benchmarks/ is the script's folder
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "novamart"
END = dt.date(2026, 11, 22)
SHOCK = dt.date(2026, 10, 13)
CATEGORY = "Electronics"
HORIZON = 14
console = Console()


def warehouse(workdir: Path, name: str, products: int, shocks: tuple[Any, ...]) -> Any:
    """The world's warehouse with the seed's feature SQL run, built once per world."""
    from matih.sandbox import WorldConfig, generate_world, load_world, save_world
    from matih.sandbox.store import world_path
    from matih.warehouse import warehouse_of
    from matih.workspace import Workspace

    folder = workdir / f"world-{name}-{products}"
    if not world_path(folder).exists():
        config = WorldConfig(products=products, seed=7, end_date=END, shocks=shocks)
        save_world(generate_world(config), folder)
    root = workdir / f"ws-{name}-{products}"
    if not (root / ".built").exists():
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".matih"))
        ws = Workspace(root)
        ws.ensure_state()
        load_world(folder, warehouse_of(ws))
        warehouse_of(ws).run(ws.query_path("demand_features").read_text())
        (root / ".built").write_text("")
    return warehouse_of(Workspace(root))


def run_world(wh: Any, weeks: list[int], trees: int) -> dict[str, dict[str, float]]:
    """Scores of each (origin, fit) in one world."""
    from matih.forecast.config import TrainConfig
    from matih.forecast.features import FeatureContext
    from matih.forecast.fit import fit_forecaster
    from matih.forecast.grid import load_grid

    config = TrainConfig(n_estimators=trees)
    full = load_grid(wh, config.dataset, config.roles)
    index = {s: i for i, s in enumerate(full.series)}
    cats = np.asarray(full.category, dtype=object)
    out: dict[str, dict[str, float]] = {}
    for week in weeks:
        # `week` weeks of the shock seen, and the 14 days after the origin inside the world
        origin = min(SHOCK + dt.timedelta(days=7 * week - 1), END - dt.timedelta(days=HORIZON))
        grid = load_grid(wh, config.dataset, config.roles, end=np.datetime64(origin))
        ctx = FeatureContext.build(grid)
        for refit in (True, False):
            started = time.perf_counter()
            model, _ = fit_forecaster(ctx, dataclasses.replace(config, refit=refit))
            fc = model.predict(ctx, grid.n_days - 1)
            rows = np.array([index[s] for s in grid.series[fc.series_index]])
            column = int((np.datetime64(origin) - full.start).astype(int)) + fc.horizon
            actual = np.nan_to_num(full.Y[rows, column])
            error = np.abs(actual - fc.predicted)
            shocked = cats[rows] == CATEGORY
            key = f"{week}w/{'refit' if refit else 'validated'}"
            out[key] = {
                "wape": float(error[shocked].sum() / actual[shocked].sum()),
                "bias": float((fc.predicted[shocked] - actual[shocked]).sum() / actual[shocked].sum()),
                "wape_others": float(error[~shocked].sum() / actual[~shocked].sum()),
                "wape_all": float(error.sum() / actual.sum()),
                "seconds": round(time.perf_counter() - started, 1),
            }
            console.print(f"  {origin} {key}: WAPE {out[key]['wape']:.3f}, bias {out[key]['bias']:+.3f}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/matih-shock")
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--change", type=float, default=30.0, help="the level shift, in percent")
    parser.add_argument("--weeks", default="1,2,3,4", help="origins, in weeks of the shock seen")
    parser.add_argument("--trees", type=int, default=500)
    args = parser.parse_args()
    from matih.sandbox.shocks import Shock

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    weeks = [int(w) for w in args.weeks.split(",")]
    shock = Shock("level", CATEGORY, SHOCK, args.change / 100)
    results: dict[str, Any] = {}
    for name, shocks in (("unshocked", ()), ("shocked", (shock,))):
        console.print(f"[bold]{name}[/] world, {args.products:,} products")
        results[name] = run_world(warehouse(workdir, name, args.products, shocks), weeks, args.trees)
    table = Table(title=f"{CATEGORY} {args.change:+.0f}% from {SHOCK}: its 14-day WAPE (bias) by origin")
    for column in ("shock seen", "fit", "shocked world", "unshocked world", "other categories"):
        table.add_column(column, justify="left" if column in ("shock seen", "fit") else "right")
    for week in weeks:
        for fit in ("refit", "validated"):
            a, b = results["shocked"][f"{week}w/{fit}"], results["unshocked"][f"{week}w/{fit}"]
            table.add_row(
                f"{week} week{'s' if week > 1 else ''}",
                fit,
                f"{a['wape']:.3f} ({a['bias']:+.3f})",
                f"{b['wape']:.3f} ({b['bias']:+.3f})",
                f"{a['wape_others']:.3f}",
            )
    console.print(table)
    figures = {"products": args.products, "change": args.change, "shock": str(SHOCK), "trees": args.trees}
    console.print(f"written to {write_results('shock_recovery', {**figures, **results})}")


if __name__ == "__main__":
    main()

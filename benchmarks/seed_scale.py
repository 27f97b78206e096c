"""Seed-scale benchmark: 45,291 products through generation, the feature SQL, training, validation and
batch inference, beside the seed's own figures and Nixtla's mlforecast on the same data.

    .venv/bin/python benchmarks/seed_scale.py [--products 45291] [--workdir /tmp/matih-bench] [--no-peer]

Prints a table and writes the figures to benchmarks/results/seed_scale.json; RESULTS.md quotes them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import time
from pathlib import Path

import numpy as np
from peer_process import peer_process  # benchmarks/ is the script's folder
from rich.console import Console
from rich.table import Table

from matih.forecast import metrics as M
from matih.forecast.batch import forecast_table
from matih.forecast.compiled import CompiledTrees
from matih.forecast.config import TrainConfig
from matih.forecast.features import FeatureContext
from matih.forecast.fit import fit_forecaster, split_points
from matih.forecast.grid import load_grid
from matih.forecast.model import ForecastModel
from matih.query.join_sides import run_into
from matih.sandbox import WorldConfig, generate_world, load_world, save_world
from matih.warehouse import warehouse_of
from matih.workspace import Workspace

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "novamart"
SEED = {"feature_sql": 107.0, "train": 18 * 60 + 42.0, "batch_inference": 7 * 60 + 34.0}
console = Console(width=140)


def peak_gb() -> float:
    """This process's peak RSS, or a child's (the parallel fits, the tree compiler) when larger."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1e6


def run_peer_apart(grid, holdout_origin: int, config: TrainConfig) -> dict[str, float]:
    """:func:`run_peer` in a process of its own (:mod:`peer_process`: why)."""
    horizon = config.forecast_horizon
    Y = grid.Y[:, : holdout_origin + 1 + horizon]
    with peer_process() as pool:
        return pool.submit(run_peer, Y, grid.start, grid.first, holdout_origin, config).result()


def run_peer(
    Y_all: np.ndarray, start: np.datetime64, first: np.ndarray, holdout_origin: int, config: TrainConfig
) -> dict[str, float]:
    """mlforecast with LightGBM, same trees and learning rate, lags 7/14, rolling means 7/14/30."""
    import lightgbm as lgb
    import pandas as pd
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean

    started = time.perf_counter()
    P = len(Y_all)
    days = start + np.arange(holdout_origin + 1).astype("timedelta64[D]")
    Y = Y_all[:, : holdout_origin + 1]
    p, d = np.nonzero(~np.isnan(Y))
    df = pd.DataFrame({"unique_id": p.astype(np.int32), "ds": days[d], "y": Y[p, d].astype(np.float32)})
    build = time.perf_counter() - started
    fcst = MLForecast(
        models={
            "lgbm": lgb.LGBMRegressor(
                n_estimators=config.n_estimators,
                learning_rate=config.learning_rate,
                num_leaves=31,
                verbose=-1,
            )
        },
        freq="D",
        lags=[7, 14],
        lag_transforms={
            1: [RollingMean(window_size=7), RollingMean(window_size=14), RollingMean(window_size=30)]
        },
        date_features=["dayofweek", "month"],
    )
    t = time.perf_counter()
    fcst.fit(df, static_features=[])
    fit = time.perf_counter() - t
    t = time.perf_counter()
    pred = fcst.predict(h=config.forecast_horizon)
    predict = time.perf_counter() - t
    pred["h"] = (pred["ds"].to_numpy().astype("datetime64[D]") - days[-1]).astype(int)
    yhat = np.zeros((P, config.forecast_horizon))
    yhat[pred["unique_id"].to_numpy(), pred["h"].to_numpy() - 1] = np.clip(pred["lgbm"].to_numpy(), 0, None)
    active = np.nonzero(first <= holdout_origin)[0]
    actual = np.nan_to_num(Y_all[active, holdout_origin + 1 : holdout_origin + 1 + config.forecast_horizon])
    return {
        "rows": float(len(df)),
        "frame_seconds": build,
        "fit_seconds": fit,
        "predict_seconds": predict,
        "mape": M.mape(actual.ravel(), yhat[active].ravel()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--products", type=int, default=45_291)
    ap.add_argument("--days", type=int, default=715)
    ap.add_argument("--end-date", default="2025-12-15")
    ap.add_argument("--workdir", default="/tmp/matih-bench")
    ap.add_argument("--no-peer", action="store_true", help="skip mlforecast")
    ap.add_argument("--reuse", action="store_true", help="reuse the world and feature table in --workdir")
    ap.add_argument("--recompile", action="store_true", help="drop compiled trees first")
    args = ap.parse_args()

    root = Path(args.workdir)
    if not args.reuse:
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".matih"))
    ws = Workspace(root)
    ws.ensure_state()
    wh = warehouse_of(ws)  # as the CLI opens it: matih.yaml settings, default memory cap
    figures: dict[str, float] = {}
    peaks: dict[str, float] = {}

    def timed(name: str, fn):  # type: ignore[no-untyped-def]
        console.print(f"[bold]{name}[/] ...")
        started = time.perf_counter()
        out = fn()
        figures[name] = time.perf_counter() - started
        peaks[name] = peak_gb()
        console.print(f"  {figures[name]:.1f}s, peak RSS so far {peaks[name]:.1f} GB")
        return out

    cfg = WorldConfig(
        products=args.products, seed=7, end_date=dt.date.fromisoformat(args.end_date), days=args.days
    )
    feature_rows = 0
    if not args.reuse:
        world = timed("generate", lambda: generate_world(cfg))
        rows = world.row_counts()
        timed("save_world", lambda: save_world(world, ws.sandbox_dir))
        del world
        timed("load_warehouse", lambda: load_world(ws.sandbox_dir, wh))
        # as the pipeline's sql_execute task runs it (join_build_side: auto): the first run with DuckDB's
        # join sides, profiled; DuckDB estimates the daily aggregate at 40K rows (it holds 20M) and builds
        # the inventory join on it, so the second run builds each join on its written side
        features_sql = ws.query_path("demand_features").read_text()
        target = "analytics.derived.demand_features"
        out, said = timed("feature_sql", lambda: run_into(ws, wh, features_sql, target))
        console.print(f"  {said}")
        feature_rows = int(out.rows or 0)
        again, said = timed("feature_sql_second_run", lambda: run_into(ws, wh, features_sql, target))
        console.print(f"  {said}")
        assert int(again.rows or 0) == feature_rows
    else:
        rows = {}
    train_cfg = TrainConfig()
    grid = timed("load_grid", lambda: load_grid(wh, train_cfg.dataset, train_cfg.roles))
    ctx = timed("feature_context", lambda: FeatureContext.build(grid))
    model, stats = timed("train", lambda: fit_forecaster(ctx, train_cfg))
    _, holdout_origin = split_points(grid.n_days, train_cfg.forecast_horizon)

    def evaluate() -> float:
        fc = model.predict(ctx, holdout_origin)
        y = np.nan_to_num(grid.Y[fc.series_index, holdout_origin + fc.horizon])
        figures["holdout_coverage"] = M.coverage(y, fc.lower, fc.upper)
        return M.mape(y, fc.predicted)

    mape = timed("evaluate", evaluate)

    # batch inference as a deployment runs it: the registered files loaded back, compiled trees on the
    # workspace's policy (the first batch of a version compiles them, later ones find them cached)
    saved = ForecastModel.load(model.save(root / ".matih" / "bench-model"))

    def batch() -> int:
        saved.compiled = CompiledTrees.of_workspace(ws)
        origin = grid.n_days - 1
        fc = saved.predict(ctx, origin)
        table = forecast_table(grid, fc, saved, "bench", origin)
        figures["compiled_boosters"] = float(len(saved.compiled.compiled))
        return wh.write_arrow("analytics.forecasts.demand_14d", table)

    if args.recompile:
        shutil.rmtree(ws.state / "compiled", ignore_errors=True)
    timed("batch_inference_first", batch)
    compiled_now = figures["compiled_boosters"]
    batch_rows = timed("batch_inference", batch)
    figures["compiled_boosters"] = compiled_now

    def batch_lightgbm() -> None:
        saved.compiled = None
        origin = grid.n_days - 1
        forecast_table(grid, saved.predict(ctx, origin), saved, "bench", origin)

    timed("batch_inference_lightgbm", batch_lightgbm)
    peer = (
        None if args.no_peer else timed("mlforecast", lambda: run_peer_apart(grid, holdout_origin, train_cfg))
    )

    table = Table(title=f"Seed scale: {args.products:,} products, {args.days} days", header_style="bold")
    for col in ("stage", "MATIH", "seed", "reach"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    reach = {
        "generate": 30,
        "feature_sql": 45,
        "feature_sql_second_run": 45,
        "train": 150,
        "batch_inference": 5,
    }
    for name, seconds in figures.items():
        if name in ("holdout_coverage", "compiled_boosters"):
            continue
        seed = SEED.get(name.removesuffix("_second_run"))
        table.add_row(
            name,
            f"{seconds:.1f}s",
            f"{seed:.0f}s" if seed else "",
            f"< {reach[name]}s" if name in reach else "",
        )
    console.print(table)
    console.print(
        f"rows: {rows}; demand_features {feature_rows:,}; training rows {stats.total_rows:,}; "
        f"forecast rows {batch_rows:,}"
    )
    console.print(
        f"MATIH holdout MAPE {mape:.2%} (80% interval coverage {figures['holdout_coverage']:.0%}); "
        f"peak RSS {max(peaks.values()):.1f} GB"
    )
    if peer:
        console.print(
            f"mlforecast: fit {peer['fit_seconds']:.1f}s, predict {peer['predict_seconds']:.1f}s on "
            f"{peer['rows']:,.0f} rows; holdout MAPE {peer['mape']:.2%}"
        )
    out = {
        "products": args.products,
        "days": args.days,
        "figures": figures,
        "peak_gb": peaks,
        "holdout_mape": mape,
        "training_rows": stats.total_rows,
        "feature_rows": feature_rows,
        "world_rows": rows,
        "forecast_rows": batch_rows,
        "mlforecast": peer,
        "machine": {"cpus": os.cpu_count()},
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    dest = HERE / "results" / "seed_scale.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(out, indent=2, default=float))
    console.print(f"written {dest}")


if __name__ == "__main__":
    main()

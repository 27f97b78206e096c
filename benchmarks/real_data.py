"""Real retail data through MATIH, beside the peers a data scientist would try first, on the same holdout.

    .venv/bin/python benchmarks/real_data.py [--only uci,oj] [--trees 300]
    .venv/bin/python benchmarks/real_data.py --objectives [--workspace examples/novamart]

Two public data sets from ``../shared/data/`` (its README says what each tests):

- **uci**: UCI Online Retail, daily, sparse and intermittent (3,900 items; no trading on Saturdays);
  holdout: the last 28 days, forecast 28 days ahead from one origin.
- **oj**: Dominick's orange juice, weekly, 913 store x brand series driven by price, deals and feature
  advertising; holdout: the last 12 weeks, forecast 12 weeks ahead.

MATIH runs as a user would set it up: a workspace with a ``source-file`` spec for the Parquet file, a
query that shapes the training table, and a pipeline spec (``ray_train`` with the column roles,
``model_evaluate`` with the holdout); the benchmark syncs, runs the query, trains and forecasts the
holdout through the library. In the same process, on the same dense grid and holdout:

- statsforecast: SeasonalNaive, AutoETS, and CrostonSBA and TSB (intermittent demand; daily set);
- mlforecast: LightGBM with lags, rolling means and calendar features, plus the set's covariates as
  known-future exogenous columns where it has them (OJ: own price, deal, feature).

Metrics over every (series, period) of the holdout, zeros included: WAPE (sum|e| / sum y), RMSSE (as in
M5: each series' RMSE scaled by its in-sample one-step naive RMSE, averaged with weights proportional to
the series' sales), bias ((sum yhat - sum y) / sum y), the 80% interval's coverage where the method
gives one, and wall time (fit + predict). Prints a table per set and writes
benchmarks/results/real_data.json; RESULTS.md quotes it.
"""

from __future__ import annotations

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import argparse
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from peer_process import peer_process  # benchmarks/ is the script's folder
from results_file import write_results
from rich.console import Console
from rich.table import Table

console = Console(width=130)
# the shared real data sets; MATIH_REAL_DATA points elsewhere
DATA = Path(os.environ.get("MATIH_REAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@dataclass(frozen=True)
class DataSet:
    name: str
    file: str
    query: str
    """SQL shaping the synced file into the training table (the user's own query)."""
    hyperparameters: dict[str, Any]
    holdout: str
    window: str
    horizon: int
    freq: str
    """pandas' alias for the peers."""
    season: int
    exogenous: tuple[str, ...] = ()
    intermittent: bool = False
    calendar: str = ""
    """matih.yaml's ``calendar`` block: the business's own holidays."""
    closures: str | None = None
    """SQL listing closed dates (``date``), written to ``analytics.derived.closures``."""

    @property
    def missing_is_zero(self) -> bool:
        """Whether a period without a row sold nothing (UCI: only selling days have rows) or was not
        recorded (OJ: a store's week missing from the panel, ``missing_rows: unknown``); scores skip
        unrecorded periods."""
        return self.hyperparameters.get("missing_rows", "zero") == "zero"


SETS = {
    "uci": DataSet(
        name="uci",
        file="uci_online_retail_daily.parquet",
        query="""SELECT stock_code AS item, CAST(day AS DATE) AS day, units, unit_price,
                        'all' AS category
                 FROM files.retail.uci_online_retail_daily""",
        # the days the shop was shut (Christmas, bank holidays): weekdays without a single sale
        closures="""SELECT CAST(d AS DATE) AS date
                    FROM range(DATE '2010-12-01', DATE '2011-12-10', INTERVAL 1 DAY) r(d)
                    WHERE dayofweek(d) <> 6 AND CAST(d AS DATE) NOT IN
                          (SELECT DISTINCT CAST(day AS DATE) FROM files.retail.uci_online_retail_daily)""",
        hyperparameters={
            "series_column": "item",
            "date_column": "day",
            "target_column": "units",
            "category_column": "category",
            "price_column": "unit_price",
            # the shop's trading calendar: no trading on Saturdays, and the days it was shut
            "closed_weekdays": ["SAT"],
            "closures_table": "analytics.derived.closures",
        },
        holdout="last_28_days",
        window="28d",
        horizon=28,
        freq="D",
        season=7,
        intermittent=True,
        calendar="calendar:\n  retail_events: none\n  country: GB\n  subdivision: ENG\n",
    ),
    "oj": DataSet(
        name="oj",
        file="dominicks_oj_weekly.parquet",
        query="""SELECT store || '-' || brand AS series, 'brand ' || brand AS brand,
                        CAST(week_start AS DATE) AS week, units, own_price, deal, feat
                 FROM files.retail.dominicks_oj_weekly""",
        hyperparameters={
            "series_column": "series",
            "date_column": "week",
            "target_column": "units",
            "category_column": "brand",
            # a scanner panel: a store's week without a row was not recorded, not a week without sales
            "missing_rows": "unknown",
            # the drivers, known ahead as a retailer plans them (the holdout reads its own weeks' values)
            "covariates": [
                {"column": "own_price", "kind": "price", "known": "future"},
                {"column": "deal", "kind": "promotion", "known": "future"},
                {"column": "feat", "kind": "advertising", "known": "future"},
            ],
        },
        holdout="last_12_weeks",
        window="12w",
        horizon=12,
        freq="W-THU",
        season=52,
        calendar="calendar:\n  retail_events: none\n  country: US\n",
        exogenous=("own_price", "deal", "feat"),
    ),
}


# -- MATIH, configured as a user would -------------------------------------------------------------------


def workspace_for(root: Path, data: DataSet, trees: int) -> Any:
    from matih.workspace import Workspace

    if root.exists():
        shutil.rmtree(root)
    for folder in ("sources", "queries", "pipelines"):
        (root / folder).mkdir(parents=True)
    (root / "matih.yaml").write_text(f"name: {data.name}\n{data.calendar}")
    (root / "sources" / "retail.json").write_text(
        json.dumps(
            {
                "connector": "source-file",
                "config": {"path": str(DATA / data.file), "format": "parquet"},
                "streams": [{"name": data.file.removesuffix(".parquet"), "sync_mode": "full_refresh"}],
                "schedule": {"type": "cron", "expression": "0 3 * * *"},
            }
        )
    )
    (root / "queries" / "training_table.sql").write_text(
        f"CREATE OR REPLACE TABLE analytics.derived.training AS\n{data.query}\n"
    )
    pipeline = {
        "pipeline_id": f"{data.name}-forecast",
        "name": f"{data.name} forecast",
        "schedule": "0 4 * * *",
        "timeout": "2h",
        "tasks": [
            {"task_id": "sync", "type": "ingestion_trigger", "config": {"connections": ["retail"]}},
            {
                "task_id": "features",
                "type": "sql_execute",
                "depends_on": ["sync"],
                "config": {
                    "query_ref": "analytics.queries.training_table",
                    "target_table": "analytics.derived.training",
                },
            },
            {
                "task_id": "train",
                "type": "ray_train",
                "depends_on": ["features"],
                "config": {
                    "training_script": "builtin",
                    "dataset": "analytics.derived.training",
                    "hyperparameters": {
                        "model_type": "lightgbm",
                        "forecast_horizon": data.horizon,
                        "n_estimators": trees,
                        "learning_rate": 0.05,
                        "per_category_models": True,
                        **data.hyperparameters,
                    },
                    "mlflow_experiment": f"{data.name}-forecast",
                },
            },
            {
                "task_id": "validate",
                "type": "model_evaluate",
                "depends_on": ["train"],
                "config": {
                    "validation_window": data.window,
                    "metrics": ["mape", "bias"],
                    "thresholds": {"mape_max": 0.99},
                    "holdout_split": data.holdout,
                },
            },
        ],
    }
    (root / "pipelines" / f"{data.name}-forecast.json").write_text(json.dumps(pipeline, indent=2))
    return Workspace(root)


def prepare(ws: Any, data: DataSet) -> None:
    """What a user runs before training: validate the workspace, sync, run the query."""
    from matih.sources import sync
    from matih.specs import validate_workspace
    from matih.warehouse import warehouse_of

    report = validate_workspace(ws.root)
    if not report.ok:
        raise SystemExit("\n".join(str(e) for e in report.errors))
    sync(ws, "retail")
    warehouse_of(ws).run((ws.root / "queries" / "training_table.sql").read_text())
    if data.closures:
        warehouse_of(ws).run(f"CREATE OR REPLACE TABLE analytics.derived.closures AS {data.closures}")


def run_matih(
    ws: Any, data: DataSet | None, objective: str | None = None, *, refit: bool = False
) -> tuple[Any, dict[str, Any]]:
    """MATIH's forecast of the holdout from its origin, ``objective`` overriding the pipeline's.

    Without ``refit`` (the default): the validated fit the gate scores, trained on the full data with the
    holdout (and the calibration window) unseen. With it (``hyperparameters.refit``): trained on the data
    up to the holdout's origin as a daily pipeline trains on the data up to today (the validated fit,
    then the refit through the origin), as the peers are fitted on the same history."""
    import dataclasses

    from matih.forecast.adapt import configs_from_pipeline
    from matih.forecast.dataset import load_features
    from matih.forecast.features import FeatureContext
    from matih.forecast.fit import fit_forecaster

    if data is not None:
        prepare(ws, data)
    config, gate, _ = configs_from_pipeline(ws)
    config = dataclasses.replace(config, refit=refit, **({"objective": objective} if objective else {}))
    ctx = load_features(ws, config)
    holdout = gate.holdout_periods(ctx.grid.frequency)
    origin = ctx.grid.n_days - 1 - holdout
    train_ctx = FeatureContext.build(ctx.grid.until(origin)) if refit else ctx
    # the fit itself, as the peers' are timed (`matih train` also logs and registers it in MLflow)
    started = time.perf_counter()
    model, _ = fit_forecaster(train_ctx, config)
    fit = time.perf_counter() - started
    started = time.perf_counter()
    fc = model.predict(train_ctx, origin, horizon=holdout)
    predict = time.perf_counter() - started
    P = len(ctx.grid.series)
    out = {name: np.full((P, holdout), np.nan) for name in ("mean", "lo", "hi")}
    for key, values in (("mean", fc.predicted), ("lo", fc.lower), ("hi", fc.upper)):
        out[key][fc.series_index, fc.horizon - 1] = values
    return ctx, {
        "forecast": out,
        "fit_seconds": fit,
        "predict_seconds": predict,
        "notes": ctx.grid.notes,
        "objectives": model.meta["objectives"],
    }


# -- the peers, on the same grid ---------------------------------------------------------------------


def long_frame(ctx: Any, upto: int, data: DataSet, covariates: pd.DataFrame | None) -> pd.DataFrame:
    """The grid's history up to period ``upto`` as Nixtla's long format (unique_id, ds, y), zeros kept."""
    grid = ctx.grid
    Y = grid.Y[:, : upto + 1].copy()
    # the peers take a regular calendar (mlforecast refuses gaps: "consider using fill_gaps"): a closed
    # day, or a week the panel did not record (both NaN to MATIH), is a period with no sales to them
    started = np.arange(upto + 1)[None, :] >= grid.first[:, None]
    Y[started & np.isnan(Y)] = 0.0
    p, d = np.nonzero(~np.isnan(Y))
    frame = pd.DataFrame(
        {"unique_id": grid.series[p], "ds": pd.to_datetime(grid.date_at(d)), "y": Y[p, d].astype(np.float64)}
    )
    if covariates is not None:
        frame = frame.merge(covariates, on=["unique_id", "ds"], how="left")
        for column in data.exogenous:
            frame[column] = frame.groupby("unique_id")[column].ffill().fillna(0.0)
    return frame


def covariates_of(ws: Any, data: DataSet) -> pd.DataFrame | None:
    if not data.exogenous:
        return None
    from matih.warehouse import warehouse_of

    roles = data.hyperparameters
    columns = ", ".join(f"avg({c}) AS {c}" for c in data.exogenous)
    table = warehouse_of(ws).query(
        f"SELECT CAST({roles['series_column']} AS VARCHAR) AS unique_id,"
        f" CAST({roles['date_column']} AS DATE) AS ds, {columns}"
        " FROM analytics.derived.training GROUP BY ALL"
    )
    frame = table.to_pandas()
    frame["ds"] = pd.to_datetime(frame["ds"])
    return frame


def as_matrix(ctx: Any, forecast: pd.DataFrame, column: str, origin: int, horizon: int) -> np.ndarray:
    grid = ctx.grid
    index = {s: i for i, s in enumerate(grid.series)}
    dates = pd.to_datetime(grid.date_at(np.arange(origin + 1, origin + horizon + 1)))
    step = {d: k for k, d in enumerate(dates)}
    out = np.full((len(grid.series), horizon), np.nan)
    rows = forecast["unique_id"].map(index).to_numpy()
    cols = forecast["ds"].map(step).to_numpy()
    ok = ~(pd.isna(rows) | pd.isna(cols))
    out[rows[ok].astype(int), cols[ok].astype(int)] = forecast[column].to_numpy()[ok]
    return out


def run_statsforecast(ctx: Any, data: DataSet, origin: int, horizon: int) -> dict[str, dict[str, Any]]:
    from statsforecast import StatsForecast
    from statsforecast.models import TSB, AutoETS, CrostonSBA, Naive, SeasonalNaive

    frame = long_frame(ctx, origin, data, None)
    results: dict[str, dict[str, Any]] = {}
    models: list[tuple[str, Any, bool]] = [
        ("SeasonalNaive", SeasonalNaive(season_length=data.season), True),
        ("AutoETS", AutoETS(season_length=min(data.season, 24)), True),
    ]
    if data.intermittent:
        models += [("CrostonSBA", CrostonSBA(), False), ("TSB", TSB(alpha_d=0.2, alpha_p=0.2), False)]
    for name, model, intervals in models:
        # a series too short for the model (AutoETS on a few selling days) gets the naive forecast
        sf = StatsForecast(models=[model], freq=data.freq, n_jobs=1, fallback_model=Naive())
        started = time.perf_counter()
        forecast = sf.forecast(df=frame, h=horizon, level=[80] if intervals else None)
        if "unique_id" not in forecast.columns:  # older statsforecast kept it in the index
            forecast = forecast.reset_index()
        seconds = time.perf_counter() - started
        column = next(
            c
            for c in forecast.columns
            if c not in ("unique_id", "ds", "index") and "-lo-" not in c and "-hi-" not in c
        )
        out = {"mean": np.clip(as_matrix(ctx, forecast, column, origin, horizon), 0, None)}
        if intervals:
            out["lo"] = as_matrix(ctx, forecast, f"{column}-lo-80", origin, horizon)
            out["hi"] = as_matrix(ctx, forecast, f"{column}-hi-80", origin, horizon)
        results[f"statsforecast {name}"] = {"forecast": out, "fit_seconds": seconds, "predict_seconds": 0.0}
    return results


def run_mlforecast(
    ctx: Any, data: DataSet, origin: int, horizon: int, covariates: pd.DataFrame | None, trees: int
) -> dict[str, Any]:
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean
    from mlforecast.utils import PredictionIntervals

    frame = long_frame(ctx, origin, data, covariates)
    daily = data.freq == "D"
    lags = [1, 7, 14, 28] if daily else [1, 2, 4, 52]
    windows = [7, 28] if daily else [4, 13]
    fcst = MLForecast(
        models={"lgbm": lgb.LGBMRegressor(n_estimators=trees, learning_rate=0.05, num_leaves=31, verbose=-1)},
        freq=data.freq,
        lags=lags,
        lag_transforms={1: [RollingMean(window_size=w) for w in windows]},
        date_features=["dayofweek", "month"] if daily else ["week", "month"],
    )
    # conformal intervals need every series to hold two windows of history; short ones go without
    shortest = int(frame.groupby("unique_id").size().min())
    intervals = shortest > 2 * horizon + max(lags)
    started = time.perf_counter()
    fcst.fit(
        frame,
        static_features=[],
        prediction_intervals=PredictionIntervals(n_windows=2, h=horizon) if intervals else None,
    )
    fit = time.perf_counter() - started
    future = None
    if covariates is not None:
        dates = pd.to_datetime(ctx.grid.date_at(np.arange(origin + 1, origin + horizon + 1)))
        grid_ids = pd.MultiIndex.from_product([ctx.grid.series, dates], names=["unique_id", "ds"]).to_frame(
            index=False
        )
        future = grid_ids.merge(covariates, on=["unique_id", "ds"], how="left")
        last = frame.groupby("unique_id")[list(data.exogenous)].last()
        for column in data.exogenous:
            future[column] = future[column].fillna(future["unique_id"].map(last[column])).fillna(0.0)
    started = time.perf_counter()
    forecast = fcst.predict(h=horizon, X_df=future, level=[80] if intervals else None)
    predict = time.perf_counter() - started
    out = {"mean": np.clip(as_matrix(ctx, forecast, "lgbm", origin, horizon), 0, None)}
    if intervals:
        out["lo"] = as_matrix(ctx, forecast, "lgbm-lo-80", origin, horizon)
        out["hi"] = as_matrix(ctx, forecast, "lgbm-hi-80", origin, horizon)
    label = "mlforecast LightGBM" + (" + covariates" if covariates is not None else "")
    return {label: {"forecast": out, "fit_seconds": fit, "predict_seconds": predict}}


def run_peers(root: str, name: str, trees: int) -> dict[str, dict[str, Any]]:
    """The peers on the grid MATIH read (loaded again here, in the child process)."""
    from matih.forecast.adapt import configs_from_pipeline
    from matih.forecast.dataset import load_features
    from matih.workspace import Workspace

    data = SETS[name]
    ws = Workspace(Path(root))
    config, _, _ = configs_from_pipeline(ws)
    ctx = load_features(ws, config)
    horizon = data.horizon
    origin = ctx.grid.n_days - 1 - horizon
    methods = run_statsforecast(ctx, data, origin, horizon)
    methods.update(run_mlforecast(ctx, data, origin, horizon, None, trees))
    covariates = covariates_of(ws, data)
    if covariates is not None:
        methods.update(run_mlforecast(ctx, data, origin, horizon, covariates, trees))
    return methods


# -- scoring -----------------------------------------------------------------------------------------


def score(
    ctx: Any, origin: int, horizon: int, forecast: dict[str, np.ndarray], data: DataSet
) -> dict[str, float]:
    grid = ctx.grid
    active = np.nonzero(grid.first <= origin)[0]
    window = slice(origin + 1, origin + 1 + horizon)
    y = np.nan_to_num(grid.Y[active, window]).astype(np.float64)
    counted = np.ones_like(y, dtype=bool) if data.missing_is_zero else grid.present[active, window]
    # every method is scored on trading days: on a closed day there is nothing to forecast
    counted &= grid.is_open(np.arange(origin + 1, origin + 1 + horizon))[None, :]
    yhat = np.nan_to_num(forecast["mean"][active])
    total = y[counted].sum()
    figures = {
        "wape": float(np.abs(y - yhat)[counted].sum() / total),
        "bias": float((yhat[counted].sum() - total) / total),
        "cells": int(counted.sum()),
    }
    history = np.nan_to_num(grid.Y[active, : origin + 1]).astype(np.float64)
    seen = grid.present[active, : origin + 1]
    started = grid.first[active]
    rmsse, weight = [], []
    for i in range(len(active)):
        past = history[i, started[i] :]
        if not data.missing_is_zero:
            past = past[seen[i, started[i] :]]
        if len(past) < 2 or not counted[i].any():
            continue
        scale = np.sqrt(np.mean(np.diff(past) ** 2))
        if scale == 0:
            continue
        rmsse.append(np.sqrt(np.mean(((y[i] - yhat[i]) ** 2)[counted[i]])) / scale)
        weight.append(past.sum())
    w = np.asarray(weight)
    figures["rmsse"] = float(np.average(rmsse, weights=w)) if w.sum() > 0 else float("nan")
    if "lo" in forecast:
        lo, hi = forecast["lo"][active], forecast["hi"][active]
        ok = counted & ~(np.isnan(lo) | np.isnan(hi))
        figures["coverage80"] = float(((y >= lo) & (y <= hi))[ok].mean())
    return figures


def run_set(root: Path, data: DataSet, trees: int) -> dict[str, Any]:
    ws = workspace_for(root / data.name, data, trees)
    console.print(f"[bold]{data.name}[/]: MATIH")
    ctx, matih = run_matih(ws, data, refit=False)
    _, refitted = run_matih(ws, None, refit=True)
    horizon = data.horizon
    origin = ctx.grid.n_days - 1 - horizon
    methods: dict[str, dict[str, Any]] = {"MATIH": matih, "MATIH, refit": refitted}
    console.print(f"[bold]{data.name}[/]: statsforecast and mlforecast (a child process)")
    with peer_process() as pool:  # apart from MATIH's, with passive OpenMP waiting (peer_process.py)
        methods.update(pool.submit(run_peers, str(ws.root), data.name, trees).result())
    rows = {}
    for name, result in methods.items():
        rows[name] = {
            **score(ctx, origin, horizon, result["forecast"], data),
            "seconds": round(result["fit_seconds"] + result["predict_seconds"], 2),
        }
    table = Table(
        title=f"{data.name}: {len(ctx.grid.series):,} series, holdout {data.holdout}"
        f" after {ctx.grid.date_at(origin)}"
    )
    for column in ("method", "WAPE", "RMSSE", "bias", "80% coverage", "seconds"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for name, row in rows.items():
        table.add_row(
            name,
            f"{row['wape']:.3f}",
            f"{row['rmsse']:.3f}",
            f"{row['bias']:+.3f}",
            f"{row['coverage80']:.1%}" if "coverage80" in row else "-",
            f"{row['seconds']:.1f}",
        )
    console.print(table)
    return {
        "series": len(ctx.grid.series),
        "origin": str(ctx.grid.date_at(origin)),
        "methods": rows,
        "notes": matih["notes"],
    }


OBJECTIVES = ("auto", "poisson", "tweedie", "l2")


def compare_objectives(ws: Any, data: DataSet | None, name: str) -> dict[str, dict[str, Any]]:
    """MATIH alone with each objective forced, on the set's holdout (``data`` None: a workspace as it
    is, e.g. the NovaMart demo's after ``make demo``, scored with zero-sales days)."""
    from matih.forecast.adapt import configs_from_pipeline

    scoring = data or DataSet(name, "", "", {}, "", "", 0, "D", 7)
    rows: dict[str, dict[str, Any]] = {}
    for i, objective in enumerate(OBJECTIVES):
        console.print(f"[bold]{name}[/]: MATIH, objective {objective}")
        ctx, result = run_matih(ws, data if i == 0 else None, objective)
        horizon = configs_from_pipeline(ws)[1].holdout_periods(ctx.grid.frequency)
        origin = ctx.grid.n_days - 1 - horizon
        rows[objective] = {
            **score(ctx, origin, horizon, result["forecast"], scoring),
            "seconds": round(result["fit_seconds"] + result["predict_seconds"], 2),
            "objectives": sorted(set(result["objectives"].values())),
        }
    table = Table(title=f"{name}: MATIH by objective")
    for column in ("objective", "fitted", "WAPE", "RMSSE", "bias", "80% coverage", "seconds"):
        table.add_column(column, justify="left" if column in ("objective", "fitted") else "right")
    for objective, row in rows.items():
        table.add_row(
            objective,
            "/".join(row["objectives"]),
            f"{row['wape']:.3f}",
            f"{row['rmsse']:.3f}",
            f"{row['bias']:+.3f}",
            f"{row['coverage80']:.1%}",
            f"{row['seconds']:.1f}",
        )
    console.print(table)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/matih-real-data")
    parser.add_argument("--only", default=",".join(SETS))
    parser.add_argument("--trees", type=int, default=300)
    parser.add_argument("--objectives", action="store_true", help="MATIH by objective, no peers")
    parser.add_argument("--workspace", help="with --objectives: also this workspace (e.g. the demo's)")
    args = parser.parse_args()
    if args.objectives:
        from matih.workspace import Workspace

        compared = {}
        if args.workspace:
            compared["novamart"] = compare_objectives(Workspace(Path(args.workspace)), None, "novamart")
        for name in args.only.split(","):
            ws = workspace_for(Path(args.workdir) / name, SETS[name], args.trees)
            compared[name] = compare_objectives(ws, SETS[name], name)
        console.print(f"written to {write_results('objectives', {'trees': args.trees, **compared})}")
        return
    results = {}
    for name in args.only.split(","):
        started = time.perf_counter()
        results[name] = run_set(Path(args.workdir), SETS[name], args.trees)
        results[name]["seconds"] = round(time.perf_counter() - started)
    path = write_results("real_data", {"trees": args.trees, **results})
    console.print(f"written to {path}")


if __name__ == "__main__":
    main()

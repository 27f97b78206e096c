"""The accuracy monitor against an independent recomputation in pandas, on a real warehouse."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from matih.forecast.archive import archive, archive_table
from matih.forecast.config import TrainConfig
from matih.monitoring.accuracy import ACCURACY_TABLE, ALL, track_accuracy
from matih.warehouse import warehouse_of
from matih.workspace import Workspace

OUTPUT = "analytics.forecasts.demand_14d"
START = dt.date(2026, 1, 1)
DAYS = 80  # actuals through 2026-03-21
H = 14


@pytest.fixture
def ws(tmp_path) -> Workspace:
    (tmp_path / "matih.yaml").write_text("name: monitored\n")
    ws = Workspace(tmp_path)
    rng = np.random.default_rng(4)
    rows = []
    for p in range(30):
        level = rng.uniform(2, 40)
        for d in range(DAYS):
            units = rng.poisson(level)
            if units:  # the seed's SQL keeps selling days only: missing days sold nothing
                rows.append((f"P{p:02d}", ["Toys", "Books"][p % 2], START + dt.timedelta(days=d), units))
    frame = pd.DataFrame(rows, columns=["product_id", "category", "sale_date", "units_sold"])
    warehouse_of(ws).write_arrow("analytics.derived.demand_features", pa.Table.from_pandas(frame))
    return ws


def publish(
    ws: Workspace,
    origin: dt.date,
    version: str,
    rng: np.random.Generator,
    bias: float = 1.0,
    shifted: tuple[str, dt.date] | None = None,
) -> None:
    """A batch as the forecast table holds it: every product, H days from ``origin``; ``shifted``
    (category, from): that category's forecasts for dates from then on are 4 times too high."""
    rows = []
    for p in range(30):
        for h in range(1, H + 1):
            yhat = rng.uniform(2, 40) * bias
            day = origin + dt.timedelta(days=h)
            if shifted is not None and ["Toys", "Books"][p % 2] == shifted[0] and day >= shifted[1]:
                yhat *= 4
            rows.append(
                {
                    "product_id": f"P{p:02d}",
                    "product_name": None,
                    "category": ["Toys", "Books"][p % 2],
                    "forecast_date": origin + dt.timedelta(days=h),
                    "horizon_days": h,
                    "horizon": h,
                    "predicted_units": yhat,
                    "prediction_interval_lower": yhat * 0.6,
                    "prediction_interval_upper": yhat * 1.4,
                    "model_version": version,
                    "model": "category:x",
                    "forecast_origin": origin,
                    "interval_level": 0.8,
                }
            )
    archive(warehouse_of(ws), OUTPUT, pa.Table.from_pylist(rows))


def test_matured_forecasts_are_scored_as_pandas_scores_them(ws):
    rng = np.random.default_rng(0)
    for k in range(12):  # daily batches from 2026-02-20 (origin day 50) on
        publish(ws, START + dt.timedelta(days=50 + k), "v1", rng)
    # the same origin published again by a retrained version: only the last batch counts
    publish(ws, START + dt.timedelta(days=55), "v2", rng, bias=3.0)
    wh = warehouse_of(ws)
    assert wh.query(f"SELECT count(*) FROM {archive_table(OUTPUT)}").column(0)[0].as_py() == 13 * 30 * H
    publish(ws, START + dt.timedelta(days=55), "v2", rng, bias=3.0)  # a re-run replaces, never doubles
    assert wh.query(f"SELECT count(*) FROM {archive_table(OUTPUT)}").column(0)[0].as_py() == 13 * 30 * H

    as_of = dt.date(2026, 3, 30)  # lag 14: forecast dates up to 2026-03-16 are scored
    result = track_accuracy(ws, TrainConfig(), OUTPUT, as_of=as_of, lag_days=14)
    assert result.last_scored == "2026-03-16"

    # independently: pandas over the archive and the actuals, zero-filling days without a row
    hist = wh.query(f"SELECT * FROM {archive_table(OUTPUT)}").to_pandas()
    live = hist.groupby("forecast_origin")["published_at"].transform("max") == hist["published_at"]
    f = hist[live & (pd.to_datetime(hist["forecast_date"]) <= pd.Timestamp("2026-03-16"))]
    actuals = wh.query("SELECT * FROM analytics.derived.demand_features").to_pandas()
    f = f.merge(
        actuals[["product_id", "sale_date", "units_sold"]],
        how="left",
        left_on=["product_id", "forecast_date"],
        right_on=["product_id", "sale_date"],
    )
    f["y"] = f["units_sold"].fillna(0.0)
    f["err"] = (f["y"] - f["predicted_units"]).abs()
    assert result.scored_forecasts == len(f)
    assert not (f["model_version"].eq("v1") & f["forecast_origin"].eq(START + dt.timedelta(days=55))).any()

    table = wh.query(f"SELECT * FROM {ACCURACY_TABLE}").to_pandas()
    by_cat = (
        f.groupby(["forecast_date", "category"])
        .agg(err=("err", "sum"), y=("y", "sum"), yhat=("predicted_units", "sum"))
        .reset_index()
    )
    mine = table[table["lead_days"] == 0].merge(by_cat, on=["forecast_date", "category"])
    assert len(mine) == len(by_cat) and len(mine) > 0
    assert np.allclose(mine["mape"], mine["err"] / mine["y"])
    assert np.allclose(mine["bias"], (mine["yhat"] - mine["y"]) / mine["y"])
    overall = f.groupby("forecast_date").apply(lambda g: g["err"].sum() / g["y"].sum(), include_groups=False)
    got = table[(table["category"] == ALL) & (table["lead_days"] == 0)].set_index("forecast_date")["mape"]
    assert np.allclose(got.loc[overall.index], overall.values)
    # by lead time: one row per (date, category, lead); coverage as the share inside the band
    lead3 = f[f["horizon_days"] == 3]
    inside = (lead3["y"] >= lead3["prediction_interval_lower"]) & (
        lead3["y"] <= lead3["prediction_interval_upper"]
    )
    got3 = table[(table["category"] == ALL) & (table["lead_days"] == 3)]
    assert np.isclose((got3["coverage"] * got3["forecasts"]).sum(), inside.sum())
    assert result.daily[ALL]["2026-03-16"] == pytest.approx(overall.loc[dt.date(2026, 3, 16)])


def test_forecasts_whose_actuals_are_not_complete_are_never_read(ws):
    rng = np.random.default_rng(1)
    publish(ws, START + dt.timedelta(days=70), "v1", rng)  # forecast dates 2026-03-13 .. 03-26
    # the lag holds back everything after 03-16; actuals end on 03-21 anyway
    result = track_accuracy(ws, TrainConfig(), OUTPUT, as_of=dt.date(2026, 3, 30), lag_days=14)
    assert result.last_scored == "2026-03-16" and result.scored_forecasts == 4 * 30
    # without a lag, the data's last day bounds it: nothing past 03-21 is scored as a zero-sales day
    result = track_accuracy(ws, TrainConfig(), OUTPUT, as_of=dt.date(2026, 4, 30), lag_days=0)
    assert result.last_scored == "2026-03-21" and result.scored_forecasts == 9 * 30


def test_a_baseline_alerts_on_a_change_not_on_a_level(ws):
    """With a baseline, a category alerts when its MAPE is above the threshold and 1.5 times its own
    median of the evaluated days before (its first 7 are its reference); without one the threshold
    decides."""
    import json

    from matih.monitoring.runner import run_monitors

    rng = np.random.default_rng(2)
    shift = START + dt.timedelta(days=60)
    for k in range(20, 66):
        publish(ws, START + dt.timedelta(days=k), "v1", rng, shifted=("Toys", shift))
    spec = {
        "monitor_name": "prod",
        "monitors": [
            {
                "type": "accuracy_tracking",
                "metric": "mape",
                "granularity": "category",
                "evaluation_lag_days": 14,
                "alert_threshold": 0.15,
                "schedule": "0 8 * * *",
                "baseline": {"factor": 1.5},
            }
        ],
    }
    (ws.root / "monitors").mkdir()
    (ws.root / "monitors" / "prod.json").write_text(json.dumps(spec))

    def breaches(last_scored: dt.date) -> list[str]:
        (report,) = run_monitors(ws, today=last_scored + dt.timedelta(days=14))
        assert report.sections[0].figures["last_scored"] == last_scored.isoformat()
        return list(report.sections[0].figures["breaches"])

    # random forecasts are far off (MAPE about 0.6 in both categories): every day is above 0.15
    every = ["ALL", "Books", "Toys"]  # ALL: the overall figure
    assert breaches(START + dt.timedelta(days=24)) == []  # 3 dates before: their reference period
    (report,) = run_monitors(ws, today=START + dt.timedelta(days=24 + 14))
    assert "building its baseline: 3 of 7 dates" in report.sections[0].lines[0]
    assert breaches(START + dt.timedelta(days=59)) == []  # steady: that is these categories' normal
    assert breaches(shift) == ["ALL", "Toys"]  # the first shifted date is flagged; Books is not
    (report,) = run_monitors(ws, today=shift + dt.timedelta(days=14))
    line = next(x for x in report.sections[0].lines if x.startswith("mape Toys"))
    assert "above 0.15 and" in line and "x its baseline" in line
    # the baseline is the median of the 28 dates before, as pandas computes it
    table = warehouse_of(ws).query(f"SELECT * FROM {ACCURACY_TABLE}").to_pandas()
    toys = table[(table["category"] == "Toys") & (table["lead_days"] == 0)].sort_values("forecast_date")
    toys = toys[toys["forecast_date"] <= shift]
    expected = toys["mape"].iloc[:-1].tail(28).median()
    assert report.sections[0].figures["baselines"]["Toys"] == pytest.approx(expected, abs=1e-6)
    spec["monitors"][0].pop("baseline")  # the seed's spec as written: the threshold alone
    (ws.root / "monitors" / "prod.json").write_text(json.dumps(spec))
    assert breaches(START + dt.timedelta(days=59)) == every


def test_the_health_report_reads_the_records(ws, tmp_path):
    from matih.monitoring.health import PipelineRun, health_report, plot

    rng = np.random.default_rng(2)
    for k in range(25):
        publish(ws, START + dt.timedelta(days=40 + k), "v1", rng)
    track_accuracy(ws, TrainConfig(), OUTPUT, as_of=dt.date(2026, 3, 30), lag_days=14)
    runs = [
        PipelineRun("succeeded", "2026-03-20T04:00:00", False, 600.0, 60.0),
        PipelineRun("succeeded", "2026-03-21T04:00:00", True, 660.0, 80.0),
        PipelineRun("failed", "2026-03-22T04:00:00", False),
        PipelineRun("succeeded", "2025-12-01T04:00:00", False, 1.0, 1.0),  # before the period
    ]
    now = dt.datetime(2026, 3, 30, 9, tzinfo=dt.UTC)
    report = health_report(ws, None, runs, days=30, now=now, today=now.date())
    text = report.text()
    assert "Pipeline Runs:        3 (1 success, 1 retry-then-success, 1 failed)" in text
    assert "Avg Training Time:    10m 30s" in text and "Avg Batch Inference:  1m 10s" in text
    # weekly MAPE is volume-weighted over the week's scored days, as pandas computes it
    table = (
        warehouse_of(ws)
        .query(f"SELECT * FROM {ACCURACY_TABLE} WHERE category = 'ALL' AND lead_days = 0")
        .to_pandas()
    )
    table["week"] = pd.to_datetime(table["forecast_date"]).dt.to_period("W-SUN").dt.start_time.dt.date
    table = table[table["forecast_date"] >= dt.date(2026, 2, 28)]
    weekly = table.groupby("week").apply(
        lambda g: (g["mape"] * g["actual_units"]).sum() / g["actual_units"].sum(), include_groups=False
    )
    assert [w for w, _ in report.weekly] == [str(w) for w in weekly.index]
    assert np.allclose([m for _, m in report.weekly], weekly.values)
    assert "Week 1:" in text and "█" in text and "Retraining Triggers:  0" in text
    assert set(report.weekly_by_category) == {"Toys", "Books"}
    assert plot(report, tmp_path / "health.png").stat().st_size > 10_000

"""Weekly and monthly datasets: periods are inferred and checked, and every output row is a period."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from matih.exceptions import TrainingError
from matih.forecast.frequency import frequency_of, infer_frequency, parse_frequency
from tests.forecast.pipelines import write_pipeline


def _dates(*days: str) -> np.ndarray:
    return np.array(days, dtype="datetime64[D]")


@pytest.mark.parametrize(
    ("dates", "code"),
    [
        (("2024-01-01", "2024-01-02", "2024-01-05"), "D"),
        (("2024-01-07", "2024-01-14", "2024-02-04"), "W-SUN"),
        (("2024-01-05", "2024-01-19"), "W-FRI"),
        (("2024-01-01", "2024-02-01", "2024-04-01"), "MS"),
        (("2024-01-31", "2024-02-29", "2024-03-31"), "ME"),
    ],
)
def test_the_frequency_is_inferred_from_the_dates(dates, code) -> None:
    assert infer_frequency(_dates(*dates)).code == code


def test_mixed_or_contradicting_dates_are_clear_errors() -> None:
    with pytest.raises(TrainingError, match="no single frequency"):
        infer_frequency(_dates("2024-01-07", "2024-01-14", "2024-01-17"))
    with pytest.raises(TrainingError, match="frequency D, but the dates are weekly"):
        frequency_of("D", _dates("2024-01-07", "2024-01-14"))
    with pytest.raises(TrainingError, match="1 of 2 dates are not a Sun"):
        frequency_of("W", _dates("2024-01-07", "2024-01-15"))
    with pytest.raises(TrainingError, match="not understood"):
        parse_frequency("fortnightly")


def test_periods_and_their_dates_round_trip() -> None:
    months = parse_frequency("ME")
    index, start = months.positions(_dates("2024-01-31", "2024-03-31", "2024-12-31"))
    assert index.tolist() == [0, 2, 11] and str(start) == "2024-01-31"
    assert [str(d) for d in months.date_at(start, np.array([1, 13]))] == ["2024-02-29", "2025-02-28"]
    weeks = parse_frequency("W-SUN")
    assert weeks.index_of(np.datetime64("2024-01-07"), np.datetime64("2024-02-04")) == 4


# -- end to end: train, gate and forecast a weekly and a monthly dataset -----------------------------


@pytest.fixture
def workspace(loaded_workspace, tmp_path):
    from matih.workspace import Workspace

    dest = tmp_path / "ws"
    shutil.copytree(loaded_workspace.root, dest)
    for folder in ("pipelines", "deployments", "monitors", "routing", "experiments", "quality", "sources"):
        shutil.rmtree(dest / folder, ignore_errors=True)
    (dest / "pipelines").mkdir()
    return Workspace(dest)


PERIODS = {
    # weeks dated by their last day (a Sunday); months by their first
    "W-SUN": ("CAST(date_trunc('week', sale_date) AS DATE) + 6", "last_8_weeks", "8w", 7),
    "MS": ("CAST(date_trunc('month', sale_date) AS DATE)", "last_3_months", "90d", None),
}


def _pipeline(ws, code: str, horizon: int) -> None:
    period, holdout, window, _ = PERIODS[code]
    from matih.warehouse import warehouse_of

    warehouse_of(ws).run(f"""CREATE OR REPLACE TABLE analytics.custom.periodic AS
        SELECT product_id, category, {period} AS period_date, sum(units_sold) AS units_sold
        FROM analytics.derived.demand_features GROUP BY ALL""")
    hyperparameters = {
        "forecast_horizon": horizon,
        "category_column": "category",
        "date_column": "period_date",
    }
    thresholds = {"mape_max": 0.9, "bias_range": [-0.5, 0.5]}
    write_pipeline(
        ws,
        "periodic",
        "analytics.custom.periodic",
        hyperparameters,
        holdout=holdout,
        window=window,
        output="analytics.custom.periodic_forecast",
        thresholds=thresholds,
    )


@pytest.mark.training
@pytest.mark.parametrize(("code", "horizon"), [("W-SUN", 8), ("MS", 3)])
def test_a_periodic_dataset_trains_gates_and_forecasts_whole_periods(workspace, code, horizon) -> None:
    from matih.forecast.adapt import configs_from_pipeline
    from matih.forecast.batch import forecast
    from matih.forecast.evaluation import evaluate
    from matih.forecast.training import train
    from matih.warehouse import warehouse_of

    _pipeline(workspace, code, horizon)
    cfg, gate, output = configs_from_pipeline(workspace)
    train(workspace, cfg)
    report = evaluate(workspace, cfg, gate)
    assert report.rows > 0 and np.isfinite(report.overall.mape)
    result = forecast(workspace, cfg, output_table=output)
    t = warehouse_of(workspace).query(f"SELECT * FROM {result.table}").to_pandas()
    dates = np.array(t["forecast_date"].to_numpy(), dtype="datetime64[D]")
    # every row is a period of the dataset's frequency: Sundays, or the first of a month; none between
    frequency_of(code, dates)
    assert sorted(t["horizon"].unique().tolist()) == list(range(1, horizon + 1))
    assert len(t) == t["product_id"].nunique() * horizon
    origin = np.datetime64(str(t["forecast_origin"].iloc[0]), "D")
    assert (dates > origin).all()
    step = PERIODS[code][3]
    if step:
        assert set(t["horizon_days"].unique().tolist()) == {step * h for h in range(1, horizon + 1)}
    assert (t["predicted_units"] >= 0).all()
    assert (t["prediction_interval_upper"] >= t["predicted_units"]).all()
    # weekly volumes, not daily ones: a week's forecast is of the order of a week's sales
    recent = (
        warehouse_of(workspace)
        .query(
            "SELECT avg(units_sold) AS u FROM analytics.custom.periodic"
            " WHERE period_date >= (SELECT max(period_date) FROM analytics.custom.periodic) - INTERVAL 60 DAY"
        )["u"][0]
        .as_py()
    )
    assert 0.3 * recent < t["predicted_units"].mean() < 3 * recent


@pytest.mark.training
def test_a_weekly_model_refuses_a_daily_holdout_that_is_not_whole_weeks(workspace) -> None:
    from matih.forecast.adapt import configs_from_pipeline
    from matih.forecast.config import GateConfig

    _pipeline(workspace, "W-SUN", 8)
    cfg, _, _ = configs_from_pipeline(workspace)
    with pytest.raises(TrainingError, match="write it as last_<N>_weeks"):
        GateConfig(holdout_days=10).holdout_periods(parse_frequency("W-SUN"))
    assert GateConfig(holdout_days=14).holdout_periods(parse_frequency("W-SUN")) == 2
    assert cfg.frequency is None  # inferred from the dates


@pytest.mark.training
def test_a_store_closed_on_saturdays_never_gets_a_saturday_forecast(workspace) -> None:
    from matih.forecast.adapt import configs_from_pipeline
    from matih.forecast.batch import forecast
    from matih.forecast.evaluation import evaluate
    from matih.forecast.training import train
    from matih.warehouse import warehouse_of

    wh = warehouse_of(workspace)
    # the shop does not open on Saturdays (the rows sold then move to Friday), nor on one Monday
    wh.run("""CREATE OR REPLACE TABLE analytics.custom.weekdays AS
        SELECT product_id, category,
               CASE WHEN dayofweek(sale_date) = 6 THEN sale_date - 1 ELSE sale_date END AS sale_date,
               sum(units_sold) AS units_sold
        FROM analytics.derived.demand_features GROUP BY ALL""")
    closed = wh.query("SELECT max(sale_date) + 6 AS d FROM analytics.custom.weekdays")["d"][
        0
    ].as_py()  # a day inside the forecast, closed for a stocktake
    wh.run(f"CREATE TABLE analytics.calendar.closures AS SELECT DATE '{closed}' AS date")
    hyperparameters = {
        "forecast_horizon": 14,
        "category_column": "category",
        "closed_weekdays": ["SAT"],
        "closures_table": "analytics.calendar.closures",
    }
    write_pipeline(
        workspace,
        "weekdays",
        "analytics.custom.weekdays",
        hyperparameters,
        holdout="last_14_days",
        window="14d",
        output="analytics.custom.weekdays_forecast",
    )
    cfg, gate, output = configs_from_pipeline(workspace)
    train(workspace, cfg)
    report = evaluate(workspace, cfg, gate)
    assert np.isfinite(report.overall.mape)
    result = forecast(workspace, cfg, output_table=output)
    t = wh.query(
        f"SELECT product_id, forecast_date, dayofweek(forecast_date) AS dow FROM {result.table}"
    ).to_pandas()
    assert (t["dow"] != 6).all()  # no Saturday
    assert str(closed) not in {str(d)[:10] for d in t["forecast_date"]}
    days = t["forecast_date"].nunique()
    assert days == 14 - 2 - 1 and len(t) == t["product_id"].nunique() * days

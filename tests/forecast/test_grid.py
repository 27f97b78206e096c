from __future__ import annotations

import numpy as np
import pytest

from matih.exceptions import TrainingError
from matih.forecast.config import ColumnRoles
from matih.forecast.grid import load_grid
from matih.warehouse import Warehouse


def test_dense_grid_fills_zero_days_and_reports_gaps(tmp_path):
    wh = Warehouse(tmp_path)
    wh.run("""CREATE TABLE analytics.derived.d AS
              SELECT * FROM (VALUES ('a', DATE '2024-01-01', 3, 'X'), ('a', DATE '2024-01-04', 5, 'X'),
                                    ('b', DATE '2024-01-02', 1, 'Y'), ('b', DATE '2024-01-03', 2, 'Y'),
                                    ('b', DATE '2024-01-04', 4, 'Y'))
                     t(product_id, sale_date, units_sold, category)""")
    g = load_grid(wh, "analytics.derived.d", ColumnRoles())
    assert g.series.tolist() == ["a", "b"] and g.n_days == 4
    assert np.array_equal(g.Y[0], [3, 0, 0, 5])
    assert np.isnan(g.Y[1, 0]) and np.array_equal(g.Y[1, 1:], [1, 2, 4])
    assert g.first.tolist() == [0, 1]
    assert g.gaps is not None and g.gaps.gappy_series == 1 and g.gaps.missing_days == 2
    assert "skip 2 calendar days" in (g.gaps.warning() or "")


def test_rows_sharing_a_day_are_summed(tmp_path):
    wh = Warehouse(tmp_path)
    wh.run("""CREATE TABLE analytics.derived.d AS
              SELECT * FROM (VALUES ('a', DATE '2024-01-01', 3, 10.0), ('a', DATE '2024-01-02', 5, 10.0),
                                    ('a', DATE '2024-01-02', 2, 12.0), ('b', DATE '2024-01-02', 1, 4.0))
                     t(product_id, sale_date, units_sold, avg_selling_price)""")
    g = load_grid(wh, "analytics.derived.d", ColumnRoles())
    assert np.array_equal(g.Y[0], [3, 7]) and np.isnan(g.Y[1, 0]) and g.Y[1, 1] == 1
    assert g.price[0, 1] == 11.0  # the day's prices are averaged
    assert g.selling_days.tolist() == [2, 1]


def _table(wh: Warehouse, rows: str) -> None:
    columns = "t(product_id, sale_date, units_sold)"
    wh.run(f"CREATE OR REPLACE TABLE analytics.derived.d AS SELECT * FROM (VALUES {rows}) {columns}")


def test_duplicate_rows_are_summed_with_a_note(tmp_path):
    wh = Warehouse(tmp_path)
    _table(wh, "('a', DATE '2024-01-01', 3), ('a', DATE '2024-01-01', 4), ('a', DATE '2024-01-02', 1)")
    g = load_grid(wh, "analytics.derived.d", ColumnRoles())
    assert g.Y[0].tolist() == [7, 1]
    assert any("1 rows shared a series and day" in n and "summed" in n for n in g.notes)


def test_negative_targets_are_clipped_kept_or_refused_as_the_spec_says(tmp_path):
    import pytest

    from matih.exceptions import TrainingError

    wh = Warehouse(tmp_path)
    _table(wh, "('a', DATE '2024-01-01', 3), ('a', DATE '2024-01-02', -2), ('b', DATE '2024-01-02', 1)")
    clipped = load_grid(wh, "analytics.derived.d", ColumnRoles())
    assert clipped.Y[0].tolist() == [3, 0]
    assert any("1 negative units_sold values" in n and "negative_values: clip" in n for n in clipped.notes)
    kept = load_grid(wh, "analytics.derived.d", ColumnRoles(), negative_values="keep")
    assert kept.Y[0].tolist() == [3, -2] and any("kept" in n for n in kept.notes)
    with pytest.raises(TrainingError, match="series 'a' on 2024-01-02") as refused:
        load_grid(wh, "analytics.derived.d", ColumnRoles(), negative_values="error")
    assert "negative_values" in str(refused.value)


def test_dates_after_today_are_refused(tmp_path):
    import datetime as dt

    import pytest

    from matih.exceptions import TrainingError

    wh = Warehouse(tmp_path)
    later = dt.date.today() + dt.timedelta(days=30)
    _table(wh, f"('a', DATE '2024-01-01', 3), ('a', DATE '{later}', 1)")
    with pytest.raises(TrainingError, match="1 dates after today") as refused:
        load_grid(wh, "analytics.derived.d", ColumnRoles())
    assert "sale_date" in str(refused.value) and str(later) in str(refused.value)


def test_series_the_model_can_say_little_about_are_reported(tmp_path):
    wh = Warehouse(tmp_path)
    days = ", ".join(f"('busy', DATE '2024-01-01' + INTERVAL {k} DAY, {k % 3 + 1})" for k in range(60))
    _table(
        wh,
        days
        + ", ('once', DATE '2024-02-20', 5), ('never', DATE '2024-01-05', 0), ('never', DATE '2024-01-06', 0)"
        ", ('gone', DATE '2024-01-02', 4)",
    )
    notes = " | ".join(load_grid(wh, "analytics.derived.d", ColumnRoles()).notes)
    assert "2 series have a single row" in notes  # 'once' and 'gone'
    assert "1 series never sold" in notes
    assert "2 series have no row in the last 14 days" in notes  # 'never' and 'gone'


def test_closed_days_are_not_zeros_and_not_targets(tmp_path):
    import pytest

    from matih.exceptions import TrainingError

    wh = Warehouse(tmp_path)
    days = ", ".join(f"('a', DATE '2024-01-01' + INTERVAL {k} DAY, {k % 3 + 1})" for k in range(28))
    _table(wh, days)
    wh.run("CREATE TABLE analytics.calendar.closures AS SELECT DATE '2024-01-03' AS date")
    g = load_grid(
        wh,
        "analytics.derived.d",
        ColumnRoles(),
        closed_weekdays=("SAT",),
        closures_table="analytics.calendar.closures",
        horizon=7,
    )
    # 2024-01-06 was a Saturday; 2024-01-03 is in the closures table
    assert np.isnan(g.Y[0, 5]) and np.isnan(g.Y[0, 2]) and not np.isnan(g.Y[0, 4])
    assert g.is_open(np.array([2, 4, 5, 12, 33])).tolist() == [False, True, False, False, False]
    assert any("closed days are not training zeros" in n for n in g.notes)
    weekly = "('a', DATE '2024-01-07', 3), ('a', DATE '2024-01-14', 4)"
    _table(wh, weekly)
    with pytest.raises(TrainingError, match="closed_weekdays and closures_table describe days"):
        load_grid(wh, "analytics.derived.d", ColumnRoles(), closed_weekdays=("SAT",))


def test_periods_without_a_row_are_unknown_when_the_spec_says_so(tmp_path):
    from matih.forecast.config import TrainConfig
    from matih.forecast.features import FeatureContext
    from matih.forecast.fit import candidate_targets, training_rows
    from matih.forecast.model import Forecast

    wh = Warehouse(tmp_path)
    # a panel: week 3 of 'a' was not recorded; 'b' starts in week 2
    weeks = [f"('a', DATE '2024-01-07' + INTERVAL {7 * k} DAY, {k + 10})" for k in range(12) if k != 3]
    _table(wh, ", ".join([*weeks, "('b', DATE '2024-01-14', 5)", "('b', DATE '2024-01-21', 6)"]))
    zeros = load_grid(wh, "analytics.derived.d", ColumnRoles())
    unknown = load_grid(wh, "analytics.derived.d", ColumnRoles(), missing_rows="unknown")
    assert zeros.Y[0, 3] == 0 and np.isnan(unknown.Y[0, 3])
    # before a series' first row it is NaN either way; after its last row, unknown too
    assert np.isnan(unknown.Y[1, 0]) and unknown.Y[1, 1] == 5 and np.isnan(unknown.Y[1, 3:]).all()
    assert np.array_equal(np.isnan(unknown.Y[:, 1:]), ~unknown.present[:, 1:])
    assert any("10 periods without a row are unknown" in n for n in unknown.notes)
    assert "periods without a row unknown" in (unknown.gaps.warning() or "")
    # never a training target, while the zero it would have been is one
    config = TrainConfig(forecast_horizon=2, max_rows_per_model=10_000)
    series = np.array([0])
    for grid, has_week_3 in ((zeros, True), (unknown, False)):
        ctx = FeatureContext.build(grid)
        candidates = int(candidate_targets(ctx, series, 11, config, 1)[1].sum())
        _, t, h, _ = training_rows(ctx, series, 11, config, np.random.default_rng(0), 1)
        assert candidates > 0 and ((t + h) == 3).any() == has_week_3
    # nor scored: a forecast's rows on it have no actual
    fc = Forecast(
        *(np.array(v) for v in ([0, 0], [3, 4], [9.0, 9.0], [1.0, 1.0], [20.0, 20.0], ["x", "x"])),
        quantiles=np.zeros((2, 0)),
    )
    kept, actual = fc.recorded(unknown.Y, 0)
    assert kept.horizon.tolist() == [4] and actual.tolist() == [14]
    assert fc.recorded(zeros.Y, 0)[1].tolist() == [0, 14]


def test_missing_rows_is_a_spec_setting():
    from matih.exceptions import SpecError
    from matih.forecast.config import TrainConfig
    from matih.specs.tasks import Hyperparameters

    assert TrainConfig().missing_rows == "zero"
    assert TrainConfig.from_task({"hyperparameters": {"missing_rows": "unknown"}}).missing_rows == "unknown"
    base = {"model_type": "lightgbm", "forecast_horizon": 12}
    assert Hyperparameters.model_validate({**base, "missing_rows": "unknown"}).missing_rows == "unknown"
    with pytest.raises((SpecError, ValueError), match="missing_rows"):
        Hyperparameters.model_validate({**base, "missing_rows": "skip"})
    with pytest.raises(TrainingError, match="missing_rows must be 'zero' or 'unknown'"):
        TrainConfig(missing_rows="skip")


def test_until_cuts_the_data_and_keeps_the_planned_future():
    """A backtest's grid: data through ``end`` only; known-future covariates and the trading calendar
    keep the periods planned beyond it; the original grid is untouched."""

    from matih.forecast.grid import DenseGrid

    P, D, H = 3, 40, 5
    Y = np.arange(P * D, dtype=np.float32).reshape(P, D)
    grid = DenseGrid(
        series=np.array(["a", "b", "c"]),
        category=np.array(["x", "x", "y"], dtype=object),
        start=np.datetime64("2024-01-01"),
        Y=Y,
        price=np.ones((P, D), np.float32),
        discount=np.zeros((P, D), np.float32),
        first=np.array([0, 10, 35]),
        selling_days=(Y > 0).sum(1),
        covariates={"promo": np.ones((P, D + H))},
        closed=np.zeros(D + H, dtype=bool),
    )
    cut = grid.until(29)
    assert cut.n_days == 30 and cut.Y.shape == (P, 30) and cut.price.shape == (P, 30)
    assert cut.covariates["promo"].shape == (P, 30 + H) and len(cut.closed) == 30 + H
    assert np.array_equal(cut.selling_days, (Y[:, :30] > 0).sum(1))
    assert grid.n_days == D and grid.covariates["promo"].shape == (P, D + H)
    with pytest.raises(TrainingError, match="cannot cut"):
        grid.until(D)

"""Sharded training and batch forecasts: categories packed into shards, each shard read from the
warehouse's partitioned export by a task of its own, the fallback fitted on the rows the shards drew."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from matih.exceptions import TrainingError
from matih.forecast.config import TrainConfig
from matih.forecast.dataset import business_calendar, load_features
from matih.forecast.fit import ModelRows, fit_forecaster, split_points
from matih.forecast.fitters import LocalFitter
from matih.forecast.metrics import wape
from matih.forecast.model import FALLBACK
from matih.forecast.shards import (
    LocalShards,
    fit_shards,
    forecast_shards,
    load_shard,
    pack,
    plan_shards,
    pooled_rows,
    remove,
)
from matih.warehouse import Warehouse, warehouse_of


def test_categories_are_packed_whole_into_shards_of_about_equal_size():
    counts = {"a": 10, "b": 9, "c": 5, "d": 4, "e": 1}
    shards = pack(counts, 2)
    assert sorted(name for shard in shards for name, _ in shard) == sorted(counts)
    assert sorted(sum(n for _, n in shard) for shard in shards) == [14, 15]
    assert len(pack(counts, 9)) == 5  # never an empty shard


def test_pooled_rows_weigh_each_row_by_the_candidates_it_stands_for():
    X = np.zeros((300, 2))
    # shard one drew 100 of its 200 candidates, shard two 100 of its 400; one draw of 150 over all 600
    # candidates has rate 0.25, so shard one's rows count for 2 x 0.25 and shard two's for 4 x 0.25
    one = ModelRows(100, X[:100], np.ones(100), np.full(100, 0.5), candidates=200, rate=0.5)
    two = ModelRows(200, X[:200], np.ones(200), np.full(200, 0.25), candidates=400, rate=0.25)
    pooled = pooled_rows([one, two], budget=150)
    assert pooled.count == 300 and pooled.candidates == 600
    assert pooled.w is not None
    assert np.allclose(pooled.w[:100], 0.25) and np.allclose(pooled.w[100:], 0.25)
    assert pooled_rows([ModelRows(150, candidates=150)], budget=10).X is None  # too few to fit


@pytest.mark.training
def test_sharded_training_and_batch_match_the_whole_grids(loaded_workspace, tmp_path: Path):
    config = TrainConfig(n_estimators=60)
    wh = warehouse_of(loaded_workspace)
    plan = plan_shards(wh, config, business_calendar(loaded_workspace), 3)
    try:
        assert len(plan) == 3 and sum(plan.series) == len(plan.all_series)
        exported = Path(plan.folder)
        assert sorted(p.name for p in exported.iterdir()) == [f"__matih_shard={k}" for k in range(3)]
        ctx = load_features(loaded_workspace, config)
        # a shard's grid spans the whole dataset's periods and codes its series as the whole grid does
        part = load_shard(plan, 1, config)
        assert part.grid.n_days == ctx.grid.n_days and part.grid.start == ctx.grid.start
        assert set(map(str, part.grid.category)) <= set(plan.categories[1])
        rows = np.searchsorted(ctx.grid.series, part.grid.series)
        assert np.array_equal(part.sub_code, ctx.sub_code[rows])
        assert np.array_equal(part.cat_index, ctx.cat_index[rows])
        assert np.array_equal(np.nan_to_num(part.grid.Y), np.nan_to_num(ctx.grid.Y[rows]))

        sharded, stats, skeleton = fit_shards(
            plan, config, LocalShards(), LocalFitter(config), tmp_path / "model"
        )
        whole, _ = fit_forecaster(ctx, config)
        assert sorted(sharded.boosters) == sorted(whole.boosters)
        assert sorted(sharded.conformal) == sorted(whole.conformal)
        assert stats.rows[FALLBACK] <= config.max_rows_per_model
        assert "3 shards of categories" in stats.where
        # the earlier fit's window is forecast in the shards too: as many errors as on the whole grid
        assert stats.earlier_rows["earlier1:" + FALLBACK] > 0
        for name, dist in whole.conformal.items():
            assert abs(sharded.conformal[name].errors - dist.errors) <= 0.1 * dist.errors, name
        assert skeleton.n_days == ctx.grid.n_days and len(skeleton.series) == len(ctx.grid.series)
        # the same method on the same series, rows drawn by other streams: as accurate, not equal
        _, holdout = split_points(ctx.grid.n_days, config.forecast_horizon, ctx.grid.frequency)
        scores = {}
        for name, model in (("sharded", sharded), ("whole", whole)):
            fc = model.predict(ctx, holdout)
            y = np.nan_to_num(ctx.grid.Y[fc.series_index, holdout + fc.horizon])
            scores[name] = (wape(y, fc.predicted), np.mean((y >= fc.lower) & (y <= fc.upper)))
        assert abs(scores["sharded"][0] - scores["whole"][0]) < 0.03, scores
        assert abs(scores["sharded"][1] - scores["whole"][1]) < 0.05, scores

        out = Warehouse(tmp_path / "out")  # the session's workspace keeps its tables as they were
        rows_written = forecast_shards(
            plan, config, LocalShards(), tmp_path / "model", "v-test", out, "analytics.forecasts.sharded"
        )
        origin = ctx.grid.n_days - 1
        expected = sharded.predict(ctx, origin)
        assert rows_written == len(expected)
        table = out.query(
            "SELECT product_id, forecast_date, predicted_units FROM analytics.forecasts.sharded "
            "ORDER BY product_id, forecast_date"
        )
        order = np.lexsort((expected.horizon, ctx.grid.series[expected.series_index]))
        assert (
            table.column("product_id").to_pylist() == ctx.grid.series[expected.series_index][order].tolist()
        )
        assert np.allclose(table.column("predicted_units").to_numpy(), expected.predicted[order])
    finally:
        remove(plan)
    assert not Path(plan.folder).exists()


def test_what_sharding_cannot_do_yet_is_refused_naming_the_setting(loaded_workspace):
    wh = warehouse_of(loaded_workspace)
    calendar = business_calendar(loaded_workspace)
    for change, setting in (
        ({"closures_table": "analytics.closures"}, "closures_table"),
        ({"model_type": "autoets"}, "data_shards trains the LightGBM family only"),
        ({"per_category_models": False}, "per_category_models"),
        ({"roles": dataclasses.replace(TrainConfig().roles, category_column="aisle")}, "category column"),
    ):
        with pytest.raises(TrainingError, match=setting):
            plan_shards(wh, dataclasses.replace(TrainConfig(), **change), calendar, 2)


@pytest.mark.training
def test_the_pipelines_data_shards_train_in_shards_and_register_the_model(loaded_workspace):
    from matih.forecast.training import train

    config = TrainConfig.from_task(
        {"ray_config": {"num_workers": 1, "data_shards": 2}, "hyperparameters": {"n_estimators": 30}}
    )
    assert config.shards == 2
    result = train(loaded_workspace, config)
    assert "2 shards of categories" in result.summary
    assert result.series == 300 and result.forecaster.version >= 1
    assert not (warehouse_of(loaded_workspace).directory / "_shards").exists()


@pytest.mark.training
def test_closed_weekdays_hold_in_every_shard(loaded_workspace, tmp_path: Path):
    config = TrainConfig(n_estimators=20, closed_weekdays=("SUN",))
    wh = warehouse_of(loaded_workspace)
    plan = plan_shards(wh, config, business_calendar(loaded_workspace), 2)
    try:
        fit_shards(plan, config, LocalShards(), LocalFitter(config), tmp_path / "model")
        out = Warehouse(tmp_path / "out")
        forecast_shards(plan, config, LocalShards(), tmp_path / "model", "v", out, "analytics.forecasts.f")
    finally:
        remove(plan)
    days = out.query("SELECT DISTINCT dayofweek(forecast_date) AS d FROM analytics.forecasts.f")
    assert 0 not in days.column("d").to_pylist() and days.num_rows == 6  # DuckDB: Sunday is 0

"""Training rows beyond a model's budget are drawn by their series' level, and weighted back."""

from __future__ import annotations

import numpy as np
import pytest

from matih.forecast.config import TrainConfig
from matih.forecast.features import FeatureContext
from matih.forecast.fit import training_rows
from matih.forecast.sampling import UNIFORM_SHARE, inclusion_probabilities

from .test_features import _grid


def test_the_budget_is_expected_and_the_best_sellers_keep_more_rows():
    counts = np.array([400, 400, 400, 400, 0])
    level = np.array([50.0, 5.0, 1.0, 0.1, 3.0])
    q = inclusion_probabilities(counts, level, 600)
    assert (counts * q).sum() == pytest.approx(600, rel=1e-9)
    assert np.all(np.diff(q[:4]) < 0)  # the faster a series sells, the likelier its rows
    assert q[0] == pytest.approx(1 - UNIFORM_SHARE + UNIFORM_SHARE * 600 / 1600)
    assert q.min() >= UNIFORM_SHARE * 600 / 1600  # the uniform floor: no series left out


def test_every_row_is_kept_when_they_fit():
    assert np.array_equal(inclusion_probabilities(np.array([10, 20]), np.array([1.0, 2.0]), 30), [1, 1])
    with pytest.raises(ValueError):
        inclusion_probabilities(np.array([10, 20]), np.array([0.0, 2.0]), 5)


def test_the_weighted_draw_is_unbiased_and_steadier_than_a_uniform_one():
    """What training needs: the sum of scale-weighted row losses, estimated from the drawn rows."""
    rng = np.random.default_rng(0)
    counts = np.full(200, 50)
    level = rng.lognormal(0, 1.5, 200)
    loss = np.repeat(level, counts) * rng.gamma(2.0, 1.0, counts.sum())  # weighted by level, as in fits
    truth = loss.sum()
    budget = 1000
    rate = budget / counts.sum()
    estimates: dict[str, list[float]] = {"level": [], "uniform": []}
    for _ in range(2000):
        for how, per_series in (
            ("level", inclusion_probabilities(counts, level, budget)),
            ("uniform", np.full(200, rate)),
        ):
            q = np.repeat(per_series, counts)
            pick = rng.random(len(q)) < q
            estimates[how].append(float((loss[pick] * rate / q[pick]).sum() / rate))
    for how in ("level", "uniform"):
        assert np.mean(estimates[how]) == pytest.approx(truth, rel=0.01), how
    assert np.std(estimates["level"]) < 0.6 * np.std(estimates["uniform"])


def _rows(config: TrainConfig):
    grid = _grid(P=30, D=900)
    ctx = FeatureContext.build(grid)
    series = np.arange(30)
    return grid, training_rows(ctx, series, 800, config, np.random.default_rng(3), 30)


def test_training_rows_draw_by_level_beyond_the_budget():
    config = TrainConfig(max_rows_per_model=2_000, train_days=420)
    grid, (p, t, h, weight) = _rows(config)
    assert len(p) == pytest.approx(2_000, rel=0.1)
    assert np.all((h >= 1) & (h <= config.forecast_horizon)) and np.all(t + h <= 800)
    level = np.nanmean(grid.Y[:, 380:801], axis=1)
    drawn = np.bincount(p, minlength=30)
    fast, slow = np.argsort(level)[-5:], np.argsort(level)[:5]
    assert drawn[fast].sum() > 3 * drawn[slow].sum()
    # the slow sellers' rows stand for the rows not drawn: they weigh more
    assert weight[np.isin(p, slow)].min() > weight[np.isin(p, fast)].max()


def test_uniform_row_sampling_keeps_the_weights_and_the_draw():
    config = TrainConfig(max_rows_per_model=2_000, train_days=420, row_sampling="uniform")
    grid, (p, _, _, weight) = _rows(config)
    assert np.array_equal(weight, np.ones(len(p)))
    drawn = np.bincount(p, minlength=30)
    candidates = np.clip(800 - np.maximum(grid.first + 31, 800 - 420 + 1) + 1, 0, None)
    level = np.nanmean(grid.Y[:, 380:801], axis=1)
    fast, slow = np.argsort(level)[-10:], np.argsort(level)[:10]
    # the same share of each series' candidates, whatever it sells
    share_fast = drawn[fast].sum() / candidates[fast].sum()
    share_slow = drawn[slow].sum() / candidates[slow].sum()
    assert share_fast == pytest.approx(share_slow, rel=0.25)


def test_row_sampling_is_checked():
    from matih.exceptions import TrainingError

    with pytest.raises(TrainingError, match="row_sampling"):
        TrainConfig(row_sampling="stratified")


def test_a_model_fits_on_the_rows_drawn_within_its_budget():
    from matih.forecast.fit import fit_forecaster

    grid = _grid(P=30, D=900)
    ctx = FeatureContext.build(grid)
    config = TrainConfig(n_estimators=20, learning_rate=0.1, max_rows_per_model=1_500)
    model, stats = fit_forecaster(ctx, config)
    assert all(rows <= 1_800 for rows in stats.rows.values()), stats.rows
    fc = model.predict(ctx, 880, horizon=14)
    assert len(fc.predicted) == 30 * 14 and np.all(np.isfinite(fc.predicted))
    from matih.forecast.training import training_summary

    summary = training_summary(config, grid, stats, 1.0)
    assert "at most 1,500 per model, drawn by series level beyond that" in summary

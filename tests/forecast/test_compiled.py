"""Compiled trees: the same forecasts as LightGBM (within 1e-9 relative) for every objective the
LightGBM family fits, from a cache keyed by the model, and LightGBM again whenever compiling fails."""

from __future__ import annotations

import os

import numpy as np
import pytest

from matih.forecast.compiled import CompiledTrees
from matih.forecast.config import TrainConfig
from matih.forecast.features import FeatureContext
from matih.forecast.fit import fit_forecaster
from matih.forecast.model import ForecastModel
from tests.forecast.test_features import _grid

#: the grid's last day: production's forecast (with a refit, by the one set of trees that is compiled)
ORIGIN = 899

# fits models and starts child processes (the compiler, the fit pool): not in the fast lane
pytestmark = pytest.mark.training


@pytest.fixture(scope="module")
def ctx() -> FeatureContext:
    grid = _grid(P=40, D=900, seed=5)
    # four products launched days before the origin: the fallback answers them
    late = np.arange(4)
    grid.Y[late, : ORIGIN - 10] = np.nan
    grid.first[late] = ORIGIN - 10
    grid.selling_days[late] = (grid.Y[late] > 0).sum(1)
    return FeatureContext.build(grid)


def _both(model: ForecastModel, ctx: FeatureContext, compiled: CompiledTrees):
    model.compiled = None
    reference = model.predict(ctx, ORIGIN)
    model.compiled = compiled
    return reference, model.predict(ctx, ORIGIN)


# "l2" is also what `negative_values: keep` trains; the fallback model carries the categorical feature
@pytest.mark.parametrize("objective", ["poisson", "tweedie", "l2"])
def test_compiled_forecasts_equal_lightgbm(ctx, tmp_path, objective):
    model, _ = fit_forecaster(ctx, TrainConfig(n_estimators=40, learning_rate=0.1, objective=objective))
    compiled = CompiledTrees(tmp_path, policy="always")
    reference, fast = _both(model, ctx, compiled)
    assert set(np.unique(fast.model)) == {"A", "B", "fallback"}
    assert len(compiled.compiled) == 3  # two categories and the fallback, each compiled once
    rel = np.abs(fast.predicted - reference.predicted) / np.maximum(np.abs(reference.predicted), 1e-12)
    assert rel.max() < 1e-9
    np.testing.assert_allclose(fast.lower, reference.lower, rtol=1e-9)
    np.testing.assert_allclose(fast.upper, reference.upper, rtol=1e-9)
    # the library is found again by the next model object, not compiled again
    again = CompiledTrees(tmp_path, policy="always")
    model.compiled = again
    np.testing.assert_array_equal(model.predict(ctx, ORIGIN).predicted, fast.predicted)
    assert again.compiled == []


def test_a_saved_model_finds_its_library_by_file_digest(ctx, tmp_path):
    model, _ = fit_forecaster(ctx, TrainConfig(n_estimators=30, learning_rate=0.1))
    loaded = ForecastModel.load(model.save(tmp_path / "model"))
    assert set(loaded.digests) == {"A", "B", "fallback"}
    loaded.compiled = CompiledTrees(tmp_path / "cache", policy="always")
    first = loaded.predict(ctx, ORIGIN).predicted
    libraries = sorted((tmp_path / "cache").glob("*.so"))
    assert len(libraries) == 3
    reloaded = ForecastModel.load(tmp_path / "model")
    reloaded.compiled = CompiledTrees(tmp_path / "cache", policy="always")
    np.testing.assert_array_equal(reloaded.predict(ctx, ORIGIN).predicted, first)
    assert reloaded.compiled.compiled == []  # same files, same digests, same libraries
    # libraries of versions no prediction used for a month are pruned; used ones are kept
    assert reloaded.compiled.prune(unused_days=1) == []
    old = libraries[0].with_suffix(".sha256")
    os.utime(old, (old.stat().st_atime, old.stat().st_mtime - 2 * 86400))
    assert reloaded.compiled.prune(unused_days=1) == [old.stem]
    assert not [p for p in (tmp_path / "cache").glob("*") if p.name.startswith(old.stem)]
    assert len(list((tmp_path / "cache").glob("*.so"))) == 2
    # a library whose compile never wrote its mark is pruned once as old, and not before
    orphan = tmp_path / "cache" / "0123abcd.so"
    orphan.with_suffix(".txt").write_text("model text")
    orphan.write_bytes(b"half a library")
    assert reloaded.compiled.prune(unused_days=1) == []
    stamp = orphan.with_suffix(".txt").stat().st_mtime - 2 * 86400
    os.utime(orphan.with_suffix(".txt"), (stamp, stamp))
    assert reloaded.compiled.prune(unused_days=1) == ["0123abcd"]
    assert not orphan.exists() and not orphan.with_suffix(".txt").exists()


def test_policy_decides_by_the_size_of_the_prediction(ctx, tmp_path):
    model, _ = fit_forecaster(ctx, TrainConfig(n_estimators=20, learning_rate=0.1))
    rows = len(model.predict(ctx, ORIGIN))
    model.compiled = CompiledTrees(tmp_path / "small", policy="auto", min_rows=rows + 1)
    model.predict(ctx, ORIGIN)
    assert model.compiled.compiled == [] and not (tmp_path / "small").exists()
    model.compiled = CompiledTrees(tmp_path / "large", policy="auto", min_rows=rows)
    model.predict(ctx, ORIGIN)
    assert len(model.compiled.compiled) == 3
    model.compiled = CompiledTrees(tmp_path / "never", policy="never")
    model.predict(ctx, ORIGIN)
    assert model.compiled.compiled == [] and not (tmp_path / "never").exists()
    # with a refit, a back-test from an earlier origin is the validated fit's, scored once: not compiled
    refitted, _ = fit_forecaster(ctx, TrainConfig(n_estimators=20, learning_rate=0.1, refit=True))
    refitted.compiled = CompiledTrees(tmp_path / "backtest", policy="always")
    refitted.predict(ctx, ORIGIN - 20)
    assert refitted.compiled.compiled == [] and not (tmp_path / "backtest").exists()
    refitted.predict(ctx, ORIGIN)
    assert len(refitted.compiled.compiled) == 3


def test_a_failed_compile_falls_back_to_lightgbm(ctx, tmp_path, caplog):
    model, _ = fit_forecaster(ctx, TrainConfig(n_estimators=20, learning_rate=0.1))
    reference = model.predict(ctx, ORIGIN).predicted
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    model.compiled = CompiledTrees(blocked / "cache", policy="always")
    with caplog.at_level("WARNING"):
        np.testing.assert_array_equal(model.predict(ctx, ORIGIN).predicted, reference)
    assert "LightGBM predicts" in caplog.text
    # a damaged library (LLVM would abort the process loading it) fails its digest and is compiled again
    cache = tmp_path / "cache"
    model.compiled = CompiledTrees(cache, policy="always")
    fast = model.predict(ctx, ORIGIN).predicted
    for library in cache.glob("*.so"):
        library.write_bytes(b"not a shared object")
    model.compiled = CompiledTrees(cache, policy="always")
    caplog.clear()
    with caplog.at_level("WARNING"):
        np.testing.assert_array_equal(model.predict(ctx, ORIGIN).predicted, fast)
    assert "do not match their digest" in caplog.text
    assert len(model.compiled.compiled) == 3

"""Training on Ray: each model is fitted as a Ray task on a local Ray instance started by the test,
in Ray's worker processes, and the models equal the ones fitted in this process."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from matih.forecast.config import TrainConfig
from matih.forecast.dataset import load_features
from matih.forecast.fit import fit_forecaster
from matih.forecast.fitters import RayFitter

# fits on a Ray instance
pytestmark = [pytest.mark.cluster, pytest.mark.training]


@pytest.fixture(scope="module")
def ray_instance():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def test_models_fitted_on_ray_equal_the_local_ones(loaded_workspace, ray_instance):
    # the seed's ray_config shape: workers, and resources per worker (one CPU each here)
    config = TrainConfig(n_estimators=25, ray_workers=2, ray_resources=(("CPU", 1.0), ("memory", 2**30)))
    ctx = load_features(loaded_workspace, config)
    local, _ = fit_forecaster(ctx, dataclasses.replace(config, num_threads=1))
    fitter = RayFitter(config, "local")
    remote, stats = fit_forecaster(ctx, config, fitter=fitter)
    assert fitter.pids and os.getpid() not in fitter.pids  # fitted in Ray's worker processes
    assert stats.where == "Ray at local: 2 workers x {CPU: 1, memory: 1 GiB}"
    assert sorted(remote.boosters) == sorted(local.boosters)
    origin = ctx.grid.n_days - 1
    a, b = local.predict(ctx, origin), remote.predict(ctx, origin)
    assert np.array_equal(a.predicted, b.predicted) and np.array_equal(a.upper, b.upper)


def test_the_training_summary_says_where_models_were_fitted(loaded_workspace, ray_instance, monkeypatch):
    from matih.forecast.training import train

    monkeypatch.setenv("MATIH_RAY_ADDRESS", "local")
    result = train(
        loaded_workspace, TrainConfig(n_estimators=10, ray_workers=2, ray_resources=(("CPU", 1.0),))
    )
    assert "Workers:          Ray at local: 2 workers x {CPU: 1}" in result.summary

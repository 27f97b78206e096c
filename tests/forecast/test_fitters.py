"""Local parallel fits: child processes fit the same trees as this process does, one thread or two."""

from __future__ import annotations

import os

import numpy as np
import pytest

from matih.forecast.config import TrainConfig
from matih.forecast.features import FeatureContext
from matih.forecast.fit import fit_forecaster
from matih.forecast.fitters import LocalFitter, ProcessFitter, local_fitter
from tests.forecast.test_features import _grid

# fits models in child processes: not in the fast lane
pytestmark = pytest.mark.training


def test_models_fitted_in_child_processes_equal_the_in_process_ones():
    ctx = FeatureContext.build(_grid(P=40, D=900, seed=2))
    config = TrainConfig(n_estimators=30, learning_rate=0.1)
    fitter = ProcessFitter(config, workers=2, threads=1)
    parallel, stats = fit_forecaster(ctx, config, fitter=fitter)
    here, _ = fit_forecaster(ctx, config, fitter=LocalFitter(config))  # all cores, one fit at a time
    assert fitter.pids and os.getpid() not in fitter.pids
    assert stats.where == "2 local processes x 1 thread"
    assert sorted(parallel.boosters) == sorted(here.boosters)
    for name, booster in here.boosters.items():  # the same trees (the parameters record the threads)
        trees = booster.model_to_string().split("\nparameters:")[0]
        assert trees == parallel.boosters[name].model_to_string().split("\nparameters:")[0]
    a, b = parallel.predict(ctx, 880), here.predict(ctx, 880)
    assert np.array_equal(a.predicted, b.predicted) and np.array_equal(a.upper, b.upper)


def test_small_grids_and_pinned_threads_fit_in_this_process():
    config = TrainConfig()
    assert isinstance(local_fitter(config, cells=1_000_000), LocalFitter)
    assert isinstance(local_fitter(TrainConfig(num_threads=2), cells=50_000_000), LocalFitter)
    if (os.cpu_count() or 1) >= 2:
        fitter = local_fitter(config, cells=50_000_000)
        assert isinstance(fitter, ProcessFitter)
        fitter.results()  # shuts its pool down

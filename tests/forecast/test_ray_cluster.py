"""Training on a real Ray cluster: a head and two worker nodes, each started by ``ray start`` as its own
set of processes (not an in-process instance), reached by address as a cluster elsewhere would be. The
seed's ``ray_config`` is honoured as written (4 workers x {CPU: 2, memory: 4 GiB}: the worker nodes
declare enough logical resources for two such fits at once), and the models equal the local ones."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from matih.forecast.config import TrainConfig
from matih.forecast.dataset import load_features
from matih.forecast.fit import fit_forecaster
from matih.forecast.fitters import ENV_ADDRESS, RayFitter
from matih.processes import free_port

pytestmark = [pytest.mark.cluster, pytest.mark.training]

RAY = str(Path(sys.executable).with_name("ray"))
WORKER_CPUS = 2
WORKER_MEMORY = 5 * 2**30


def _ray(*args: str, env: dict[str, str]) -> None:
    done = subprocess.run([RAY, *args], env=env, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"ray {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A head (no CPUs: it schedules, it does not fit) and two worker nodes on 127.0.0.1."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    temp = tmp_path_factory.mktemp("ray")
    # authentication stated, not left to what ~/.ray holds (a head finding a token there asks for it).
    # A cluster reachable from other machines runs RAY_AUTH_MODE=token; Ray caches the mode per process,
    # so the driver here (this test process, which may have started Ray before) keeps the default
    auth = {"RAY_AUTH_MODE": "disabled"}
    env = {**os.environ, **auth, "RAY_USAGE_STATS_ENABLED": "0"}
    patch = pytest.MonkeyPatch()
    for name, value in auth.items():
        patch.setenv(name, value)
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = ["--disable-usage-stats", "--node-ip-address=127.0.0.1"]
    try:
        _ray(
            "start",
            "--head",
            f"--port={port}",
            "--num-cpus=0",
            "--include-dashboard=false",
            f"--temp-dir={temp}",
            *common,
            env=env,
        )
        for _ in range(2):
            _ray(
                "start",
                f"--address={address}",
                f"--num-cpus={WORKER_CPUS}",
                f"--memory={WORKER_MEMORY}",
                *common,
                env=env,
            )
        yield address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)
        patch.undo()
        shutil.rmtree(temp, ignore_errors=True)


def _seed_train_config(ws) -> TrainConfig:
    """The ``ray_train`` task of the seed's pipeline, as written (fewer trees, for time)."""
    spec = json.loads((ws.root / "pipelines" / "demand-forecast-daily.json").read_text())
    task = next(t for t in spec["tasks"] if t["type"] == "ray_train")
    config = TrainConfig.from_task(task["config"])
    return dataclasses.replace(config, n_estimators=25)


def test_the_seeds_training_runs_on_a_three_node_cluster_and_equals_local(loaded_workspace, ray_cluster):
    import ray

    config = _seed_train_config(loaded_workspace)
    assert config.ray_workers == 4 and dict(config.ray_resources) == {"CPU": 2.0, "memory": 4294967296.0}
    ctx = load_features(loaded_workspace, config)
    local, _ = fit_forecaster(ctx, dataclasses.replace(config, num_threads=1))

    fitter = RayFitter(config, ray_cluster)
    remote, stats = fit_forecaster(ctx, config, fitter=fitter)
    nodes = [n for n in ray.nodes() if n["Alive"]]
    assert len(nodes) == 3
    assert sorted(n["Resources"].get("CPU", 0) for n in nodes) == [0, WORKER_CPUS, WORKER_CPUS]
    assert stats.where == f"Ray at {ray_cluster}: 4 workers x {{CPU: 2, memory: 4 GiB}}"
    # fitted in the worker nodes' processes, more than one of them
    assert os.getpid() not in fitter.pids and len(fitter.pids) >= 2
    assert sorted(remote.boosters) == sorted(local.boosters)
    origin = ctx.grid.n_days - 1
    a, b = local.predict(ctx, origin), remote.predict(ctx, origin)
    assert np.array_equal(a.predicted, b.predicted) and np.array_equal(a.upper, b.upper)
    ray.shutdown()


def test_the_pipelines_ray_train_task_reaches_the_cluster_by_address(
    loaded_workspace, ray_cluster, monkeypatch: pytest.MonkeyPatch
):
    from matih.orchestrate.tasks import TaskContext, ray_train
    from matih.specs import load_spec

    monkeypatch.setenv(ENV_ADDRESS, ray_cluster)
    spec = load_spec(loaded_workspace.root / "pipelines" / "demand-forecast-daily.json")
    task = next(t for t in spec.tasks if t.type == "ray_train")
    outcome = ray_train(
        task, loaded_workspace, TaskContext(pipeline=spec, run_id="cluster", options={"n_estimators": 25})
    )
    assert outcome.metrics["model_version"] >= 1
    assert (
        f"Ray at {ray_cluster}: 4 workers x {{CPU: 2, memory: 4 GiB}}" in outcome.details["training_summary"]
    )


def test_shards_train_as_tasks_on_the_cluster_reading_their_own_rows_and_equal_local(
    loaded_workspace, ray_cluster, tmp_path: Path
):
    """``data_shards``: each shard a Ray task in a worker node's process that reads its categories' rows
    from the warehouse's partitioned export (not shipped through the driver), and the models equal the
    same shards trained one after another here."""
    import ray

    from matih.forecast.dataset import business_calendar
    from matih.forecast.fitters import LocalFitter
    from matih.forecast.shards import LocalShards, RayShards, fit_shards, plan_shards, remove
    from matih.warehouse import warehouse_of

    config = dataclasses.replace(_seed_train_config(loaded_workspace), shards=3)
    plan = plan_shards(warehouse_of(loaded_workspace), config, business_calendar(loaded_workspace), 3)
    try:
        runner = RayShards(config, ray_cluster)
        remote, stats, _ = fit_shards(plan, config, runner, RayFitter(config, ray_cluster), tmp_path / "r")
        assert os.getpid() not in stats.shard_pids and len(stats.shard_pids) >= 2
        assert stats.where.startswith(f"Ray at {ray_cluster}: 4 workers x {{CPU: 2, memory: 4 GiB}}")
        local, _, _ = fit_shards(plan, config, LocalShards(2), LocalFitter(config), tmp_path / "l")
    finally:
        remove(plan)
    ctx = load_features(loaded_workspace, config)
    origin = ctx.grid.n_days - 1
    a, b = local.predict(ctx, origin), remote.predict(ctx, origin)
    assert np.array_equal(a.predicted, b.predicted) and np.array_equal(a.upper, b.upper)
    ray.shutdown()

"""Where the LightGBM fits of one training run happen: in this process, in local child processes, or as
Ray tasks on a cluster.

Training builds each model's rows here (they need the whole feature grid) and hands the fit itself to
a fitter. :class:`LocalFitter` fits at once, one model after another. :class:`ProcessFitter` keeps one
fit per core in flight in child processes (a large grid on a small machine). :class:`RayFitter` submits each
fit as a Ray task asking for the ``ray_config`` of the ``ray_train`` task (``resources_per_worker``:
CPUs, memory, a GPU with ``use_gpu``), keeps ``num_workers`` fits in flight, and gets each booster back
as LightGBM's model text. The fit is the same function with the same parameters either way, so a model
trained on Ray predicts exactly what the local one does.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

import lightgbm as lgb
import numpy as np

from matih.exceptions import TrainingError
from matih.forecast.config import TrainConfig
from matih.forecast.features import CATEGORICAL, FEATURES

ENV_ADDRESS = "MATIH_RAY_ADDRESS"


def lgb_params(
    config: TrainConfig, categorical: bool, threads: int, objective: str = "regression"
) -> dict[str, object]:
    return {
        "objective": objective,
        "learning_rate": config.learning_rate,
        "num_leaves": 31,
        "min_data_in_leaf": 40,
        "feature_fraction": 0.85,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "max_bin": 63,
        # bin edges from 50K sampled rows, not LightGBM's 200K: a seed-scale Dataset builds in 0.4 s
        # instead of 0.85 s per model, and 63 bins are placed as well from 50K values
        "bin_construct_sample_cnt": 50_000,
        "num_threads": threads,
        "seed": config.seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
        **({"max_cat_to_onehot": 32} if categorical else {}),
    }


def fit_booster(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    params: dict[str, object],
    rounds: int,
    categorical: bool,
    names: tuple[str, ...] = FEATURES,
) -> lgb.Booster:
    cats = [f for f in CATEGORICAL if categorical or f != "category_code"]
    data = lgb.Dataset(
        X, label=y, weight=w, feature_name=list(names), categorical_feature=cats, free_raw_data=True
    )
    return lgb.train(params, data, num_boost_round=rounds)


def _fit_remote(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    params: dict[str, object],
    rounds: int,
    categorical: bool,
    names: tuple[str, ...],
) -> tuple[str, int]:
    """The body of a Ray task: the model as text (boosters do not pickle), and where it was fitted."""
    return fit_booster(X, y, w, params, rounds, categorical, names).model_to_string(), os.getpid()


class Fitter(Protocol):
    where: str

    def submit(
        self,
        name: str,
        X: np.ndarray,
        y: np.ndarray,
        w: np.ndarray,
        categorical: bool,
        names: tuple[str, ...] = FEATURES,
        objective: str = "regression",
    ) -> None: ...

    def results(self) -> dict[str, lgb.Booster]: ...


class LocalFitter:
    """Fits in this process, at once."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.threads = config.num_threads or (os.cpu_count() or 1)
        self.where = "local process"
        self._done: dict[str, lgb.Booster] = {}

    def submit(
        self,
        name: str,
        X: np.ndarray,
        y: np.ndarray,
        w: np.ndarray,
        categorical: bool,
        names: tuple[str, ...] = FEATURES,
        objective: str = "regression",
    ) -> None:
        params = lgb_params(self.config, categorical, self.threads, objective)
        self._done[name] = fit_booster(X, y, w, params, self.config.n_estimators, categorical, names)

    def results(self) -> dict[str, lgb.Booster]:
        return self._done


class ProcessFitter:
    """Fits in ``workers`` child processes at once, LightGBM on ``threads`` threads in each.

    On a small machine one LightGBM fit uses its threads poorly (on two cores, 2 threads fit a seed-scale
    category model in 4.2 s per 200 trees, 1 thread in 5.5 s), so two single-threaded fits side by side
    finish 1.5x sooner than two in turn. Deterministic LightGBM gives the same trees on any number of
    threads, so the models equal the in-process ones (tested). Children are spawned (the parent holds
    OpenMP threads, which fork would copy half-alive)."""

    def __init__(self, config: TrainConfig, workers: int, threads: int = 1) -> None:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        self.config = config
        self.workers = workers
        self.threads = threads
        self.where = f"{workers} local processes x {threads} thread{'s' if threads > 1 else ''}"
        self._pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
        self._pending: dict[str, Any] = {}
        self._done: dict[str, lgb.Booster] = {}
        self.pids: set[int] = set()

    def submit(
        self,
        name: str,
        X: np.ndarray,
        y: np.ndarray,
        w: np.ndarray,
        categorical: bool,
        names: tuple[str, ...] = FEATURES,
        objective: str = "regression",
    ) -> None:
        # a bounded queue: rows of at most two fits per worker wait in this process
        while len(self._pending) >= 2 * self.workers:
            self._collect(first_only=True)
        params = lgb_params(self.config, categorical, self.threads, objective)
        self._pending[name] = self._pool.submit(
            _fit_remote, X, y, w, params, self.config.n_estimators, categorical, names
        )

    def _collect(self, first_only: bool = False) -> None:
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(self._pending.values(), return_when=FIRST_COMPLETED if first_only else "ALL_COMPLETED")
        for name, future in list(self._pending.items()):
            if future in done:
                text, pid = future.result()
                self._done[name] = lgb.Booster(model_str=text)
                self.pids.add(pid)
                del self._pending[name]

    def results(self) -> dict[str, lgb.Booster]:
        try:
            if self._pending:
                self._collect()
        finally:
            self._pool.shutdown(cancel_futures=True)
        return self._done


#: grid cells (series x periods) from which training fits in parallel processes by default: below it a
#: fit takes under a second and starting the processes (3 s: LightGBM's import) would not pay back
PARALLEL_CELLS = 5_000_000


def local_fitter(config: TrainConfig, cells: int) -> Fitter:
    """The fitter for this machine: parallel processes for a large grid on 2+ cores, unless the
    configuration pins LightGBM's threads; otherwise one fit after another here."""
    cpus = os.cpu_count() or 1
    if config.num_threads or cpus < 2 or cells < PARALLEL_CELLS:
        return LocalFitter(config)
    workers = cpus if cpus < 4 else cpus // 2  # from 4 cores on, 2 threads per fit still scale
    return ProcessFitter(config, workers, threads=cpus // workers)


class RayFitter:
    """Fits as Ray tasks, ``num_workers`` at a time, each with the task's ``resources_per_worker``."""

    def __init__(self, config: TrainConfig, address: str) -> None:
        try:
            import ray
        except ImportError:  # pragma: no cover - depends on the install
            raise TrainingError(
                f"ray.address is {address!r} but Ray is not installed: pip install 'matih[ray]'"
            ) from None
        self.ray = ray
        if not ray.is_initialized():
            options: dict[str, Any] = {"log_to_driver": False, "include_dashboard": False}
            if address == "local":
                options["num_cpus"] = os.cpu_count() or 1
            else:
                options["address"] = address
            try:
                ray.init(**options)
            except (ConnectionError, RuntimeError) as err:
                raise TrainingError(f"cannot reach the Ray cluster at {address!r}: {err}") from None
        resources = dict(config.ray_resources)
        cpus = float(resources.pop("CPU", 1))
        memory = resources.pop("memory", None)
        self.config = config
        self.threads = max(1, int(cpus))
        asks: dict[str, Any] = {"num_cpus": cpus, "num_gpus": 1 if config.use_gpu else 0}
        if memory:
            asks["memory"] = int(memory)
        if resources:
            asks["resources"] = resources
        # max_retries: a lost Ray worker (a node failing) refits the model elsewhere
        self.remote = ray.remote(max_retries=2, **asks)(_fit_remote)
        self.workers = max(1, config.ray_workers)
        self.where = (
            f"Ray at {address}: {self.workers} workers x {{CPU: {cpus:g}"
            + (f", memory: {int(memory) / 2**30:.0f} GiB" if memory else "")
            + (", GPU: 1" if config.use_gpu else "")
            + "}"
        )
        self._pending: dict[Any, str] = {}
        self._done: dict[str, lgb.Booster] = {}
        self.pids: set[int] = set()

    def submit(
        self,
        name: str,
        X: np.ndarray,
        y: np.ndarray,
        w: np.ndarray,
        categorical: bool,
        names: tuple[str, ...] = FEATURES,
        objective: str = "regression",
    ) -> None:
        while len(self._pending) >= self.workers:
            self._collect(wait_for=1)
        params = lgb_params(self.config, categorical, self.threads, objective)
        ref = self.remote.remote(X, y, w, params, self.config.n_estimators, categorical, names)
        self._pending[ref] = name

    def _collect(self, wait_for: int) -> None:
        ready, _ = self.ray.wait(list(self._pending), num_returns=wait_for)
        for ref in ready:
            name = self._pending.pop(ref)
            text, pid = self.ray.get(ref)
            self._done[name] = lgb.Booster(model_str=text)
            self.pids.add(pid)

    def results(self) -> dict[str, lgb.Booster]:
        if self._pending:
            self._collect(wait_for=len(self._pending))
        return self._done


def ray_address(settings_address: str | None) -> str | None:
    """``MATIH_RAY_ADDRESS``, else ``ray.address`` from matih.yaml; ``None`` means local fits."""
    return os.environ.get(ENV_ADDRESS) or settings_address


def fitter_for(config: TrainConfig, address: str | None, cells: int = 0) -> Fitter:
    """Ray tasks when an address is configured, else :func:`local_fitter` for a grid of ``cells``."""
    return RayFitter(config, address) if address else local_fitter(config, cells)

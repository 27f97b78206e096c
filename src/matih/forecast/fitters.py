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
from abc import ABC, abstractmethod
from dataclasses import dataclass
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


class _InFlight(ABC):
    """Fits handed to workers elsewhere, at most ``limit`` in flight: each comes back as LightGBM's
    model text (boosters do not pickle) and the worker's pid. Subclasses say how a fit is launched,
    waited for and read."""

    config: TrainConfig
    threads: int
    limit: int

    def __init__(self) -> None:
        self._pending: dict[Any, str] = {}
        self._done: dict[str, lgb.Booster] = {}
        self.pids: set[int] = set()

    @abstractmethod
    def _launch(self, args: tuple[Any, ...]) -> Any:
        """Start ``_fit_remote(*args)`` on a worker; a handle to wait for."""

    @abstractmethod
    def _ready(self, handles: list[Any], everything: bool) -> list[Any]:
        """At least one finished handle, or all of them with ``everything``."""

    @abstractmethod
    def _value(self, handle: Any) -> tuple[str, int]:
        """A finished fit's model text and worker pid."""

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
        while len(self._pending) >= self.limit:
            self._collect(everything=False)
        params = lgb_params(self.config, categorical, self.threads, objective)
        handle = self._launch((X, y, w, params, self.config.n_estimators, categorical, names))
        self._pending[handle] = name

    def _collect(self, everything: bool) -> None:
        for handle in self._ready(list(self._pending), everything):
            name = self._pending.pop(handle)
            text, pid = self._value(handle)
            self._done[name] = lgb.Booster(model_str=text)
            self.pids.add(pid)

    def results(self) -> dict[str, lgb.Booster]:
        if self._pending:
            self._collect(everything=True)
        return self._done


class ProcessFitter(_InFlight):
    """Fits in ``workers`` child processes at once, LightGBM on ``threads`` threads in each.

    On a small machine one LightGBM fit uses its threads poorly (on two cores, 2 threads fit a seed-scale
    category model in 4.2 s per 200 trees, 1 thread in 5.5 s), so two single-threaded fits side by side
    finish 1.5x sooner than two in turn. Deterministic LightGBM gives the same trees on any number of
    threads, so the models equal the in-process ones (tested). Children are spawned (the parent holds
    OpenMP threads, which fork would copy half-alive)."""

    def __init__(self, config: TrainConfig, workers: int, threads: int = 1) -> None:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        super().__init__()
        self.config = config
        self.workers = workers
        self.threads = threads
        self.limit = 2 * workers  # rows of at most two fits per worker wait in this process
        self.where = f"{workers} local processes x {threads} thread{'s' if threads > 1 else ''}"
        self._pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))

    def _launch(self, args: tuple[Any, ...]) -> Any:
        return self._pool.submit(_fit_remote, *args)

    def _ready(self, handles: list[Any], everything: bool) -> list[Any]:
        from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, wait

        done, _ = wait(handles, return_when=ALL_COMPLETED if everything else FIRST_COMPLETED)
        return [h for h in handles if h in done]

    def _value(self, handle: Any) -> tuple[str, int]:
        text, pid = handle.result()
        return str(text), int(pid)

    def results(self) -> dict[str, lgb.Booster]:
        try:
            return super().results()
        finally:
            self._pool.shutdown(cancel_futures=True)


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


def connect_ray(address: str) -> Any:
    """The ``ray`` module, connected to the cluster at ``address`` (``local``: one started here)."""
    try:
        import ray
    except ImportError:  # pragma: no cover - depends on the install
        raise TrainingError(
            f"ray.address is {address!r} but Ray is not installed: pip install 'matih[ray]'"
        ) from None
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
    return ray


@dataclass(frozen=True)
class RayAsks:
    """What each task of a ``ray_train`` task asks of the cluster (its ``ray_config``)."""

    options: dict[str, Any]
    """``ray.remote``'s resource options."""
    threads: int
    workers: int
    where: str

    @classmethod
    def of(cls, config: TrainConfig, address: str) -> RayAsks:
        resources = dict(config.ray_resources)
        cpus = float(resources.pop("CPU", 1))
        memory = resources.pop("memory", None)
        asks: dict[str, Any] = {"num_cpus": cpus, "num_gpus": 1 if config.use_gpu else 0}
        if memory:
            asks["memory"] = int(memory)
        if resources:
            asks["resources"] = resources
        workers = max(1, config.ray_workers)
        where = (
            f"Ray at {address}: {workers} workers x {{CPU: {cpus:g}"
            + (f", memory: {int(memory) / 2**30:.0f} GiB" if memory else "")
            + (", GPU: 1" if config.use_gpu else "")
            + "}"
        )
        return cls(asks, max(1, int(cpus)), workers, where)


class RayFitter(_InFlight):
    """Fits as Ray tasks, ``num_workers`` at a time, each with the task's ``resources_per_worker``."""

    def __init__(self, config: TrainConfig, address: str) -> None:
        super().__init__()
        self.ray = connect_ray(address)
        asks = RayAsks.of(config, address)
        self.config = config
        self.threads = asks.threads
        # max_retries: a lost Ray worker (a node failing) refits the model elsewhere
        self.remote = self.ray.remote(max_retries=2, **asks.options)(_fit_remote)
        self.workers = asks.workers
        self.limit = self.workers
        self.where = asks.where

    def _launch(self, args: tuple[Any, ...]) -> Any:
        return self.remote.remote(*args)

    def _ready(self, handles: list[Any], everything: bool) -> list[Any]:
        ready, _ = self.ray.wait(handles, num_returns=len(handles) if everything else 1)
        return list(ready)

    def _value(self, handle: Any) -> tuple[str, int]:
        text, pid = self.ray.get(handle)
        return str(text), int(pid)


def ray_address(settings_address: str | None) -> str | None:
    """``MATIH_RAY_ADDRESS``, else ``ray.address`` from matih.yaml; ``None`` means local fits."""
    return os.environ.get(ENV_ADDRESS) or settings_address


def fitter_for(config: TrainConfig, address: str | None, cells: int = 0) -> Fitter:
    """Ray tasks when an address is configured, else :func:`local_fitter` for a grid of ``cells``."""
    return RayFitter(config, address) if address else local_fitter(config, cells)

"""Where the LightGBM fits of one training run happen: in this process, or as Ray tasks on a cluster.

Training builds each model's rows here (they need the whole feature grid) and hands the fit itself to
a fitter. :class:`LocalFitter` fits at once, one model after another. :class:`RayFitter` submits each
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


def fitter_for(config: TrainConfig, address: str | None) -> Fitter:
    return RayFitter(config, address) if address else LocalFitter(config)

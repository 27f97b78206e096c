"""Online forecasts: the deployment's live model version, loaded and ready to answer per product.

Loading a version (:func:`load_version`) computes its forecasts for every active product at the forecast
origin (the last day of the feature table) with the same code the batch job uses
(:func:`matih.forecast.service.predict_batch`), and keeps them in memory. A request is then a lookup: the
online answer equals the batch row for the same origin and version, by construction.

:class:`LiveModel` holds the version being served and changes it blue-green. A watcher polls the
deployment record (``.matih/deployments/<name>.json``, written by rollouts); when the live version
changes, the new version (green) is loaded and checked beside the one serving (blue): it must load, and
its forecasts must be finite and non-negative. Only then does one reference assignment switch traffic.
A green that fails is dropped, blue keeps serving, and the failure is recorded in the deployment's
history. Requests never wait for a load.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from matih.exceptions import DeploymentError, MatihError
from matih.forecast.registry import CHAMPION, Registry
from matih.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass
class ServedVersion:
    """One model version's forecasts for every product at one origin."""

    version: str
    model_name: str
    origin: str
    products: dict[str, int]
    categories: list[str | None]
    names: list[str | None]
    models: list[str]
    dates: list[str]
    predicted: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    loaded_at: str
    load_seconds: float

    @property
    def horizon(self) -> int:
        return int(self.predicted.shape[1])

    def forecast(self, product_id: str, horizon: int) -> dict[str, Any] | None:
        row = self.products.get(product_id)
        if row is None:
            return None
        return {
            "product_id": product_id,
            "product_name": self.names[row],
            "category": self.categories[row],
            "model": self.models[row],
            "model_version": self.version,
            "forecast_origin": self.origin,
            "days": [
                {
                    "forecast_date": self.dates[h],
                    "horizon_days": h + 1,
                    "predicted_units": float(self.predicted[row, h]),
                    "prediction_interval_lower": float(self.lower[row, h]),
                    "prediction_interval_upper": float(self.upper[row, h]),
                }
                for h in range(min(horizon, self.horizon))
            ],
        }


def load_version(ws: Workspace, deployment: str, version: str | None = None) -> ServedVersion:
    """Load ``version`` (``"v3"``; default: the deployment's live one, else the champion) and check it."""
    from matih.forecast.service import configs_from_pipeline, predict_batch
    from matih.serving.deployments import check_models, deployment_spec, load_state

    spec = deployment_spec(ws, deployment)  # "serving is not configured" when the spec is missing
    started = time.perf_counter()
    train, _, _ = configs_from_pipeline(ws)
    check_models(spec, train)
    state = load_state(ws, deployment)
    ref: int | str = CHAMPION
    if version is not None:
        ref = int(version.lstrip("v"))
    elif state.live is not None:
        ref = int(str(state.live["version"]).lstrip("v"))
    number = Registry(ws).resolve(train.experiment, ref)
    table, batch = predict_batch(ws, train, version=number)
    ids = table.column("product_id").to_pylist()
    products: dict[str, int] = {}
    for pid in ids:
        products.setdefault(str(pid), len(products))
    n = len(products)
    horizon = int(max(table.column("horizon_days").to_pylist() or [0]))
    row = np.array([products[str(p)] for p in ids])
    step = np.asarray(table.column("horizon_days").to_numpy(), dtype=np.int64) - 1
    grids = {}
    for column in ("predicted_units", "prediction_interval_lower", "prediction_interval_upper"):
        values = np.full((n, horizon), np.nan)
        values[row, step] = table.column(column).to_numpy()
        grids[column] = values
    first = {r: i for i, r in reversed(list(enumerate(row)))}
    pick = [first[r] for r in range(n)]
    origin = dt.date.fromisoformat(batch.origin)
    served = ServedVersion(
        version=f"v{number}",
        model_name=train.experiment,
        origin=batch.origin,
        products=products,
        categories=[table.column("category")[i].as_py() for i in pick],
        names=[table.column("product_name")[i].as_py() for i in pick],
        models=[table.column("model")[i].as_py() for i in pick],
        dates=[(origin + dt.timedelta(days=h + 1)).isoformat() for h in range(horizon)],
        predicted=grids["predicted_units"],
        lower=grids["prediction_interval_lower"],
        upper=grids["prediction_interval_upper"],
        loaded_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        load_seconds=round(time.perf_counter() - started, 3),
    )
    check(served)
    return served


def check(served: ServedVersion) -> None:
    """The smoke test a green version must pass before it takes traffic."""
    values = np.concatenate([served.predicted.ravel(), served.lower.ravel(), served.upper.ravel()])
    if not served.products:
        raise DeploymentError(f"{served.version} forecasts no products")
    if not np.isfinite(values).all():
        raise DeploymentError(
            f"{served.version} returns {int((~np.isfinite(values)).sum())} non-finite values"
        )
    if (served.predicted < 0).any():
        raise DeploymentError(f"{served.version} returns negative forecasts")


class LiveModel:
    """The version a server answers with, switched blue-green when the deployment record changes."""

    def __init__(self, ws: Workspace, deployment: str, *, poll_seconds: float = 2.0) -> None:
        self.ws = ws
        self.deployment = deployment
        self.poll_seconds = poll_seconds
        self.current: ServedVersion | None = None
        self.error: str | None = None
        self.events: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ready(self) -> bool:
        return self.current is not None

    def start(self) -> None:
        """Load the live version in the background and keep watching the deployment record."""
        self._thread = threading.Thread(target=self._watch, name=f"matih-live-{self.deployment}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _wanted(self) -> tuple[str | None, str | None]:
        """(live version, when it was deployed) from the deployment record."""
        from matih.serving.deployments import load_state

        live = load_state(self.ws, self.deployment).live
        return (str(live["version"]), str(live.get("deployed_at"))) if live else (None, None)

    def _watch(self) -> None:
        refused: tuple[str | None, str | None] | None = None  # a green that failed is not retried
        while not self._stop.is_set():
            try:
                wanted = self._wanted()
                changed = (
                    wanted[0] is not None and self.current is not None and wanted[0] != self.current.version
                )
                if (self.current is None or changed) and wanted != refused and not self.switch(wanted[0]):
                    refused = wanted
            except MatihError as err:
                self.error = str(err)
                log.warning("serving %s: %s", self.deployment, err)
            self._stop.wait(self.poll_seconds)

    def switch(self, version: str | None) -> bool:
        """Load ``version`` as green beside blue and switch to it if it is healthy; ``False`` (blue
        keeps serving, the failure recorded) when it is not."""
        blue = self.current
        try:
            green = load_version(self.ws, self.deployment, version)
        except Exception as err:  # a green that cannot load must never take blue down
            self._record("online_rollout_failed", version, f"{type(err).__name__}: {err}")
            if blue is None:
                raise DeploymentError(
                    f"{self.deployment}: cannot load {version or 'the live version'}: {err}"
                ) from err
            return False
        self.current = green  # one reference assignment: requests see blue or green, never a mix
        self.error = None
        self._record("online_switch", green.version, f"from {blue.version if blue else 'nothing'}")
        return True

    def _record(self, event: str, version: str | None, detail: str) -> None:
        entry = {
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "event": event,
            "version": version,
            "detail": detail,
        }
        self.events.append(entry)
        log.info("serving %s: %s %s (%s)", self.deployment, event, version, detail)

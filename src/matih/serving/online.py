"""Online forecasts: the deployment's live model version, loaded and ready to answer per product.

Loading a version (:func:`load_version`) computes its forecasts for every active product at the forecast
origin (the last day of the feature table) with the same code the batch job uses
(:func:`matih.forecast.batch.predict_batch`), and keeps them in memory. A request is then a lookup: the
online answer equals the batch row for the same origin and version, by construction. When the published
batch table already holds exactly those rows (the rollout recorded its version, origin, routing, row
count and checksum, and the feature table has not been written since), they are loaded instead of
computed again (:func:`published_rows`): at the seed's scale a server is ready in ~11 s instead of ~45 s.

:class:`LiveModel` holds the version being served and changes it blue-green. A watcher polls the
deployment record (``.matih/deployments/<name>.json``, written by rollouts); when the live version
changes, the new version (green) is loaded and checked beside the one serving (blue): it must load, and
its forecasts must be finite and non-negative. Only then does one reference assignment switch traffic.
A green that fails is dropped, blue keeps serving, and the failure is recorded in the deployment's
history. Requests never wait for a load.

The watcher also follows the feature table: when it is written again (the daily pipeline adds a day),
the live version is reloaded at the new origin, blue-green like a rollout, so online answers keep
matching the batch job's. So does a rollout of the same version with other routing (an auto_reassign,
a routing rollback served again): online answers follow the batch table's families.

After the switch blue stays loaded for the deployment's ``rollout.bake_time``. Every answer green gives
meanwhile is counted; one that fails (an exception, or no forecast for a product blue knows) is given
by blue instead, so the caller never sees it. When green's failure share passes
``rollout.max_error_rate`` (after ``rollout.min_requests`` answers), traffic returns to blue at once and,
with the pipeline's ``rollback_on_failure``, :func:`matih.serving.deployments.revert` rolls the record,
the batch table and the champion back too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from matih.exceptions import DeploymentError, MatihError
from matih.forecast.registry import CHAMPION, Registry
from matih.specs.tasks import quantile_column
from matih.state import utc_stamp
from matih.workspace import Workspace

if TYPE_CHECKING:
    from matih.specs.deployment import RolloutGuard

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
    model_versions: list[str]
    dates: list[str]
    leads: list[int]
    """Each step's lead in days from the origin (the step itself for daily data)."""
    predicted: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    loaded_at: str
    load_seconds: float
    routing: dict[str, Any]
    data_stamp: str | None = None
    """The feature table's write stamp when this was loaded (a new write means a new origin)."""
    quantiles: dict[str, np.ndarray] = field(default_factory=dict)
    """The forecast table's quantile columns (``p10`` ...), products x steps like ``predicted``."""
    from_published: bool = False
    """Loaded from the published batch table rather than computed (:func:`published_rows`)."""

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
            "model_version": self.model_versions[row],
            "forecast_origin": self.origin,
            "days": [
                {
                    "forecast_date": self.dates[h],
                    "horizon_days": self.leads[h],
                    "predicted_units": float(self.predicted[row, h]),
                    "prediction_interval_lower": float(self.lower[row, h]),
                    "prediction_interval_upper": float(self.upper[row, h]),
                    **{name: float(values[row, h]) for name, values in self.quantiles.items()},
                }
                for h in range(min(horizon, self.horizon))
            ],
        }


def load_version(ws: Workspace, deployment: str, version: str | None = None) -> ServedVersion:
    """Load ``version`` (``"v3"``; default: the deployment's live one, else the champion) and check it.

    When the deployment's published batch is this version's at the current origin and routing, its rows
    are served as they are (after an integrity check: row count and checksum as the rollout recorded
    them, see :func:`published_rows`); otherwise the forecasts are computed as the batch job computes
    them."""
    from matih.forecast.adapt import configs_from_pipeline
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
    published = published_rows(ws, state.live, train, number)
    if published is not None:
        table, origin, routing = published
    else:
        from matih.forecast.batch import predict_batch

        table, batch = predict_batch(ws, train, version=number)
        origin, routing = batch.origin, batch.routing
    served = _served(table, train, number, origin, routing, started)
    served.from_published = published is not None
    check(served, net_units=train.negative_values == "keep")
    return served


def published_rows(
    ws: Workspace, live: dict[str, Any] | None, train: Any, number: int
) -> tuple[pa.Table, str, dict[str, Any]] | None:
    """The live batch table's rows, origin and routing when they are what computing version ``number``
    now would give: the record names this version and the table, the feature table has not been
    written since (same origin), the routing resolves as it did, and the table still holds the rows the
    rollout wrote (count and checksum). ``None`` (compute instead) when any of these does not hold."""
    from matih.forecast.routing import resolve_routing
    from matih.serving.deployments import published_checksum
    from matih.warehouse import warehouse_of

    if not live or live.get("version") != f"v{number}" or not live.get("checksum"):
        return None
    output = live.get("output_table")
    wh = warehouse_of(ws)
    if not output or live.get("data_stamp") != wh.last_write(train.dataset) or not wh.table_exists(output):
        return None
    if published_checksum(wh, output) != live["checksum"]:
        log.warning(
            "serving: %s no longer holds the rows v%s published; computing them again", output, number
        )
        return None
    table = wh.query(f"SELECT * FROM {output}")
    categories = sorted({str(c) for c in table.column("category").to_pylist() if c is not None})
    routing = resolve_routing(ws, train, categories, number, Registry(ws)).summary()
    if routing != live.get("routing"):
        return None
    return table, str(live["forecast_origin"]), routing


def _served(
    table: pa.Table, train: Any, number: int, origin: str, routing: dict[str, Any], started: float
) -> ServedVersion:
    """A version's forecasts as a batch table holds them, arranged products x steps for lookups."""
    ids = table.column("product_id").to_pylist()
    products: dict[str, int] = {}
    for pid in ids:
        products.setdefault(str(pid), len(products))
    n = len(products)
    row = np.array([products[str(p)] for p in ids])
    # the forecast's steps, in order: every period ahead, less the days the business is closed
    ahead = np.asarray(table.column("horizon").to_numpy(), dtype=np.int64)
    present, step = np.unique(ahead, return_inverse=True)
    horizon = len(present)
    # each step's date and lead in days (a step is a day, a week or a month: the dataset's frequency)
    steps, at = np.unique(step, return_index=True)
    day_of = table.column("forecast_date").take(pa.array(at)).to_pylist()
    lead_of = table.column("horizon_days").take(pa.array(at)).to_pylist()
    dates, leads = [""] * horizon, [0] * horizon
    for s_, day, lead in zip(steps.tolist(), day_of, lead_of, strict=True):
        dates[s_], leads[s_] = day.isoformat(), int(lead)
    grids = {}
    quantiles = [quantile_column(q) for q in train.quantiles]
    for column in ("predicted_units", "prediction_interval_lower", "prediction_interval_upper", *quantiles):
        values = np.full((n, horizon), np.nan)
        values[row, step] = table.column(column).to_numpy()
        grids[column] = values
    first = {r: i for i, r in reversed(list(enumerate(row)))}
    pick = pa.array([first[r] for r in range(n)])

    def picked(column: str) -> list[Any]:
        # one take per column: indexing a chunked column row by row costs seconds at 45K products
        return table.column(column).take(pick).to_pylist()

    return ServedVersion(
        version=f"v{number}",
        model_name=train.experiment,
        origin=origin,
        products=products,
        categories=picked("category"),
        names=picked("product_name"),
        models=picked("model"),
        model_versions=picked("model_version"),
        dates=dates,
        leads=leads,
        predicted=grids["predicted_units"],
        lower=grids["prediction_interval_lower"],
        upper=grids["prediction_interval_upper"],
        loaded_at=utc_stamp(),
        load_seconds=round(time.perf_counter() - started, 3),
        routing=routing,
        quantiles={column: grids[column] for column in quantiles},
    )


def check(served: ServedVersion, *, net_units: bool = False) -> None:
    """The smoke test a green version must pass before it takes traffic (negative forecasts only pass
    for a model trained on net units: ``negative_values: keep``)."""
    values = np.concatenate([served.predicted.ravel(), served.lower.ravel(), served.upper.ravel()])
    if not served.products:
        raise DeploymentError(f"{served.version} forecasts no products")
    if not np.isfinite(values).all():
        raise DeploymentError(
            f"{served.version} returns {int((~np.isfinite(values)).sum())} non-finite values"
        )
    if (served.predicted < 0).any() and not net_units:
        raise DeploymentError(f"{served.version} returns negative forecasts")


Loader = Callable[[Workspace, str, "str | None"], ServedVersion]


class LiveModel:
    """The version a server answers with, switched blue-green when the deployment record changes, and
    switched back when green fails under traffic during the bake time."""

    def __init__(
        self,
        ws: Workspace,
        deployment: str,
        *,
        poll_seconds: float = 2.0,
        guard: RolloutGuard | None = None,
        rollback: bool | None = None,
        loader: Loader = load_version,
    ) -> None:
        from matih.serving.deployments import deployment_spec, rollback_on_failure

        self.ws = ws
        self.deployment = deployment
        self.poll_seconds = poll_seconds
        self.guard = guard or deployment_spec(ws, deployment).rollout
        self.rollback = rollback_on_failure(ws, deployment) if rollback is None else rollback
        self.loader = loader
        self.current: ServedVersion | None = None
        self.standby: ServedVersion | None = None
        """Blue, kept loaded while green bakes."""
        self.bake_until = 0.0
        self.answers = 0
        """Green's answers during the bake time ..."""
        self.failures = 0
        """... and how many of them failed."""
        self.error: str | None = None
        self.events: list[dict[str, Any]] = []
        self._failed_green: tuple[str, str] | None = None  # (version, reason) awaiting revert
        self._journal: tuple[int, str | None] | None = None  # (journal mtime, feature table stamp)
        self._bad: tuple[str, str | None] | None = None  # (version, data stamp) that failed its bake
        self._seen_rollout: str | None = None  # the record's deployed_at last compared for routing
        self._lock = threading.Lock()
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

    # -- answering -----------------------------------------------------------------------------------
    def answer(self, product_id: str, horizon: int) -> dict[str, Any] | None:
        """``product_id``'s forecast from the live version; during the bake time a failed green answer
        is counted and given by blue instead. ``None`` for a product no version knows."""
        green, blue = self.current, self.standby
        if green is None:
            raise DeploymentError(f"{self.deployment}: no model version is loaded yet")
        if blue is None:
            return green.forecast(product_id, horizon)
        try:
            found = green.forecast(product_id, horizon)
            failed = found is None and product_id in blue.products
            problem = f"no forecast for {product_id}, which {blue.version} knows" if failed else ""
        except Exception as err:  # green's fault, not the caller's: blue answers
            found, failed, problem = None, True, f"{type(err).__name__}: {err}"
        self._count(green, failed, problem)
        return blue.forecast(product_id, horizon) if failed else found

    def _count(self, green: ServedVersion, failed: bool, problem: str) -> None:
        with self._lock:
            if self.current is not green or self.standby is None:
                return
            self.answers += 1
            self.failures += failed
            rate = self.failures / self.answers
            if self.answers < self.guard.min_requests or rate <= self.guard.max_error_rate:
                return
            reason = (
                f"{self.failures} of {self.answers} answers failed ({rate:.1%}, over the "
                f"{self.guard.max_error_rate:.1%} limit) within its bake time; last: {problem}"
            )
            blue = self.standby
            self.current, self.standby = blue, None  # back to blue, in one assignment
            self._bad = (green.version, green.data_stamp)  # not loaded again for the same data
            if blue.version != green.version:  # a refresh of the same version has no record to revert
                self._failed_green = (green.version, reason)
        self._record("online_rollback", green.version, reason)

    # -- following the deployment record -------------------------------------------------------------
    def _wanted(self) -> tuple[str | None, str | None]:
        """(live version, when it was deployed) from the deployment record."""
        from matih.serving.deployments import load_state

        live = load_state(self.ws, self.deployment).live
        return (str(live["version"]), str(live.get("deployed_at"))) if live else (None, None)

    def _watch(self) -> None:
        refused: tuple[str | None, str | None] | None = None  # a green that failed is not retried
        while not self._stop.is_set():
            try:
                if self._failed_green is not None:
                    refused = self._wanted()
                    self._revert(*self._failed_green)
                    self._failed_green = None
                self._end_bake()
                wanted = self._wanted()
                current = self.current
                changed = wanted[0] is not None and current is not None and wanted[0] != current.version
                if (current is None or changed) and wanted != refused and not self.switch(wanted[0]):
                    refused = wanted
                elif (
                    current is not None
                    and not changed
                    and (self._data_stamp() != current.data_stamp or self._routing_moved(current))
                ):
                    stale = (current.version, self._data_stamp())
                    if stale not in (refused, self._bad) and not self.switch(current.version):
                        refused = stale
            except MatihError as err:
                self.error = str(err)
                log.warning("serving %s: %s", self.deployment, err)
            self._stop.wait(self.poll_seconds)

    def _routing_moved(self, current: ServedVersion) -> bool:
        """Whether a rollout since the last look serves the same version with other routing (an
        auto_reassign or a routing rollback rolled out again): the server follows it."""
        from matih.serving.deployments import load_state

        live = load_state(self.ws, self.deployment).live or {}
        stamp = str(live.get("deployed_at"))
        if stamp == self._seen_rollout:
            return False
        self._seen_rollout = stamp
        wanted = live.get("routing")
        keys = ("families", "categories")
        return wanted is not None and any(wanted.get(k) != current.routing.get(k) for k in keys)

    def _data_stamp(self) -> str | None:
        """The feature table's write stamp; the journal is re-read only when it changed."""
        from matih.forecast.adapt import configs_from_pipeline
        from matih.warehouse import warehouse_of

        wh = warehouse_of(self.ws)
        mtime = wh.writes_path.stat().st_mtime_ns if wh.writes_path.is_file() else 0
        if self._journal is None or self._journal[0] != mtime:
            train, _, _ = configs_from_pipeline(self.ws)
            self._journal = (mtime, wh.last_write(train.dataset))
        return self._journal[1]

    def _end_bake(self) -> None:
        with self._lock:
            if self.standby is None or time.monotonic() < self.bake_until or self.current is None:
                return
            blue, green = self.standby, self.current
            self.standby = None  # blue's memory is released
            detail = f"{self.failures} of {self.answers} answers failed; {blue.version} unloaded"
        self._record("online_bake_passed", green.version, detail)

    def _revert(self, green: str, reason: str) -> None:
        from matih.serving.deployments import revert

        if not self.rollback:
            self._record(
                "online_rollback_local", green, "rollback_on_failure is off: the record still names it"
            )
            return
        summary = revert(self.ws, self.deployment, green, reason)
        if summary:
            log.warning("serving %s: %s failed after the switch; %s", self.deployment, green, summary)

    def switch(self, version: str | None) -> bool:
        """Load ``version`` as green beside blue and switch to it if it is healthy; ``False`` (blue
        keeps serving, the failure recorded) when it is not. Blue stays loaded for the bake time."""
        blue, standby = self.current, self.standby
        if standby is not None and version == standby.version and standby.data_stamp == self._data_stamp():
            green = standby  # the record went back to the version kept loaded (another server reverted)
        else:
            try:
                stamp = self._data_stamp()  # taken first: a write during the load triggers another
                green = self.loader(self.ws, self.deployment, version)
                green.data_stamp = stamp
                check(green)
            except Exception as err:  # a green that cannot load must never take blue down
                self._record("online_rollout_failed", version, f"{type(err).__name__}: {err}")
                if blue is None:
                    raise DeploymentError(
                        f"{self.deployment}: cannot load {version or 'the live version'}: {err}"
                    ) from err
                return False
        with self._lock:
            self.current = green  # one reference assignment: requests see blue or green, never a mix
            self.standby = blue if blue is not None and green is not standby else None
            self.bake_until = time.monotonic() + self.guard.bake_time.total_seconds()
            self.answers = self.failures = 0
        self.error = None
        self._record("online_switch", green.version, f"from {blue.version if blue else 'nothing'}")
        return True

    def _record(self, event: str, version: str | None, detail: str) -> None:
        from matih.serving.deployments import note

        entry = {
            "at": utc_stamp(),
            "event": event,
            "version": version,
            "reason": detail,
        }
        self.events.append(entry)
        log.info("serving %s: %s %s (%s)", self.deployment, event, version, detail)
        if event != "online_switch":  # a switch per server and rollout would flood the history
            note(self.ws, self.deployment, entry)

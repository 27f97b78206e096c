"""The online forecast endpoints, mounted on MATIH's HTTP API when the workspace has a deployment.

``POST /v1/forecast`` answers one or many products for ``horizon`` days (1-14) from the live version in
memory; ``GET /v1/forecast/{product_id}`` the same product's latest forecast row set; ``/healthz`` is
up when the process is; ``/readyz`` only once a model version is loaded. Requests beyond the
deployment's ``serving_config.max_concurrent_queries`` get 503 with ``Retry-After`` at once, never a
timeout (:class:`InFlightLimit`).

:func:`install` adds these routes to an app whose ``app.state.live`` is the
:class:`~matih.serving.online.LiveModel` they answer from; :func:`forecast_app` builds an app with these
routes alone, which is what each Ray Serve replica runs (``matih.serving.ray_engine.deploy`` is given it
as its app factory, since serving sits below the API and may not import it).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from matih.api.auth import Principal, caller_role
from matih.api.metrics import CONTENT_TYPE_LATEST, SNAPSHOT_SECONDS, ServingMetrics, route_of
from matih.serving.online import LiveModel, ServedVersion
from matih.workspace import Workspace

__all__ = [
    "FORECAST_PREFIX",
    "ForecastDay",
    "ForecastRequest",
    "ForecastResponse",
    "InFlightLimit",
    "ProductForecast",
    "forecast_app",
    "install",
]

FORECAST_PREFIX = "/v1/forecast"


class ForecastRequest(BaseModel):
    """Products to forecast; give ``product_id`` or ``product_ids``."""

    product_id: str | None = Field(default=None, min_length=1, description="One product.")
    product_ids: list[str] | None = Field(
        default=None, min_length=1, max_length=1000, description="Many products."
    )
    horizon: int = Field(default=14, ge=1, le=14, description="Days ahead, 1 to 14.")

    @model_validator(mode="after")
    def _some_product(self) -> ForecastRequest:
        if not self.product_id and not self.product_ids:
            raise ValueError("give product_id or product_ids")
        return self

    def ids(self) -> list[str]:
        return [self.product_id] if self.product_id else list(self.product_ids or [])


class ForecastDay(BaseModel):
    # the quantiles the pipeline asks for (hyperparameters.quantiles) come as extra keys: p10, p50 ...
    model_config = ConfigDict(extra="allow")

    forecast_date: str
    horizon_days: int
    predicted_units: float
    prediction_interval_lower: float
    prediction_interval_upper: float


class ProductForecast(BaseModel):
    product_id: str
    product_name: str | None
    category: str | None
    model: str = Field(
        description="The model that answered: 'category:<name>' or 'fallback', prefixed by '<family>:' when "
        "routing/*.json sends the category to another model family."
    )
    model_version: str = Field(description="'v<n>', or '<family>/v<n>' for another family's model.")
    forecast_origin: str
    days: list[ForecastDay]


class ForecastResponse(BaseModel):
    model_version: str
    forecasts: list[ProductForecast]


def _json(payload: Any) -> Response:
    return Response(orjson.dumps(payload), media_type="application/json")


class InFlightLimit:
    """Pure ASGI middleware: beyond ``limit`` forecast requests in flight, answer 503 with Retry-After at
    once; stamp each forecast answer with ``Server-Timing`` (server-side milliseconds); count every
    forecast request in ``metrics`` by route and status."""

    def __init__(self, app: Any, limit: int, metrics: ServingMetrics) -> None:
        self.app = app
        self.limit = limit
        self.metrics = metrics
        self.in_flight = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(FORECAST_PREFIX):
            await self.app(scope, receive, send)
            return
        route = route_of(scope["method"], scope["path"], FORECAST_PREFIX)
        started = time.perf_counter()
        if self.in_flight >= self.limit:
            self.metrics.observe(route, 503, time.perf_counter() - started)
            body = orjson.dumps({"message": f"over {self.limit} requests in flight; retry shortly"})
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"retry-after", b"1"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        self.in_flight += 1
        status = 500  # unless the app answers

        async def timed(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                took = f"app;dur={(time.perf_counter() - started) * 1000:.3f}".encode()
                message["headers"] = [*message.get("headers", []), (b"server-timing", took)]
            await send(message)

        try:
            await self.app(scope, receive, timed)
        finally:
            self.in_flight -= 1
            self.metrics.observe(route, status, time.perf_counter() - started)


async def _caller(request: Request) -> Principal:
    # async, like the handlers: a lookup of microseconds should not hop to the thread pool
    return caller_role(request)


def _live(request: Request) -> LiveModel:
    live: LiveModel = request.app.state.live
    return live


def _served(live: LiveModel) -> ServedVersion:
    """The version serving now; 503 with Retry-After while none is loaded yet."""
    current = live.current
    if current is None:
        raise HTTPException(
            503, detail=f"no model loaded yet for {live.deployment}", headers={"Retry-After": "1"}
        )
    return current


# callers need a reader key, or to be local; probes answer anyone (orchestrators poll them without keys)
router = APIRouter(dependencies=[Depends(_caller)], tags=["forecasts"])
probes = APIRouter(tags=["probes"])


# answers are built from checked arrays, so they skip FastAPI's response validation (a third of the time
# of a request); the models still document them in the OpenAPI spec. The handlers read the LiveModel
# from app.state directly rather than through a dependency, which would cost every request its resolution.
@router.post(
    FORECAST_PREFIX,
    response_model=None,
    responses={200: {"model": ForecastResponse}},
    summary="Forecast products",
)
async def forecast(body: ForecastRequest, request: Request) -> Any:
    live = _live(request)
    current = _served(live)
    out: list[dict[str, Any]] = []
    missing: list[str] = []
    for i, pid in enumerate(body.ids()):
        if i and i % 100 == 0:
            await asyncio.sleep(0)  # a long list lets other requests through meanwhile
        found = live.answer(pid, body.horizon)
        if found is None:
            missing.append(pid)
        else:
            out.append(found)
    metrics: ServingMetrics = request.app.state.metrics
    for found in out:
        metrics.answered(found["model"], found["category"])
    if missing:
        raise HTTPException(
            404,
            detail=f"unknown product(s) {', '.join(missing[:10])}: {live.deployment} {current.version} "
            f"forecasts the {len(current.products):,} products active at {current.origin}",
        )
    return _json({"model_version": current.version, "forecasts": out})


@router.get(
    FORECAST_PREFIX + "/{product_id}",
    response_model=None,
    responses={200: {"model": ProductForecast}},
    summary="A product's forecast",
)
async def latest(product_id: str, request: Request) -> Any:
    live = _live(request)
    current = _served(live)
    found = live.answer(product_id, current.horizon)
    if found is None:
        raise HTTPException(
            404, detail=f"unknown product {product_id!r} in {live.deployment} {current.version}"
        )
    request.app.state.metrics.answered(found["model"], found["category"])
    return _json(found)


@probes.get("/metrics", summary="Serving metrics (Prometheus text format)")
def metrics(request: Request) -> Response:
    served: ServingMetrics = request.app.state.metrics
    return Response(served.exposition(), media_type=CONTENT_TYPE_LATEST)


@probes.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@probes.get("/readyz", summary="A model version is loaded")
def readyz(request: Request) -> Response:
    live = _live(request)
    current = live.current
    if current is None:
        return JSONResponse({"status": "loading", "error": live.error}, status_code=503)
    return JSONResponse(
        {
            "status": "ready",
            "deployment": live.deployment,
            "model_version": current.version,
            "forecast_origin": current.origin,
            "products": len(current.products),
            "routing": current.routing,
        }
    )


def install(app: FastAPI, live: LiveModel, *, max_concurrent: int) -> None:
    """Add the forecast routes and probes, answering from ``live``, the in-flight limit and the serving
    metrics (snapshotted to the workspace every minute and at shutdown, for the health report)."""
    app.state.live = live
    served = ServingMetrics()
    app.state.metrics = served
    stop = threading.Event()

    def snapshots() -> None:
        while not stop.wait(SNAPSHOT_SECONDS):
            served.persist(live.ws)

    def final_snapshot() -> None:
        stop.set()
        served.persist(live.ws)

    threading.Thread(target=snapshots, name="matih-metrics", daemon=True).start()
    app.router.add_event_handler("shutdown", final_snapshot)
    app.add_middleware(InFlightLimit, limit=max_concurrent, metrics=served)
    app.include_router(router)
    app.include_router(probes)


def forecast_app(ws: Workspace, deployment: str, *, max_concurrent: int) -> tuple[FastAPI, LiveModel]:
    """The forecast routes alone, with their own LiveModel (one per Ray Serve replica). The live version
    is loaded before this returns: Ray Serve routes to a replica once its constructor has finished, so no
    request reaches a replica without a model. Module-level, so Ray can pickle it by reference."""
    app = FastAPI(title=f"MATIH {deployment}", version="0.1.0")
    app.state.workspace = ws  # caller_role reads the workspace's api_keys
    live = LiveModel(ws, deployment)
    live.switch(None)
    live.start()
    install(app, live, max_concurrent=max_concurrent)
    return app, live

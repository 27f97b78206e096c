"""``matih serve --engine ray``: the forecast application on Ray Serve, sized by ``serving_config``.

Each replica runs the embedded application built by the caller's app factory (the API's
``forecast_app``: the same routes, the same blue-green ``LiveModel``) and Ray Serve's proxy routes HTTP
to the replicas. The factory is a parameter because serving sits below the HTTP API and never imports it.
The deployment's ``serving_config`` maps onto Ray Serve's options: ``num_replicas``,
``max_concurrent_queries`` -> ``max_ongoing_requests``, and ``autoscaling_config`` (min/max replicas,
``target_num_ongoing_requests_per_replica`` -> ``target_ongoing_requests``, upscale/downscale delays).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Protocol

from matih.exceptions import DeploymentError
from matih.specs.deployment import ServingConfig
from matih.workspace import Workspace

log = logging.getLogger(__name__)


def ray_options(config: ServingConfig | None, *, cpus_per_replica: float = 1.0) -> dict[str, Any]:
    """Ray Serve deployment options from a deployment's ``serving_config``."""
    config = config or ServingConfig()
    options: dict[str, Any] = {
        "max_ongoing_requests": config.max_concurrent_queries,
        "ray_actor_options": {"num_cpus": cpus_per_replica},
    }
    auto = config.autoscaling_config
    if auto is None:
        options["num_replicas"] = config.num_replicas
    else:
        options["autoscaling_config"] = {
            "min_replicas": auto.min_replicas,
            "initial_replicas": max(auto.min_replicas, min(config.num_replicas, auto.max_replicas)),
            "max_replicas": auto.max_replicas,
            "target_ongoing_requests": auto.target_num_ongoing_requests_per_replica,
            "upscale_delay_s": auto.upscale_delay_s,
            "downscale_delay_s": auto.downscale_delay_s,
        }
    return options


class AppFactory(Protocol):
    """Builds one replica's ASGI app and the object it serves from (a LiveModel). Must be a module-level
    function: Ray pickles the replica class, and the factory with it, by reference."""

    def __call__(self, ws: Workspace, deployment: str, *, max_concurrent: int) -> tuple[Any, Any]: ...


def deploy(
    ws: Workspace,
    deployment: str,
    *,
    app_factory: AppFactory,
    host: str = "127.0.0.1",
    port: int = 8000,
    address: str | None = None,
    cpus_per_replica: float = 1.0,
) -> str:
    """Start (or update) the application on Ray Serve; returns its URL. Each replica runs
    ``app_factory(ws, deployment, max_concurrent=...)``. Ray is started locally unless ``address`` (or
    ``MATIH_RAY_ADDRESS``, ``ray.address``) names a cluster."""
    try:
        import ray
        from ray import serve
    except ImportError:  # pragma: no cover - depends on the install
        raise DeploymentError("--engine ray needs Ray Serve: pip install 'matih[ray]'") from None
    import httpx
    from starlette.requests import Request
    from starlette.responses import Response

    from matih.serving.deployments import deployment_spec

    spec = deployment_spec(ws, deployment)
    address = address or os.environ.get("MATIH_RAY_ADDRESS") or ws.settings().ray.address
    if not ray.is_initialized():
        init: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address and address != "local":
            init["address"] = address
        ray.init(**init)
    serve.start(http_options={"host": host, "port": port})
    limit = spec.serving_config.max_concurrent_queries if spec.serving_config else 100
    root = str(ws.root)

    @serve.deployment(
        name="forecaster", **ray_options(spec.serving_config, cpus_per_replica=cpus_per_replica)
    )
    class Forecaster:
        """One replica: the embedded application, reached over ASGI."""

        def __init__(self) -> None:
            self.app, self.live = app_factory(Workspace(Path(root)), deployment, max_concurrent=limit)
            self.client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=self.app), base_url="http://replica"
            )

        async def __call__(self, request: Request) -> Response:
            answer = await self.client.request(
                request.method,
                request.url.path,
                params=request.query_params,
                content=await request.body(),
                headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
            )
            return Response(answer.content, status_code=answer.status_code, headers=dict(answer.headers))

    serve.run(Forecaster.bind(), name=deployment, route_prefix="/", blocking=False)  # type: ignore[attr-defined]
    return f"http://{host}:{port}"

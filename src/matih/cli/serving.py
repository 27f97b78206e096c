"""``matih serve | deploy | api``: the online forecast server, rollouts, and the HTTP API on its own."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from matih.cli.common import WorkspaceOpt, quiet_logs, workspace
from matih.exceptions import SpecError

deploy_app = typer.Typer(
    help="Roll a validated model out to a deployment; see what it serves.", no_args_is_help=True
)
DEFAULT_DEPLOYMENT = "demand-forecaster"


def serve(
    deployment: Annotated[
        str, typer.Option(help="deployment_name of a deployments/*.json.")
    ] = DEFAULT_DEPLOYMENT,
    host: Annotated[
        str, typer.Option(help="Interface to bind; keep 127.0.0.1 unless keys are set.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8766,
    engine: Annotated[str, typer.Option(help="'embedded' (uvicorn, one process) or 'ray' (Ray Serve).")] = (
        "embedded"
    ),
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster for --engine ray (default: local).")
    ] = None,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """Serve online forecasts (POST /v1/forecast, GET /v1/forecast/{id}, /healthz, /readyz) with the
    deployment's live version, plus the catalog, lineage and SQL API. New rollouts are picked up
    blue-green without dropping a request."""
    import uvicorn

    from matih.api.app import create_app
    from matih.cli.render import console
    from matih.serving.deployments import deployment_spec, heal
    from matih.serving.online import LiveModel

    quiet_logs()
    ws = workspace(workspace_dir)
    spec = deployment_spec(ws, deployment)
    if (healed := heal(ws, deployment)) is not None:
        console.print(f"[yellow]{healed}[/]")
    if engine == "ray":
        _serve_on_ray(ws, deployment, host, port, ray_address)
        return
    if engine != "embedded":
        raise SpecError(f"--engine {engine!r}: use 'embedded' or 'ray'")
    limit = spec.serving_config.max_concurrent_queries if spec.serving_config else 100
    live = LiveModel(ws, deployment)
    live.start()
    app = create_app(ws, serving=live, max_concurrent=limit)
    console.print(f"{deployment} on http://{host}:{port}/v1/forecast (ready at /readyz; OpenAPI at /docs)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def deploy(
    target: Annotated[
        str, typer.Argument(help="deployment_name to roll out, or 'status'.")
    ] = DEFAULT_DEPLOYMENT,
    name: Annotated[str | None, typer.Argument(help="With 'status': the deployment.")] = None,
    model_source: Annotated[
        str, typer.Option(help="'latest_validated' (the champion) or a version number.")
    ] = ("latest_validated"),
    health_check_timeout: Annotated[
        float, typer.Option(help="Seconds green may take to become healthy.")
    ] = 300.0,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """`matih deploy NAME` rolls the validated model out blue-green: green forecasts every product and
    must be healthy within the timeout, then the batch table and the deployment record switch (running
    servers follow); a failing green changes nothing. `matih deploy status [NAME]` shows what serves."""
    if target == "status":
        deploy_status(name or DEFAULT_DEPLOYMENT, workspace_dir)
        return
    from matih.cli.render import console
    from matih.forecast.adapt import configs_from_pipeline
    from matih.serving.deployments import rollout

    quiet_logs()
    ws = workspace(workspace_dir)
    train, _, _ = configs_from_pipeline(ws)
    result = rollout(ws, target, train, model_source=model_source, health_check_timeout=health_check_timeout)
    console.print(
        f"{target}: [green]{result.version} live[/] (was {result.previous or 'nothing'}); green was "
        f"healthy in {result.health_seconds:.1f}s; {result.rows:,} forecast rows"
        + (f" in {result.output_table}" if result.output_table else "")
    )


def deploy_status(deployment: str, workspace_dir: WorkspaceOpt = None) -> None:
    """The live and previous versions and every rollout and rollback."""
    from matih.cli.render import console, rows_table
    from matih.serving.deployments import deployment_spec, load_state

    ws = workspace(workspace_dir)
    deployment_spec(ws, deployment)
    state = load_state(ws, deployment)
    live = state.live or {}
    console.print(
        f"{deployment}: live [bold]{live.get('version', 'nothing')}[/]"
        + (f" since {live['deployed_at']} (forecast origin {live.get('forecast_origin')})" if live else "")
        + f"; previous {(state.previous or {}).get('version', 'none')}"
    )
    rows = [
        (
            h.get("at", ""),
            h.get("event", ""),
            h.get("version") or h.get("champion") or "",
            h.get("reason", ""),
        )
        for h in reversed(state.history)
    ]
    routing = live.get("routing") or {}
    if routing.get("spec"):
        families = ", ".join(f"{f} {v}" for f, v in routing.get("families", {}).items())
        console.print(f"routing ({routing['spec']}): {families or 'the pipeline family only'}")
        for category, family in routing.get("categories", {}).items():
            console.print(f"  {category} -> {family}")
        for note in routing.get("notes", []):
            console.print(f"  [yellow]not served:[/] {note}")
    console.print(rows_table(("at (UTC)", "event", "version", "detail"), rows, title="Rollouts"))


def api(
    workspace_dir: WorkspaceOpt = None,
    host: Annotated[
        str, typer.Option(help="Interface to bind; keep 127.0.0.1 unless keys are set.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
) -> None:
    """Serve the HTTP API (catalog, lineage, SQL) with its OpenAPI spec at /docs and /openapi.json."""
    import uvicorn

    from matih.api.app import create_app
    from matih.cli.render import console

    app_ = create_app(workspace(workspace_dir))
    console.print(f"MATIH API on http://{host}:{port} (OpenAPI: http://{host}:{port}/docs)")
    uvicorn.run(app_, host=host, port=port, log_level="warning")


def _serve_on_ray(ws: Any, deployment: str, host: str, port: int, address: str | None) -> None:
    import signal
    import threading

    import ray
    from ray import serve

    from matih.api.forecast import forecast_app
    from matih.cli.render import console
    from matih.serving.ray_engine import deploy

    url = deploy(ws, deployment, app_factory=forecast_app, host=host, port=port, address=address)
    console.print(f"{deployment} on Ray Serve at {url}/v1/forecast (ready at /readyz); Ctrl-C stops")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        serve.shutdown()
        ray.shutdown()

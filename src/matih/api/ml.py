"""The ML Workbench's reads: experiments, routing versions and a product's forecast against its past.

Each route is a thin read of what the CLI computes (``matih experiment show``, ``matih routing history``,
the batch table and its archive), so a page and a terminal show the same numbers.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from matih.api.auth import Caller
from matih.api.query import jsonable
from matih.api.state import Wh, Ws, file_stamp, memo
from matih.exceptions import MatihError
from matih.workspace import Workspace

__all__ = ["router"]

router = APIRouter(prefix="/ml", tags=["ML Workbench"])


def _registry_stamp(ws: Workspace) -> tuple[Any, ...] | None:
    """The embedded registry is one SQLite file (a version's report and summary are written with a row
    in it): its stamp, and the pipeline specs', say when to read again. ``None`` for a remote MLflow."""
    if ws.settings().tracking.uri is not None:
        return None
    embedded = ws.mlflow_dir / "mlflow.db"
    journal = embedded.with_name("mlflow.db-wal")  # SQLite's write-ahead log, when it keeps one
    specs = sorted(ws.spec_files("pipelines"))
    return file_stamp(embedded, journal, *specs) + tuple(map(str, specs))


@router.get("/models", summary="Registered models: the pipeline's and each family's, with their versions")
def models(caller: Caller, ws: Ws, request: Request) -> list[dict[str, Any]]:
    return memo(request, "ml-models", _registry_stamp(ws), lambda: _models(ws))


def _models(ws: Workspace) -> list[dict[str, Any]]:
    from matih.forecast.adapt import configs_from_pipeline
    from matih.forecast.config import FAMILIES
    from matih.forecast.registry import Registry

    train, gate, _ = configs_from_pipeline(ws)
    registry = Registry(ws)
    out = []
    names = [(train.model_type, train.experiment)] + [
        (f, f"{train.experiment}-{f}") for f in FAMILIES if f != train.model_type
    ]
    for family, name in names:
        versions = registry.versions(name)
        if versions or family == train.model_type:
            out.append({"family": family, "name": name, "versions": versions})
    return jsonable(
        [{**m, "gate": {"mape_max": gate.mape_max, "bias_range": list(gate.bias_range)}} for m in out]
    )


@router.get("/models/{name}/versions/{version}", summary="A version's gate report and training summary")
def model_version(caller: Caller, ws: Ws, name: str, version: int, request: Request) -> dict[str, Any]:
    return memo(
        request,
        f"ml-version:{name}:{version}",
        _registry_stamp(ws),
        lambda: _model_version(ws, name, version),
    )


def _model_version(ws: Workspace, name: str, version: int) -> dict[str, Any]:
    from matih.forecast.registry import Registry

    registry = Registry(ws)
    if not any(v["version"] == version for v in registry.versions(name)):
        raise HTTPException(404, f"model {name!r} has no version {version}")
    return jsonable(
        {
            "name": name,
            "version": version,
            "evaluation": registry.evaluation(name, version),
            "training_summary": registry.training_summary(name, version),
        }
    )


@router.get("/experiments", summary="The experiments that have a report")
def experiments(caller: Caller, ws: Ws) -> list[dict[str, Any]]:
    from matih.experiment.runner import load_report

    out = []
    for path in sorted((ws.state / "experiments").glob("*.json")):
        report = load_report(ws, path.stem)
        out.append(
            {
                "experiment": report.experiment,
                "created": report.created,
                "families": report.families,
                "winners": report.wins,
                "overall": jsonable(report.overall),
                "seconds": report.seconds,
            }
        )
    return out


@router.get("/experiments/{name}", summary="An experiment's Results Matrix, winners and significance")
def experiment(caller: Caller, ws: Ws, name: str) -> dict[str, Any]:
    from matih.experiment.runner import load_report

    try:
        return jsonable(asdict(load_report(ws, name)))
    except MatihError as err:
        raise HTTPException(404, str(err)) from None


@router.get("/routing", summary="The routing document and its versions")
def routing(caller: Caller, ws: Ws) -> dict[str, Any]:
    from matih.forecast.routing_versions import current_routing, routing_history

    return {
        "current": current_routing(ws),
        "versions": [
            {"version": v.version, "at": v.at, "reason": v.reason, "overrides": v.overrides}
            for v in routing_history(ws)
        ],
    }


@router.get("/products", summary="Products of the live forecast table matching a text")
def products(
    caller: Caller,
    ws: Ws,
    wh: Wh,
    q: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[dict[str, Any]]:
    from matih.forecast.products import find_products

    return find_products(ws, q, limit=limit, warehouse=wh)


@router.get("/forecasts/{product_id}", summary="A product's history, live forecast and past forecasts")
def product_forecast(
    caller: Caller,
    ws: Ws,
    wh: Wh,
    product_id: str,
    days: Annotated[int, Query(ge=7, le=730)] = 56,
) -> dict[str, Any]:
    from matih.forecast.products import product_view

    try:
        return jsonable(product_view(ws, product_id, history_days=days, warehouse=wh))
    except MatihError as err:
        raise HTTPException(404, str(err)) from None

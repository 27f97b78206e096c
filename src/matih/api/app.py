"""The HTTP API application (FastAPI): :func:`create_app` assembles the routers over one workspace.

The routes live in their own modules: :mod:`matih.api.catalog` (catalog and lineage),
:mod:`matih.api.query` (SQL), :mod:`matih.api.sources` (the sources panel), :mod:`matih.api.pipelines`
(runs on Temporal), :mod:`matih.api.monitoring` (Production Health), :mod:`matih.api.ml` (models,
experiments, routing, a product's forecast), :mod:`matih.api.workbench` (the browser pages over those,
and signing in) and, when a deployment is served,
:mod:`matih.api.forecast` (online forecasts and probes). Who may call what is :mod:`matih.api.auth`'s.
The routers find the workspace and the warehouse in ``app.state``; this module puts them there.

Errors: a :class:`~matih.exceptions.MatihError` that escapes a route is the caller's input being wrong,
so it answers 400 with ``{"detail": {"message": ...}}``, plus the line and column for a
:class:`~matih.exceptions.QueryError`; Temporal out of reach (an
:class:`~matih.exceptions.OrchestrationError`) is a 503.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from matih.api import catalog, ml, monitoring, pipelines, query, sources, workbench
from matih.exceptions import MatihError, OrchestrationError, QueryError
from matih.workspace import Workspace

if TYPE_CHECKING:
    from matih.serving.online import LiveModel

__all__ = ["ErrorBody", "create_app"]


class ErrorBody(BaseModel):
    message: str
    line: int | None = None
    column: int | None = None


async def _matih_error(_request: Request, err: Exception) -> JSONResponse:
    detail: dict[str, Any] = {"message": str(err)}
    if isinstance(err, QueryError):
        detail.update(line=err.line, column=err.column)
    return JSONResponse(
        {"detail": detail}, status_code=503 if isinstance(err, OrchestrationError) and err.transient else 400
    )


def create_app(ws: Workspace, *, serving: LiveModel | None = None, max_concurrent: int = 200) -> FastAPI:
    """The API over workspace ``ws``; with ``serving`` (the deployment's
    :class:`~matih.serving.online.LiveModel`), the online forecast endpoints too, at most
    ``max_concurrent`` forecast requests in flight."""
    app = FastAPI(
        title="MATIH",
        version="0.1.0",
        description="Catalog, lineage and SQL over a MATIH workspace.",
        responses={
            400: {"model": ErrorBody},
            401: {"model": ErrorBody},
            403: {"model": ErrorBody},
            503: {"model": ErrorBody},
        },
    )
    app.state.workspace = ws
    app.state.warehouse = query.untrusted_warehouse(ws)
    app.state.query_owners = {}  # running query id -> its caller (POST /query/{id}/cancel)
    app.state.memo = {}  # answers kept until their inputs change (api.state.memo)
    app.add_exception_handler(MatihError, _matih_error)
    if serving is not None:
        # imported only when serving: the catalog/SQL API alone never loads the model-serving stack
        from matih.api.forecast import install

        install(app, serving, max_concurrent=max_concurrent)
    app.include_router(catalog.router)
    app.include_router(query.router)
    app.include_router(sources.router)
    pipelines.install(app)
    app.include_router(monitoring.router)
    app.include_router(ml.router)
    workbench.install(app)  # the pages at / and /ui/, over the routes above
    return app

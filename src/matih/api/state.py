"""What a route reads from the application: the workspace and the warehouse :func:`create_app` put in
``app.state``, as FastAPI dependencies (``ws: Ws``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from matih.warehouse import Warehouse
from matih.workspace import Workspace

__all__ = ["Wh", "Ws"]


async def _workspace(request: Request) -> Workspace:
    # async: a lookup this small should not hop to the thread pool
    workspace: Workspace = request.app.state.workspace
    return workspace


async def _warehouse(request: Request) -> Warehouse:
    warehouse: Warehouse = request.app.state.warehouse
    return warehouse


Ws = Annotated[Workspace, Depends(_workspace)]
Wh = Annotated[Warehouse, Depends(_warehouse)]

"""The catalog and lineage routes: ``GET /catalog/tables``, ``/catalog/search``, ``/catalog/tables/{name}``
and ``/lineage/{name}``.

Read-only, so any caller (:data:`matih.api.auth.Caller`) may use them. Each request reads the catalog and
the lineage graph afresh from the workspace in ``app.state.workspace``, so a sync or refresh made by
another process shows at once. A name the catalog does not know is a 404 with the catalog's message.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request

from matih.api.auth import Caller
from matih.api.state import Ws, memo
from matih.catalog.lineage import LineageGraph, build_lineage, lineage_stamp
from matih.catalog.tables import load_catalog
from matih.exceptions import MatihError
from matih.workspace import Workspace

__all__ = ["router"]


router = APIRouter()


def _graph(ws: Workspace, request: Request) -> LineageGraph:
    """The lineage graph, rebuilt only when one of its inputs changed (:func:`lineage_stamp`): at seed
    scale building it (parsing every query, reading the forecast tables' versions) takes ~150 ms."""
    warehouse = request.app.state.warehouse
    stamp = lineage_stamp(ws, warehouse)
    return memo(request, "lineage", stamp, lambda: build_lineage(ws, warehouse=warehouse))


@router.get("/catalog/tables", summary="Every table in the catalog")
def tables(caller: Caller, ws: Ws) -> list[dict[str, Any]]:
    catalog = load_catalog(ws)
    return [
        {
            "name": t.name,
            "rows": t.rows,
            "primary_key": t.primary_key,
            "owner": t.owner,
            "tags": t.tags,
            "updated_at": t.updated_at,
        }
        for t in catalog.tables.values()
    ]


@router.get("/catalog/search", summary="Tables that have a column")
def search(
    caller: Caller, ws: Ws, column: Annotated[str, Query(min_length=1, max_length=200)]
) -> list[dict[str, Any]]:
    rows = []
    for t in load_catalog(ws).search(column):
        col = t.column(column)
        rows.append(
            {
                "table": t.name,
                "schema": f"{t.catalog}.{t.schema}",
                "type": col.type if col else None,
                "role": col.role if col else None,
                "references": col.references if col else None,
                "rows": t.rows,
            }
        )
    return rows


@router.get("/catalog/tables/{name}", summary="A table's card")
def table(caller: Caller, ws: Ws, name: str, request: Request) -> dict[str, Any]:
    try:
        info = load_catalog(ws).get(name)
    except MatihError as err:
        raise HTTPException(404, str(err)) from None
    graph = _graph(ws, request)
    return {
        "name": info.name,
        "rows": info.rows,
        "columns": [c.__dict__ for c in info.columns],
        "primary_key": info.primary_key,
        "owner": info.owner,
        "tags": info.tags,
        "description": info.description,
        "origin": info.origin,
        "created_at": info.created_at,
        "updated_at": info.updated_at,
        "freshness_hours": info.freshness_hours(),
        "lineage_in": sorted({e.source for e in graph.edges if e.target == info.name}),
        "lineage_out": sorted({e.target for e in graph.edges if e.source == info.name}),
    }


@router.get("/lineage", summary="The whole lineage graph: nodes, edges and cycles")
def lineage_graph(caller: Caller, ws: Ws, request: Request) -> dict[str, Any]:
    """Every node (``kind``: table, source, query, pipeline, model, ...) and edge, the cycles (each a
    path ending where it starts) and which tables have column lineage (``/lineage/{name}?columns=true``)."""
    graph = _graph(ws, request)
    return {
        "nodes": [{"id": name, "kind": kind} for name, kind in sorted(graph.nodes.items())],
        "edges": [e.__dict__ for e in graph.edges],
        "cycles": graph.cycles(),
        "with_columns": sorted(graph.columns),
    }


@router.get("/lineage/{name}", summary="What feeds a table and what it feeds")
def lineage(
    caller: Caller,
    ws: Ws,
    request: Request,
    name: str,
    direction: Literal["both", "upstream", "downstream"] = "both",
    columns: bool = False,
) -> dict[str, Any]:
    graph = _graph(ws, request)
    try:
        node = graph.resolve(name)
    except MatihError as err:
        raise HTTPException(404, str(err)) from None
    edges = graph.subgraph(
        node, upstream=direction in ("both", "upstream"), downstream=direction in ("both", "downstream")
    )
    body: dict[str, Any] = {"node": node, "edges": [e.__dict__ for e in edges]}
    if columns:
        body["columns"] = {
            col: sorted(f"{t}.{c}" for t, c in sources)
            for col, sources in graph.columns.get(node, {}).items()
        }
    return body

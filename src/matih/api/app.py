"""The HTTP API (FastAPI): catalog, lineage and SQL over the workspace. Later issues add routers here.

Access: a key from ``matih.yaml``'s ``api_keys`` (``X-API-Key`` header or ``Authorization: Bearer``)
grants its role; no key grants read access to local clients only (127.0.0.1). Only ``editor`` keys may
run statements that write. SQL through the API runs with DuckDB's external access disabled (no files,
URLs or extensions beyond the warehouse's catalogs).
"""

from __future__ import annotations

import datetime as dt
import decimal
import hmac
import math
import os
import uuid
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from matih.exceptions import MatihError, SecretError
from matih.query.service import DIALECTS, QueryError, is_read_only, run_sql
from matih.warehouse import Warehouse, warehouse_of
from matih.workspace import Workspace

LOCAL_HOSTS = {"127.0.0.1", "::1", "localhost", "testclient"}
MAX_ROWS = 10_000
Role = Literal["reader", "editor"]


class QueryRequest(BaseModel):
    """SQL to run on the warehouse."""

    sql: str = Field(min_length=1, max_length=100_000, description="One or more statements.")
    dialect: Literal["duckdb", "trino", "postgres", "snowflake"] = Field(
        default="duckdb", description="Dialect the SQL is written in; transpiled to DuckDB by sqlglot."
    )
    params: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict, description="Values for $name placeholders."
    )
    limit: int = Field(default=1_000, ge=1, le=MAX_ROWS, description="Most rows returned.")


class Column(BaseModel):
    name: str
    type: str


class QueryResponse(BaseModel):
    columns: list[Column]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    elapsed: float
    statements: int


class ErrorBody(BaseModel):
    message: str
    line: int | None = None
    column: int | None = None


def _jsonable(value: Any) -> Any:
    """A value JSON can carry: non-finite floats become null, exotic types their text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def _keys(ws: Workspace) -> dict[str, Role]:
    found: dict[str, Role] = {}
    for entry in ws.settings().api_keys:
        name = entry.key[2:-1]
        if name not in os.environ:
            raise SecretError(name, file="matih.yaml", path="$.api_keys")
        found[os.environ[name]] = entry.role
    return found


def caller_role(request: Request) -> Role:
    """The caller's role: from its API key, or ``reader`` for a local caller without one."""
    given = request.headers.get("x-api-key") or ""
    auth = request.headers.get("authorization", "")
    if not given and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if given:
        for key, granted in _keys(request.app.state.workspace).items():
            if hmac.compare_digest(key.encode(), given.encode()):
                return granted
        raise HTTPException(401, "unknown API key; use a key listed in matih.yaml's api_keys")
    host = request.client.host if request.client else ""
    if host in LOCAL_HOSTS:
        return "reader"
    raise HTTPException(401, "an API key is required from other hosts (X-API-Key header)")


Caller = Annotated[Role, Depends(caller_role)]


def create_app(ws: Workspace, *, serving: Any = None, max_concurrent: int = 200) -> FastAPI:
    """The API over workspace ``ws``; with ``serving`` (a :class:`matih.serving.online.LiveModel`), the
    online forecast endpoints too."""
    from matih.catalog.lineage import build_lineage
    from matih.catalog.tables import load_catalog

    app = FastAPI(
        title="MATIH",
        version="0.1.0",
        description="Catalog, lineage and SQL over a MATIH workspace.",
        responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
    )
    app.state.workspace = ws
    base = warehouse_of(ws)
    # untrusted SQL: same catalogs, no file system or network access; one database held open while
    # requests keep coming (and released when idle, so syncs in other processes can write)
    warehouse = Warehouse(
        base.directory,
        threads=base.threads,
        memory_limit=base.memory_limit,
        external_access=False,
        live=base.live,
        hold_open_seconds=2.0,
    )

    if serving is not None:
        from matih.serving.api import install

        install(app, serving, max_concurrent=max_concurrent)

    @app.exception_handler(MatihError)
    async def matih_error(_request: Request, err: MatihError) -> JSONResponse:
        detail: dict[str, Any] = {"message": str(err)}
        if isinstance(err, QueryError):
            detail.update(line=err.line, column=err.column)
        return JSONResponse({"detail": detail}, status_code=400)

    @app.get("/catalog/tables", summary="Every table in the catalog")
    def tables(caller: Caller) -> list[dict[str, Any]]:
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

    @app.get("/catalog/search", summary="Tables that have a column")
    def search(
        caller: Caller, column: Annotated[str, Query(min_length=1, max_length=200)]
    ) -> list[dict[str, Any]]:
        rows = []
        for t in load_catalog(ws).search(column):
            col = t.column(column)
            rows.append(
                {
                    "table": t.name,
                    "schema": f"{t.catalog}.{t.schema}",
                    "role": col.role if col else None,
                    "references": col.references if col else None,
                    "rows": t.rows,
                }
            )
        return rows

    @app.get("/catalog/tables/{name}", summary="A table's card")
    def table(caller: Caller, name: str) -> dict[str, Any]:
        try:
            info = load_catalog(ws).get(name)
        except MatihError as err:
            raise HTTPException(404, str(err)) from None
        graph = build_lineage(ws)
        card = {
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
        return card

    @app.get("/lineage/{name}", summary="What feeds a table and what it feeds")
    def lineage(
        caller: Caller,
        name: str,
        direction: Literal["both", "upstream", "downstream"] = "both",
        columns: bool = False,
    ) -> dict[str, Any]:
        graph = build_lineage(ws)
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

    @app.post("/query", response_model=QueryResponse, summary="Run SQL on the warehouse")
    def query(request: QueryRequest, caller: Caller) -> QueryResponse:
        if request.dialect not in DIALECTS:  # pragma: no cover - the model already restricts it
            raise HTTPException(422, "unknown dialect")
        if not is_read_only(request.sql, request.dialect) and caller != "editor":
            raise HTTPException(403, "this statement writes; it needs an API key with the editor role")
        results = run_sql(
            warehouse,
            request.sql,
            dialect=request.dialect,
            max_rows=request.limit,
            params=dict(request.params) or None,
        )
        last = next((r for r in reversed(results) if r.table is not None), None)
        elapsed = sum(r.elapsed for r in results)
        if last is None or last.table is None:
            return QueryResponse(
                columns=[], rows=[], row_count=0, truncated=False, elapsed=elapsed, statements=len(results)
            )
        table = last.table
        columns = [Column(name=f.name, type=str(f.type)) for f in table.schema]
        data = [table.column(i).to_pylist() for i in range(table.num_columns)]
        rows = [[_jsonable(col[r]) for col in data] for r in range(table.num_rows)]
        return QueryResponse(
            columns=columns,
            rows=rows,
            row_count=table.num_rows,
            truncated=last.truncated,
            elapsed=elapsed,
            statements=len(results),
        )

    return app

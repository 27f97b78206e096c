"""``POST /query``: SQL over the warehouse, its request and response models, and JSON-safe values;
``/query/explain`` (DuckDB's plan), ``/query/export`` (the result as CSV or Parquet) and
``/query/{id}/cancel`` (a caller names its query with ``query_id`` and may interrupt it).

SQL through the API is untrusted: it runs on :func:`untrusted_warehouse`, the workspace's catalogs with
DuckDB's external access disabled (no files, URLs or extensions beyond the warehouse's catalogs). A
statement that writes needs a key with the ``editor`` role (403 otherwise); SQL that cannot run is a 400
whose body names the line and column (see :func:`matih.api.app.create_app`'s error handler). Every
write, refused or not, is recorded in the audit log (:mod:`matih.api.audit`).
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import math
import threading
import uuid
from typing import Annotated, Any, Literal

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from matih.api.audit import audited, sql_summary
from matih.api.auth import Caller
from matih.exceptions import QueryError
from matih.query.service import DIALECTS, explain, is_read_only, run_sql
from matih.warehouse import Engine, StatementResult, Warehouse, labelled, warehouse_of
from matih.workspace import Workspace

__all__ = [
    "MAX_EXPORT_ROWS",
    "MAX_ROWS",
    "Column",
    "QueryRequest",
    "QueryResponse",
    "jsonable",
    "router",
    "untrusted_warehouse",
]

MAX_ROWS = 10_000
MAX_EXPORT_ROWS = 1_000_000
_OWNERS_LOCK = threading.Lock()


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
    query_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="A name the caller gives this query, to cancel it with POST /query/{query_id}/cancel.",
    )


class ExportRequest(QueryRequest):
    """One query whose whole result (up to MAX_EXPORT_ROWS rows) comes back as a file."""

    format: Literal["csv", "parquet"] = Field(default="csv", description="File format of the result.")
    limit: int = Field(default=MAX_EXPORT_ROWS, ge=1, le=MAX_EXPORT_ROWS, description="Most rows.")


class PlanResponse(BaseModel):
    sql: str
    plan: str


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


def untrusted_warehouse(ws: Workspace) -> Engine:
    """The warehouse the API's SQL runs on: the workspace's catalogs, no file system or network access.
    One database is held open while requests keep coming, and released when idle so that syncs in other
    processes can write."""
    base = warehouse_of(ws)
    if not isinstance(base, Warehouse):
        return base  # Spark reads no files but its tables: the SQL translation refuses table functions
    return Warehouse(
        base.directory,
        threads=base.threads,
        memory_limit=base.memory_limit,
        external_access=False,
        live=base.live,
        hold_open_seconds=2.0,
    )


async def _warehouse(request: Request) -> Engine:
    # async: a lookup this small should not hop to the thread pool
    warehouse: Engine = request.app.state.warehouse
    return warehouse


def jsonable(value: Any) -> Any:
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
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def _response(results: list[StatementResult]) -> QueryResponse:
    """The last statement that returned rows answers; the elapsed time is every statement's."""
    last = next((r for r in reversed(results) if r.table is not None), None)
    elapsed = sum(r.elapsed for r in results)
    if last is None or last.table is None:
        return QueryResponse(
            columns=[], rows=[], row_count=0, truncated=False, elapsed=elapsed, statements=len(results)
        )
    table = last.table
    columns = [Column(name=f.name, type=str(f.type)) for f in table.schema]
    data = [table.column(i).to_pylist() for i in range(table.num_columns)]
    rows = [[jsonable(col[r]) for col in data] for r in range(table.num_rows)]
    return QueryResponse(
        columns=columns,
        rows=rows,
        row_count=table.num_rows,
        truncated=last.truncated,
        elapsed=elapsed,
        statements=len(results),
    )


router = APIRouter()


@router.post("/query", response_model=QueryResponse, summary="Run SQL on the warehouse")
def query(
    request: QueryRequest,
    caller: Caller,
    warehouse: Annotated[Engine, Depends(_warehouse)],
    http: Request,
) -> QueryResponse:
    ws: Workspace = http.app.state.workspace
    if request.dialect not in DIALECTS:  # pragma: no cover - the model already restricts it
        raise HTTPException(422, "unknown dialect")
    if is_read_only(request.sql, request.dialect):
        return _response(_run(request, warehouse, http, caller.who))
    # a write: recorded in the audit log whatever happens, refusals included
    summary = sql_summary(request.sql, request.dialect)
    with audited(ws, caller, "POST /query", summary):
        if caller.role != "editor":
            raise HTTPException(403, "this statement writes; it needs an API key with the editor role")
        return _response(_run(request, warehouse, http, caller.who))


@router.post("/query/explain", response_model=PlanResponse, summary="DuckDB's plan for one query")
def query_plan(
    request: QueryRequest, caller: Caller, warehouse: Annotated[Engine, Depends(_warehouse)]
) -> PlanResponse:
    if not is_read_only(request.sql, request.dialect):
        raise HTTPException(403, "only a query that reads can be explained through the API")
    plan = explain(warehouse, request.sql, dialect=request.dialect, params=dict(request.params) or None)
    return PlanResponse(sql=plan.sql, plan=plan.text)


@router.post(
    "/query/export",
    summary="A query's result as a CSV or Parquet file",
    responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}}},
)
def query_export(
    request: ExportRequest,
    caller: Caller,
    warehouse: Annotated[Engine, Depends(_warehouse)],
    http: Request,
) -> Response:
    if not is_read_only(request.sql, request.dialect):
        raise HTTPException(403, "only a query that reads can be exported")
    results = _run(request, warehouse, http, caller.who)
    last = next((r for r in reversed(results) if r.table is not None), None)
    if last is None or last.table is None:
        raise QueryError("the SQL returned no rows to export")
    out = io.BytesIO()
    if request.format == "csv":
        pacsv.write_csv(last.table, out)
        media = "text/csv"
    else:
        pq.write_table(last.table, out)
        media = "application/vnd.apache.parquet"
    headers = {
        "Content-Disposition": f'attachment; filename="query.{request.format}"',
        "X-Row-Count": str(last.table.num_rows),
        "X-Truncated": "true" if last.truncated else "false",
    }
    return Response(out.getvalue(), media_type=media, headers=headers)


@router.post("/query/{query_id}/cancel", summary="Interrupt a running query")
def query_cancel(
    query_id: str, caller: Caller, warehouse: Annotated[Engine, Depends(_warehouse)], http: Request
) -> dict[str, Any]:
    owner = _owners(http).get(query_id)
    if owner is not None and owner != caller.who:
        raise HTTPException(403, f"query {query_id} was started by another caller")
    return {"query_id": query_id, "cancelled": warehouse.interrupt(_label(query_id)) > 0}


def _owners(http: Request) -> dict[str, str]:
    """query id -> the caller running it (``app.state.query_owners``, made by ``create_app``), so one
    caller cannot cancel another's query."""
    owners: dict[str, str] = http.app.state.query_owners
    return owners


def _label(query_id: str) -> str:
    return f"api-query:{query_id}"


def _run(request: QueryRequest, warehouse: Engine, http: Request, who: str) -> list[StatementResult]:
    """Run the request's SQL; under its ``query_id``, if it has one, so its caller can cancel it."""

    def run() -> list[StatementResult]:
        return run_sql(
            warehouse,
            request.sql,
            dialect=request.dialect,
            max_rows=request.limit,
            params=dict(request.params) or None,
        )

    if request.query_id is None:
        return run()
    owners = _owners(http)
    with _OWNERS_LOCK:
        owners[request.query_id] = who
    try:
        with labelled(_label(request.query_id)):
            return run()
    finally:
        with _OWNERS_LOCK:
            owners.pop(request.query_id, None)

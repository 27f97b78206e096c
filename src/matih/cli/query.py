"""``matih query run``: SQL against the warehouse in any supported dialect, printed, explained or exported.

Ctrl-C must reach a statement DuckDB is running, so the statement runs in a worker thread
(:func:`_cancellable`) and the command leaves with ``os._exit`` once it is rolled back."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn, TypeVar

import typer

from matih.cli.common import WorkspaceOpt, handled
from matih.cli.common import workspace as _workspace
from matih.exceptions import QueryCancelled, WarehouseError

if TYPE_CHECKING:
    from matih.warehouse import StatementResult

query_app = typer.Typer(help="Run SQL against the warehouse.", no_args_is_help=True)

FORMATS = ("table", "csv", "json", "parquet")
T = TypeVar("T")


@query_app.command("run")
@handled
def query_run(
    file: Annotated[Path | None, typer.Argument(help="A .sql file to run.")] = None,
    execute: Annotated[str | None, typer.Option("--execute", "-e", help="SQL text to run.")] = None,
    workspace: WorkspaceOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or parquet.")] = "table",
    output: Annotated[Path | None, typer.Option(help="Write the result to this file.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show in the terminal.")] = 50,
    dialect: Annotated[
        str, typer.Option(help="Dialect the SQL is written in: duckdb, trino, postgres or snowflake.")
    ] = "duckdb",
    explain: Annotated[
        bool, typer.Option("--explain", help="Print the query plan instead of running.")
    ] = False,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE for $NAME in the SQL (repeatable).")
    ] = None,
) -> None:
    """Run SQL (any supported dialect, transpiled by sqlglot); CREATE TABLE ... AS replaces atomically.

    Ctrl-C cancels a running statement; nothing it was writing is kept."""
    from matih.cli.render import console
    from matih.query import explain as explain_sql
    from matih.query import run_sql, to_duckdb
    from matih.warehouse import warehouse_of

    if (file is None) == (execute is None):
        raise WarehouseError('give either a .sql FILE or -e "SQL"')
    if fmt not in FORMATS:
        raise WarehouseError(f"--format must be table, csv, json or parquet, got {fmt!r}")
    params = _parse_params(param or [])
    sql = execute if execute is not None else file.read_text()  # type: ignore[union-attr]
    start = file.resolve().parent if file else None
    ws = _workspace(workspace if workspace is not None else start)
    wh = warehouse_of(ws)
    started = time.perf_counter()
    try:
        if explain:
            console.print(explain_sql(wh, sql, dialect=dialect, params=params or None).text, highlight=False)
            return
        if output is not None or fmt != "table":
            if output is None:
                raise WarehouseError(f"--format {fmt} needs --output PATH")
            kind: Literal["csv", "json", "parquet"] = "parquet" if fmt == "table" else fmt  # type: ignore[assignment]
            rows = wh.export(to_duckdb(sql, dialect), output, kind)
            console.print(f"{rows:,} rows written to {output} in {time.perf_counter() - started:.2f}s")
            return
        results = _cancellable(
            wh, lambda: run_sql(wh, sql, dialect=dialect, max_rows=limit, params=params or None)
        )
    except (KeyboardInterrupt, QueryCancelled):
        _leave_cancelled(started)
    _print_results(results, limit)


def _parse_params(items: Sequence[str]) -> dict[str, object]:
    """``--param NAME=VALUE`` options as the SQL's ``$NAME`` values (text; the SQL casts them)."""
    params: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise WarehouseError(f"--param {item!r}: write NAME=VALUE")
        params[key.strip()] = value
    return params


def _print_results(results: Sequence[StatementResult], limit: int) -> None:
    """Each statement's outcome: the table it wrote, the rows it returned, or its kind."""
    from matih.cli.render import arrow_table, console

    for result in results:
        if result.target:
            console.print(f"[green]{result.target}[/]: {result.rows:,} rows in {result.elapsed:.2f}s")
        elif result.table is not None:
            console.print(arrow_table(result.table, max_rows=limit))
            note = f" (truncated to the first {limit}; raise --limit to see more)" if result.truncated else ""
            console.print(f"{result.table.num_rows:,} rows{note} in {result.elapsed:.3f}s")
        else:
            console.print(f"{result.kind} ok in {result.elapsed:.3f}s")


def _leave_cancelled(started: float) -> NoReturn:
    from matih.cli.render import console

    console.print(f"[yellow]cancelled[/] after {time.perf_counter() - started:.1f}s; nothing was changed")
    sys.stdout.flush()
    # DuckDB's worker threads may still be unwinding the interrupted statement; a normal interpreter
    # exit can abort on them (std::terminate), so leave at once: the transaction is already rolled back
    os._exit(130)


def _cancellable(wh: Any, work: Callable[[], T]) -> T:
    """Run ``work`` in a worker thread so Ctrl-C reaches us while DuckDB runs, then interrupt it."""
    import threading

    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = work()
        except BaseException as err:  # handed back to the main thread
            box["error"] = err

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)
    except KeyboardInterrupt:
        wh.interrupt()
        worker.join(30)
        raise
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]

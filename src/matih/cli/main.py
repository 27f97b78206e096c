"""``matih``: a thin Typer layer over the library. Every MatihError becomes a message and exit code 1."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer

from matih.cli.common import WorkspaceOpt, handled, quiet_task_logs
from matih.cli.common import quiet_logs as _quiet_logs
from matih.cli.common import workspace as _workspace
from matih.cli.pipeline import pipeline_app, temporal_app
from matih.cli.pipeline import worker as pipeline_worker
from matih.cli.quality import profile as quality_profile
from matih.cli.quality import quality_app
from matih.cli.serving import deploy as serving_deploy
from matih.cli.serving import serve as serving_serve
from matih.exceptions import WorkspaceError
from matih.workspace import Workspace

SPEC_FOLDERS = ("sources", "queries", "quality", "pipelines", "deployments", "monitors", "routing")

app = typer.Typer(
    help="MATIH: demand forecasting from raw sources to trusted forecasts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
sandbox_app = typer.Typer(help="The NovaMart simulated retailer.", no_args_is_help=True)
query_app = typer.Typer(help="Run SQL against the warehouse.", no_args_is_help=True)
sources_app = typer.Typer(help="Connectors: list, sync, status, schedules.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(sources_app, name="sources")
catalog_app = typer.Typer(help="Tables, columns, keys, owners, tags, freshness.", no_args_is_help=True)
lineage_app = typer.Typer(help="Where tables come from and what they feed.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
app.add_typer(lineage_app, name="lineage")
app.add_typer(query_app, name="query")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(temporal_app, name="temporal")
app.add_typer(quality_app, name="quality")
app.command("deploy")(handled(serving_deploy))
app.command("serve")(handled(serving_serve))
app.command("profile")(handled(quality_profile))
app.command("worker")(handled(pipeline_worker))

T = TypeVar("T")


@app.command()
@handled
def init(folder: Annotated[Path, typer.Argument(help="Folder to make a workspace.")]) -> None:
    """Create a workspace: matih.yaml and the spec folders, ready for your documents."""
    from matih.cli.render import console

    ws = Workspace.at(folder)
    for kind in SPEC_FOLDERS:
        (ws.root / kind).mkdir(exist_ok=True)
    console.print(f"workspace ready at {ws.root}; add documents to {', '.join(SPEC_FOLDERS)}")


@app.command()
@handled
def validate(workspace: Annotated[Path, typer.Argument(help="Workspace folder.")] = Path(".")) -> None:
    """Check every spec document and query in a workspace; exit 1 naming each problem."""
    from matih.cli.render import console, err_console
    from matih.specs import validate_workspace
    from matih.warehouse.lint import lint_queries

    if not (Path(workspace) / "matih.yaml").is_file():
        raise WorkspaceError(
            f"{workspace} is not a workspace (no matih.yaml); pass the workspace folder, e.g. "
            "`matih validate examples/novamart`, or create one with `matih init DIR`"
        )
    report = validate_workspace(workspace)
    for path, kind, _ in report.documents:
        console.print(f"[green]ok[/]    {kind:<12} {path}")
    for warning in [*report.warnings, *lint_queries(Path(workspace))]:
        err_console.print(f"[yellow]warn[/]  {warning}", highlight=False)
    for error in report.errors:
        err_console.print(f"[red]error[/] {error}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)
    console.print(f"{len(report.documents)} documents valid")


@sandbox_app.command("generate")
@handled
def sandbox_generate(
    workspace: WorkspaceOpt = None,
    products: Annotated[int, typer.Option(help="Number of products (100 to 45,291).")] = 2_000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed builds the same world.")] = 7,
    end_date: Annotated[
        str | None, typer.Option(help="Last day of sales, YYYY-MM-DD (default: yesterday).")
    ] = None,
    days: Annotated[int, typer.Option(help="Days of history.")] = 730,
    load: Annotated[bool, typer.Option(help="Load the world into the warehouse.")] = True,
) -> None:
    """Generate the NovaMart world and load it into the warehouse."""
    from matih.cli.render import console, rows_table
    from matih.sandbox import WorldConfig, generate_world, load_world, save_world
    from matih.warehouse import warehouse_of

    ws = _workspace(workspace)
    ws.ensure_state()
    cfg = WorldConfig(
        products=products,
        seed=seed,
        days=days,
        end_date=dt.date.fromisoformat(end_date) if end_date else None,
    )
    started = time.perf_counter()
    with console.status(f"Generating {products:,} products x {days} days"):
        world = generate_world(cfg)
        save_world(world, ws.sandbox_dir)
    console.print(f"generated in {time.perf_counter() - started:.1f}s ({cfg.first_day} .. {cfg.last_day})")
    rows = [(name, f"{n:,}") for name, n in world.row_counts().items()]
    if load:
        with console.status("Loading into the warehouse"):
            loaded = load_world(ws.sandbox_dir, warehouse_of(ws))
        rows = [(target, f"{n:,}") for target, n in loaded.items()]
    console.print(rows_table(("Table", "Rows"), rows, right=(1,)))


@sandbox_app.command("serve")
@handled
def sandbox_serve(
    workspace: WorkspaceOpt = None,
    as_of: Annotated[
        str | None, typer.Option(help="Last day the servers show, YYYY-MM-DD (default: the world's end).")
    ] = None,
    rate_limit: Annotated[
        float, typer.Option(help="Shopify API requests per second before 429 (0: unlimited).")
    ] = 0.0,
    bucket: Annotated[int, typer.Option(help="Shopify leaky-bucket size (burst).")] = 40,
) -> None:
    """Serve the world as Shopify, GA4 and PostgreSQL on 127.0.0.1 until Ctrl-C."""
    from matih.cli.render import console
    from matih.sandbox import server

    ws = _workspace(workspace)
    handle = server.start(
        ws, as_of=dt.date.fromisoformat(as_of) if as_of else None, rate_limit=rate_limit, bucket=bucket
    )
    ep = handle.endpoints
    console.print(f"NovaMart sandbox serving the world as of [bold]{ep.as_of}[/] (pid {ep.pid})")
    console.print(f"  Shopify Admin API  {ep.shopify_url}/admin/api/2025-10/")
    console.print(f"  GA4 Data API       {ep.ga_url}/v1beta/   (tokens: {ep.token_uri})")
    console.print(
        f"  PostgreSQL         host=127.0.0.1 port={ep.postgres_port} dbname={ep.postgres_database}"
        f" user={ep.postgres_user}"
    )
    console.print("Connectors reach it when matih.yaml has `sources: {endpoints: sandbox}`. Ctrl-C stops it.")
    try:
        handle.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()


@sandbox_app.command("advance")
@handled
def sandbox_advance(
    workspace: WorkspaceOpt = None,
    days: Annotated[int, typer.Option(min=1, help="Days to move the clock on.")] = 1,
) -> None:
    """Move the running sandbox on by whole days: new and edited orders, stock, shipments, traffic."""
    from matih.cli.render import console, rows_table
    from matih.sandbox import server

    done = server.advance(_workspace(workspace), days)
    rows = [(day, *(f"{v:,}" for v in change.values())) for day, change in done["changes"].items()]
    console.print(rows_table(("Day", "New shipments", "Received", "Stock rows moved"), rows, right=(1, 2, 3)))
    console.print(f"the sandbox now shows the world up to {done['as_of']}")


@sandbox_app.command("stop")
@handled
def sandbox_stop(workspace: WorkspaceOpt = None) -> None:
    """Stop this workspace's sandbox if it runs."""
    from matih.cli.render import console
    from matih.sandbox import server

    console.print("stopped" if server.stop(_workspace(workspace)) else "the sandbox was not running")


@sources_app.command("list")
@handled
def sources_list(workspace: WorkspaceOpt = None) -> None:
    """Every source of the workspace: connector, streams and where they land."""
    from matih.cli.render import console, rows_table
    from matih.sources import destination_of, load_source, source_names

    ws = _workspace(workspace)
    rows = []
    for name in source_names(ws):
        spec = load_source(ws, name)
        catalog, schema = destination_of(spec, name)
        streams = ", ".join(f"{s.name} ({s.sync_mode})" for s in spec.streams)
        rows.append((name, spec.connector, streams, f"{catalog}.{schema}", spec.schedule.expression))
    console.print(rows_table(("Source", "Connector", "Streams", "Destination", "Schedule"), rows))


@sources_app.command("sync")
@handled
def sources_sync(
    names: Annotated[list[str] | None, typer.Argument(help="Sources to sync (default: all).")] = None,
    workspace: WorkspaceOpt = None,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Re-read everything and replace the tables.")
    ] = False,
) -> None:
    """Sync sources into the warehouse (incremental streams read only what changed)."""
    from matih.cli.render import console, rows_table
    from matih.sources import source_names, sync

    ws = _workspace(workspace)
    for name in names or source_names(ws):
        with console.status(f"Syncing {name}") as status:

            def progress(text: str, name: str = name) -> None:
                status.update(f"{name}: {text}")

            run = sync(ws, name, full_refresh=full_refresh, progress=progress)
        rows = [
            (s.name, s.mode, table, f"{n:,}", s.cursor or "")
            for s in run.streams
            for table, n in s.tables.items()
        ]
        console.print(
            rows_table(
                ("Stream", "Mode", "Table", "Rows loaded", "Cursor"),
                rows,
                title=f"{name} -> {run.destination} in {run.seconds:.1f}s"
                + (f" ({run.retries} HTTP retries)" if run.retries else ""),
                right=(3,),
            )
        )


@sources_app.command("status")
@handled
def sources_status(workspace: WorkspaceOpt = None) -> None:
    """Per stream: mode, cursor value, rows loaded by the last sync, last success, last error."""
    from matih.cli.render import console, rows_table
    from matih.sources import stream_status

    rows = [
        (
            s.source,
            s.stream,
            s.mode,
            s.cursor or "",
            "" if s.rows_last_sync is None else f"{s.rows_last_sync:,}",
            s.last_success or "never",
            (s.last_status or "") + (f": {s.last_error}" if s.last_error else ""),
        )
        for s in stream_status(_workspace(workspace))
    ]
    headers = ("Source", "Stream", "Mode", "Cursor", "Rows last sync", "Last success", "Last run")
    console.print(rows_table(headers, rows, right=(4,)))


@sources_app.command("schedule")
@handled
def sources_schedule(workspace: WorkspaceOpt = None) -> None:
    """Each source's cron schedule and its next runs. `matih pipeline schedule NAME --source` registers
    one with Temporal so it runs on time."""
    from matih.cli.render import console, rows_table
    from matih.sources import schedules

    rows = [
        (s.source, s.expression, ", ".join(t.strftime("%Y-%m-%d %H:%M") for t in s.next_runs))
        for s in schedules(_workspace(workspace))
    ]
    console.print(rows_table(("Source", "Cron", "Next runs (UTC)"), rows))
    console.print(
        "[dim]to run one on its schedule: `matih pipeline schedule NAME --source` and `matih worker`[/]"
    )


@catalog_app.command("refresh")
@handled
def catalog_refresh(workspace: WorkspaceOpt = None) -> None:
    """Rebuild the catalog from the warehouse, the sync journal and the annotations."""
    from matih.catalog.tables import refresh
    from matih.cli.render import console

    started = time.perf_counter()
    catalog = refresh(_workspace(workspace))
    console.print(f"{len(catalog.tables)} tables catalogued in {time.perf_counter() - started:.2f}s")


@catalog_app.command("list")
@handled
def catalog_list(workspace: WorkspaceOpt = None) -> None:
    """Every table: rows, key, owner, last update."""
    from matih.catalog.tables import load_catalog
    from matih.cli.render import console, rows_table

    catalog = load_catalog(_workspace(workspace))
    rows = [
        (t.name, f"{t.rows:,}", ", ".join(t.primary_key), t.owner or "", t.updated_at or "", t.origin or "")
        for t in catalog.tables.values()
    ]
    console.print(rows_table(("Table", "Rows", "Key", "Owner", "Updated", "Origin"), rows, right=(1,)))


@catalog_app.command("search")
@handled
def catalog_search(
    column: Annotated[str, typer.Argument(help="Column name, e.g. product_id.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Tables holding COLUMN, with its key role there (the seed's Stage 2 table)."""
    from matih.catalog.tables import load_catalog
    from matih.cli.render import console, rows_table

    found = load_catalog(_workspace(workspace)).search(column)
    rows = []
    for t in found:
        col = t.column(column)
        assert col is not None
        rows.append((t.table, f"{t.catalog}.{t.schema}", col.role or "yes", f"{t.rows:,}"))
    console.print(rows_table(("Table", "Schema", f"Has {column}", "Row Count"), rows, right=(3,)))


@catalog_app.command("show")
@handled
def catalog_show(
    table: Annotated[str, typer.Argument(help="catalog.schema.table (or a unique suffix).")],
    workspace: WorkspaceOpt = None,
    sample: Annotated[int, typer.Option(help="Sample rows to show.")] = 5,
) -> None:
    """A table's card: columns and keys, owner, tags, freshness, lineage in and out, sample rows."""
    from matih.catalog.lineage import build_lineage
    from matih.catalog.tables import load_catalog
    from matih.cli.render import arrow_table, console, rows_table
    from matih.warehouse import warehouse_of

    ws = _workspace(workspace)
    info = load_catalog(ws).get(table)
    console.print(f"[bold]{info.name}[/]  {info.rows:,} rows")
    fresh = info.freshness_hours()
    for label, value in (
        ("owner", info.owner),
        ("tags", ", ".join(info.tags)),
        ("description", info.description),
        ("origin", info.origin),
        ("created", info.created_at),
        (
            "updated",
            info.updated_at + (f" ({fresh:.1f} h ago)" if fresh is not None else "")
            if info.updated_at
            else None,
        ),
    ):
        if value:
            console.print(f"  {label:<12}{value}")
    cols = [(c.name, c.type, c.role or "", c.references or "") for c in info.columns]
    console.print(rows_table(("Column", "Type", "Key", "References"), cols))
    graph = build_lineage(ws)
    if info.name in graph.nodes:
        ups = sorted({e.source for e in graph.edges if e.target == info.name})
        downs = sorted({e.target for e in graph.edges if e.source == info.name})
        console.print(f"  lineage in:  {', '.join(ups) or '-'}")
        console.print(f"  lineage out: {', '.join(downs) or '-'}")
    if sample:
        console.print(arrow_table(warehouse_of(ws).query(f"SELECT * FROM {info.name} LIMIT {int(sample)}")))


@catalog_app.command("tag")
@handled
def catalog_tag(
    table: Annotated[str, typer.Argument(help="catalog.schema.table (or a unique suffix).")],
    workspace: WorkspaceOpt = None,
    owner: Annotated[str | None, typer.Option(help="Owner, e.g. sofia@novamart.com.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag to add (repeatable).")] = None,
    untag: Annotated[list[str] | None, typer.Option("--untag", help="Tag to remove (repeatable).")] = None,
    description: Annotated[str | None, typer.Option(help="One-line description.")] = None,
) -> None:
    """Set a table's owner, tags or description (kept across syncs and refreshes)."""
    from matih.catalog.tables import annotate
    from matih.cli.render import console

    entry = annotate(
        _workspace(workspace), table, owner=owner, add_tags=tag, remove_tags=untag, description=description
    )
    console.print(f"{table}: owner={entry.get('owner', '-')} tags={', '.join(entry.get('tags', [])) or '-'}")


@lineage_app.command("show")
@handled
def lineage_show(
    table: Annotated[str, typer.Argument(help="Table (or source:NAME, model:NAME).")],
    workspace: WorkspaceOpt = None,
    columns: Annotated[bool, typer.Option("--columns", help="Show where each column comes from.")] = False,
    upstream: Annotated[bool, typer.Option("--upstream", help="Only what feeds TABLE.")] = False,
    downstream: Annotated[bool, typer.Option("--downstream", help="Only what TABLE feeds.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="text, json or mermaid.")] = "text",
) -> None:
    """TABLE's lineage: tables, sources, queries and models upstream and downstream."""
    from matih.catalog.lineage import build_lineage
    from matih.cli.render import console, rows_table

    graph = build_lineage(_workspace(workspace))
    name = graph.resolve(table)
    both = not upstream and not downstream
    edges = graph.subgraph(name, upstream=upstream or both, downstream=downstream or both)
    if fmt == "json":
        print(graph.to_json(edges, columns_of=name if columns else None))
        return
    if fmt == "mermaid":
        print(graph.to_mermaid(edges))
        return
    if fmt != "text":
        raise WorkspaceError(f"--format {fmt!r}: use text, json or mermaid")
    console.print(graph.to_text(edges) or f"{name}: no lineage recorded")
    if columns:
        rows = [
            (col, ", ".join(sorted(f"{t}.{c}" for t, c in sources)))
            for col, sources in graph.columns.get(name, {}).items()
        ]
        console.print(rows_table(("Column", "Comes from"), rows))


@lineage_app.command("check")
@handled
def lineage_check(workspace: WorkspaceOpt = None) -> None:
    """Prove the workspace's lineage has no cycle (or name each one) and no self-feeding pipeline."""
    from matih.catalog.lineage import build_lineage
    from matih.cli.render import console

    graph = build_lineage(_workspace(workspace))
    cycles, feeding = graph.cycles(), graph.self_feeding_pipelines()
    for cycle in cycles:
        console.print(f"[red]cycle:[/] {' -> '.join(cycle)}")
    for problem in feeding:
        console.print(f"[red]self-feeding:[/] {problem}")
    if cycles or feeding:
        raise typer.Exit(1)
    console.print(
        f"No circular dependencies: {len(graph.nodes)} nodes, {len(graph.edges)} edges checked; no pipeline's"
        " output feeds its own input."
    )


@app.command("api")
@handled
def api_cmd(
    workspace: WorkspaceOpt = None,
    host: Annotated[
        str, typer.Option(help="Interface to bind; keep 127.0.0.1 unless keys are set.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
) -> None:
    """Serve the HTTP API (catalog, lineage, SQL) with its OpenAPI spec at /docs and /openapi.json."""
    import uvicorn

    from matih.api.app import create_app
    from matih.cli.render import console

    app_ = create_app(_workspace(workspace))
    console.print(f"MATIH API on http://{host}:{port} (OpenAPI: http://{host}:{port}/docs)")
    uvicorn.run(app_, host=host, port=port, log_level="warning")


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
    from matih.cli.render import arrow_table, console
    from matih.exceptions import WarehouseError
    from matih.query import explain as explain_sql
    from matih.query import run_sql, to_duckdb
    from matih.warehouse import QueryCancelled, warehouse_of

    if (file is None) == (execute is None):
        raise WarehouseError('give either a .sql FILE or -e "SQL"')
    if fmt not in ("table", "csv", "json", "parquet"):
        raise WarehouseError(f"--format must be table, csv, json or parquet, got {fmt!r}")
    params: dict[str, object] = {}
    for item in param or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise WarehouseError(f"--param {item!r}: write NAME=VALUE")
        params[key.strip()] = value
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
        console.print(f"[yellow]cancelled[/] after {time.perf_counter() - started:.1f}s; nothing was changed")
        sys.stdout.flush()
        # DuckDB's worker threads may still be unwinding the interrupted statement; a normal interpreter
        # exit can abort on them (std::terminate), so leave at once: the transaction is already rolled back
        os._exit(130)
    for result in results:
        if result.target:
            console.print(f"[green]{result.target}[/]: {result.rows:,} rows in {result.elapsed:.2f}s")
        elif result.table is not None:
            console.print(arrow_table(result.table, max_rows=limit))
            note = f" (truncated to the first {limit}; raise --limit to see more)" if result.truncated else ""
            console.print(f"{result.table.num_rows:,} rows{note} in {result.elapsed:.3f}s")
        else:
            console.print(f"{result.kind} ok in {result.elapsed:.3f}s")


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


def _configs(
    ws: Workspace, pipeline: str | None, n_estimators: int | None, family: str | None = None
) -> tuple[Any, Any, Any]:
    from matih.forecast.routing import family_config
    from matih.forecast.service import configs_from_pipeline

    train, gate, output = configs_from_pipeline(ws, pipeline, n_estimators=n_estimators)
    return family_config(train, family), gate, output


PipelineOpt = Annotated[
    str | None, typer.Option(help="Pipeline whose task configs to use (default: the first).")
]
FamilyOpt = Annotated[
    str | None,
    typer.Option(
        help="Register as this model family (routing/*.json routes categories to families); default: the "
        "pipeline's own."
    ),
]


@app.command("train")
@handled
def train_cmd(
    workspace: WorkspaceOpt = None,
    pipeline: PipelineOpt = None,
    n_estimators: Annotated[int | None, typer.Option(help="Override the tree count.")] = None,
    family: FamilyOpt = None,
) -> None:
    """Train the per-category models and the fallback; log and register them in MLflow."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from matih.cli.render import console
    from matih.forecast.service import train

    _quiet_logs()
    ws = _workspace(workspace)
    cfg, _, _ = _configs(ws, pipeline, n_estimators, family)
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("loading dataset", total=None)

        def progress(label: str, done: int, total: int) -> None:
            bar.update(task, description=label, completed=done, total=total)

        result = train(ws, cfg, progress=progress)
    if result.gap_warning:
        console.print(f"[yellow]warn[/] {result.gap_warning}", highlight=False)
    console.print(result.summary)
    console.print(
        f"registered {result.forecaster.name} {result.forecaster.label} "
        f"(+ {result.forecaster.fallback_name} v{result.forecaster.fallback_version}); "
        "next: `matih evaluate`"
    )


@app.command("evaluate")
@handled
def evaluate_cmd(
    workspace: WorkspaceOpt = None,
    pipeline: PipelineOpt = None,
    version: Annotated[int | None, typer.Option(help="Model version (default: latest).")] = None,
    family: FamilyOpt = None,
) -> None:
    """Validate a model version on the holdout; promote it to champion when it passes the thresholds."""
    from matih.cli.render import console, validation_table
    from matih.forecast.service import enforce_gate, evaluate

    _quiet_logs()
    ws = _workspace(workspace)
    cfg, gate, _ = _configs(ws, pipeline, None, family)
    report = evaluate(ws, cfg, gate, version=version)
    console.print(validation_table(report, gate.mape_max, gate.bias_range))
    floor = f"{report.noise_floor_mape:.1%}" if report.noise_floor_mape is not None else "n/a"
    console.print(
        f"References on the same holdout: seasonal naive {report.seasonal_naive_mape:.1%}, "
        f"noise floor {floor}"
    )
    console.print(
        f"{report.label}: "
        + (
            "[green]promoted to champion[/]"
            if report.promoted
            else "[red]not promoted[/] (" + "; ".join(report.reasons) + ")"
        )
    )
    enforce_gate(report, gate)


@app.command("forecast")
@handled
def forecast_cmd(
    workspace: WorkspaceOpt = None,
    pipeline: PipelineOpt = None,
    version: Annotated[str, typer.Option(help="Version number or alias.")] = "champion",
    output_table: Annotated[str | None, typer.Option(help="Target table.")] = None,
) -> None:
    """Write 14-day forecasts for every active product with the champion model."""
    from matih.cli.render import arrow_table, console
    from matih.demo import top_forecasts
    from matih.forecast.service import forecast

    _quiet_logs()
    ws = _workspace(workspace)
    cfg, _, output = _configs(ws, pipeline, None)
    result = forecast(ws, cfg, output_table=output_table or output, version=version)
    console.print(
        f"{result.table}: {result.rows:,} rows ({result.products:,} products x {cfg.forecast_horizon} "
        f"days from {result.origin}) with {result.model_version} in {result.seconds:.1f}s"
    )
    console.print(arrow_table(top_forecasts(ws, result.table), title="Top forecasts"))


@app.command()
@handled
def demo(
    workspace: WorkspaceOpt = None,
    products: Annotated[int, typer.Option(help="Products in the simulated store.")] = 2_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    end_date: Annotated[str | None, typer.Option(help="Last day of sales (default: yesterday).")] = None,
    n_estimators: Annotated[int | None, typer.Option(help="Override the pipeline's tree count.")] = None,
) -> None:
    """The main job end to end: world, sandbox, then the seed's pipeline as a Temporal workflow (sync,
    feature SQL, training, validation gate, blue-green deployment of the forecasts)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from matih.cli.pipeline import run_table
    from matih.cli.quality import profile_renderables, suite_table
    from matih.cli.render import arrow_table, console, rows_table, validation_table
    from matih.demo import run_demo

    _quiet_logs()
    quiet_task_logs()
    ws = _workspace(workspace)
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    ) as bar:
        tasks: dict[str, Any] = {}

        def on_stage(key: str, label: str, seconds: float | None) -> None:
            if seconds is None:
                tasks[key] = bar.add_task(label, total=1)
            else:
                bar.update(tasks[key], completed=1, description=f"{label} [dim]({seconds:.1f}s)[/]")

        result = run_demo(
            ws,
            products=products,
            seed=seed,
            n_estimators=n_estimators,
            on_stage=on_stage,
            end_date=dt.date.fromisoformat(end_date) if end_date else None,
        )
    assert result.run is not None
    console.print(run_table(result.run))
    console.print(f"demand_features: {result.feature_rows:,} rows")
    if result.quality is not None:
        console.print(suite_table(result.quality))
    if result.profile is not None:
        console.print(*profile_renderables(result.profile))
    elif result.history_buckets is not None:
        console.print(arrow_table(result.history_buckets, title="Product history buckets"))
    if result.gap_warning:
        console.print(f"[yellow]note:[/] {result.gap_warning}")
    console.print(result.training_summary)
    gate = result.gate
    ev = result.evaluation
    assert gate is not None and ev is not None
    console.print(validation_table(ev, gate.mape_max, gate.bias_range))
    refs = [
        (
            "MATIH per-category LightGBM",
            f"{ev.overall.mape:.1%}",
            f"{ev.overall.bias:+.3f}",
            f"{ev.overall.coverage:.0%}",
        )
    ]
    refs.append(("Seasonal naive (same weekday)", f"{ev.seasonal_naive_mape:.1%}", "", ""))
    if ev.noise_floor_mape is not None:
        refs.append(
            (
                "Forecastable floor (truth without future promotions and stock-outs)",
                f"{ev.forecastable_floor_mape:.1%}",
                "",
                "",
            )
        )
        refs.append(("Noise floor (true expected demand)", f"{ev.noise_floor_mape:.1%}", "", ""))
    console.print(
        rows_table(
            ("Forecaster", "Holdout MAPE", "Bias", "80% interval coverage"),
            refs,
            title="Against references on the same holdout",
            right=(1, 2, 3),
        )
    )
    if result.top_forecasts is not None:
        console.print(arrow_table(result.top_forecasts, title=f"Sample output from {result.forecast_table}"))
    else:
        console.print(
            "[red]no forecasts written: the model failed validation and there is no earlier champion[/]"
        )
    verdict = (
        f"[green]{ev.label} passed the gate and is the champion[/]"
        if ev.promoted
        else f"[red]{ev.label} failed the gate[/] ({'; '.join(ev.reasons)}); deployment was skipped and the "
        "previous champion, if any, keeps serving"
    )
    console.print(verdict)
    for note in result.run.notifications:
        console.print(f"[dim]notification: {note}[/]")
    # the demo reports a failed gate rather than failing: `matih evaluate` is the command that gates
    console.print(f"report: {result.report_path}")


def main() -> None:  # pragma: no cover - console entry
    """``matih``. After a command that used Temporal the process leaves with ``os._exit``: the Temporal
    SDK can crash during interpreter teardown (sdk-python issue 300) and turn a success into a failure."""
    try:
        app(prog_name="matih")
        code: int = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    if "temporalio" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()

"""Running a source: its connector's dlt resources, loaded into the warehouse, journaled.

One dlt pipeline per source (state in ``.matih/sources/dlt/<source>``) loads into the DuckDB file of
the destination catalog, so ``postgresql.shopify.orders`` is what the seed's SQL reads. dlt extracts
everything before it loads anything, and commits the cursors together with the load: a sync that
fails part-way leaves the tables and the cursors as the last good sync left them.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from matih.exceptions import MatihError, SourceError, SpecError, is_transient
from matih.locks import file_lock
from matih.sources.connector import Connector, SyncContext, connector_for
from matih.sources.endpoints import endpoints_for
from matih.sources.http import RetryPolicy
from matih.sources.runs import StreamRun, SyncRun, record
from matih.specs.common import resolve_secrets
from matih.state import utc_stamp
from matih.warehouse import folder_lock
from matih.workspace import Workspace

if TYPE_CHECKING:
    from matih.specs.source import StreamSpec

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


def source_names(ws: Workspace) -> list[str]:
    return [p.stem for p in ws.spec_files("sources")]


def load_source(ws: Workspace, name: str) -> Any:
    """The parsed spec of source ``name`` (``sources/<name>.json``)."""
    from matih.specs import load_spec

    path = ws.root / "sources" / f"{name}.json"
    if not path.is_file():
        known = ", ".join(source_names(ws)) or "none"
        raise SourceError(f"no sources/{name}.json in {ws.root} (sources: {known})", source=name)
    return load_spec(path, "sources")


def destination_of(spec: Any, name: str) -> tuple[str, str]:
    """(catalog, schema) that ``spec``'s tables land in."""
    if spec.destination is not None:
        return spec.destination.catalog, spec.destination.schema_
    catalog, schema = connector_for(spec.connector).destination(spec, name)
    return catalog, schema


def _endpoint_config(
    ws: Workspace, mode: str | None, connector: Connector
) -> tuple[dict[str, str] | None, dict[str, Any] | None]:
    """(environment for ``${NAME}`` references, config overrides) from the endpoint provider ``mode``
    names (``matih.yaml``'s ``sources.endpoints`` by default). A connector the provider does not serve
    (files) reads its source as written either way."""
    endpoints = endpoints_for(ws, connector.name, mode)
    if endpoints is None:
        return None, None
    return {**os.environ, **endpoints.env}, endpoints.overrides(connector.name)


def build_context(
    ws: Workspace,
    name: str,
    spec: Any,
    connector: Connector,
    *,
    full_refresh: bool,
    endpoints: str | None = None,
) -> SyncContext:
    """Resolve secrets and endpoints; check the streams against what the connector offers."""
    file = f"sources/{name}.json"
    for i, stream in enumerate(spec.streams):
        try:
            info = connector.stream(stream.name)
        except SourceError as err:
            raise SpecError(str(err.message), file=file, path=f"$.streams[{i}].name") from None
        if stream.cursor_field and info.cursor_field and stream.cursor_field != info.cursor_field:
            raise SpecError(
                f"stream {stream.name!r} of {connector.name} is read incrementally on {info.cursor_field!r}; "
                f"set cursor_field to {info.cursor_field!r} or leave it out",
                file=file,
                path=f"$.streams[{i}].cursor_field",
            )
        if stream.primary_key and not info.custom_keys:
            raise SpecError(
                f"stream {stream.name!r} of {connector.name} has fixed keys; remove primary_key"
                + (
                    " (use transformation.deduplication.key for GA reports)"
                    if connector.transformation
                    else ""
                ),
                file=file,
                path=f"$.streams[{i}].primary_key",
            )
        if stream.sync_mode not in info.sync_modes:
            raise SpecError(
                f"stream {stream.name!r} supports sync_mode {' or '.join(info.sync_modes)}, "
                f"not {stream.sync_mode!r}",
                file=file,
                path=f"$.streams[{i}].sync_mode",
            )
    if spec.transformation is not None and not connector.transformation:
        raise SpecError(
            f"{connector.name} does not apply a transformation (renames, deduplication); remove it, or rename"
            " columns in a query over the loaded table",
            file=file,
            path="$.transformation",
        )
    env, overrides = _endpoint_config(ws, endpoints, connector)
    config = spec.config.model_dump(mode="json", exclude_none=True)
    config.update(overrides or {})
    config = resolve_secrets(config, file=file, path="$.config", env=env)
    settings = ws.settings().sources
    return SyncContext(
        source=name,
        spec=spec,
        config=config,
        streams=list(spec.streams),
        policy=RetryPolicy(max_attempts=settings.max_attempts, backoff_seconds=settings.backoff_seconds),
        full_refresh=full_refresh,
        workspace=ws,
        transformation=spec.transformation,
    )


def pipelines_dir(ws: Workspace) -> Path:
    return ws.state / "sources" / "dlt"


def _pipeline(ws: Workspace, name: str, catalog: str, schema: str) -> Any:
    import dlt

    from matih.warehouse import warehouse_of

    warehouse = warehouse_of(ws)
    warehouse.catalog_path(catalog).parent.mkdir(parents=True, exist_ok=True)
    return dlt.pipeline(
        pipeline_name=name.replace("-", "_"),
        destination=dlt.destinations.duckdb(str(warehouse.catalog_path(catalog))),
        dataset_name=schema,
        pipelines_dir=str(pipelines_dir(ws)),
    )


def _as_source(name: str, resources: list[Any]) -> Any:
    import dlt

    @dlt.source(name=name.replace("-", "_"), max_table_nesting=1)
    def source() -> list[Any]:
        return resources

    return source()


def _root_cause(err: BaseException) -> BaseException:
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, MatihError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return err


def _explained(connector: Connector, err: BaseException, name: str) -> BaseException:
    """The connector's clear error for ``err`` (see :attr:`Connector.explain`), else ``err``."""
    if connector.explain is None or isinstance(err, MatihError):
        return err
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, MatihError):
            return err  # a MATIH error inside is already clear
        if (clear := connector.explain(current, name)) is not None:
            return clear
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return err


def _error_text(err: BaseException) -> str:
    root = _root_cause(err)
    if isinstance(root, MatihError):
        return str(root)
    return f"{type(root).__name__}: {root}"


def _known_tables(pipeline: Any) -> set[str]:
    """Tables this source's pipeline created in earlier syncs (empty before its first)."""
    if not pipeline.default_schema_name:
        return set()
    return set(pipeline.default_schema.data_table_names())


def _drop_foreign_tables(pipeline: Any, known: set[str], catalog: str, schema: str, ws: Workspace) -> None:
    """Drop tables this sync is about to create that something else made (``sandbox generate --load``,
    a hand-made table): dlt would try to alter them into shape, and DuckDB refuses to add constrained
    columns. Runs after extraction and normalisation succeeded, so a failing source drops nothing."""
    import duckdb

    from matih.warehouse import warehouse_of

    incoming = set(pipeline.default_schema.data_table_names()) - known
    path = warehouse_of(ws).catalog_path(catalog)
    if not incoming or not path.exists():
        return
    with duckdb.connect(str(path)) as con:
        present = {
            row[0]
            for row in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]
            ).fetchall()
        }
        for table in sorted(incoming & present):
            log.warning("replacing %s.%s.%s, which this source did not create", catalog, schema, table)
            con.execute(f'DROP TABLE "{schema}"."{table}"')


def cursors(pipeline: Any, source: str) -> dict[str, str]:
    """Cursor values by resource name, from the pipeline's committed state."""
    state = pipeline.state.get("sources", {}).get(source.replace("-", "_"), {}).get("resources", {})
    found: dict[str, str] = {}
    for resource, value in state.items():
        for cursor in (value.get("incremental") or {}).values():
            if cursor.get("last_value") is not None:
                found[resource] = str(cursor["last_value"])
        if value.get("cursor") is not None:
            found[resource] = str(value["cursor"])
    return found


def sync(
    ws: Workspace,
    name: str,
    *,
    full_refresh: bool = False,
    endpoints: str | None = None,
    progress: Progress | None = None,
) -> SyncRun:
    """Sync source ``name`` into the warehouse and journal the run; raise on failure (after journaling).

    ``endpoints`` overrides ``matih.yaml``'s ``sources.endpoints`` (the demo always uses the sandbox).
    """
    # one sync of a source at a time, across processes: two would share dlt's state and cursors
    with file_lock(pipelines_dir(ws) / f"{name}.lock"):
        return _sync(ws, name, full_refresh=full_refresh, endpoints=endpoints, progress=progress)


def _sync(
    ws: Workspace,
    name: str,
    *,
    full_refresh: bool,
    endpoints: str | None,
    progress: Progress | None,
) -> SyncRun:
    """``sync`` without the per-source lock: build the context and pipeline, extract and load, then
    journal the run as failed (and raise) or as succeeded."""
    from dlt.pipeline.exceptions import PipelineStepFailed

    spec = load_source(ws, name)
    _refuse_live(spec, name)
    connector = connector_for(spec.connector)
    catalog, schema = destination_of(spec, name)
    run = _started_run(spec, name, f"{catalog}.{schema}", full_refresh=full_refresh)
    start = time.perf_counter()
    ctx: SyncContext | None = None
    pipeline: Any = None
    try:
        ctx = build_context(ws, name, spec, connector, full_refresh=full_refresh, endpoints=endpoints)
        pipeline = _pipeline(ws, name, catalog, schema)
        # a failed run may have left extracted packages behind: they must never be loaded later
        pipeline.abort_packages()
        _extract_and_load(pipeline, ctx, connector, catalog, schema, progress)
    except (PipelineStepFailed, MatihError, OSError) as err:
        if pipeline is not None:
            _drop_partial_extract(pipeline)
        _record_failure(
            ws, run, _explained(connector, err, name), retries=ctx.retries if ctx else 0, start=start
        )
    _record_success(ws, run, pipeline, spec, connector, retries=ctx.retries, start=start)
    return run


def _drop_partial_extract(pipeline: Any) -> None:
    """Delete what a failed run extracted or normalised (it is never loaded: the next run starts over),
    so failed syncs do not pile files up under the pipeline's working folder."""
    try:
        pipeline.abort_packages()
        # an extract that failed midway stays in its own folder beside "extracted", which dlt's own
        # clean-up does not reach (dlt 1.31)
        normalize = Path(pipeline.working_dir) / "normalize"
        for folder in normalize.iterdir() if normalize.is_dir() else ():
            if folder.is_dir() and folder.name != "extracted":
                shutil.rmtree(folder)
    except Exception as err:  # cleaning up must not hide the sync's own error
        log.warning("could not remove the failed sync's extracted files: %s", err)


def _refuse_live(spec: Any, name: str) -> None:
    """Refuse a source declared live: it is queried in place (``matih.sources.live``), never synced."""
    if getattr(spec.config, "mode", "ingest") == "live":
        raise SourceError(
            "declared live (config.mode: live): it is queried in place, so there is nothing to sync; "
            'set "mode": "ingest" to copy it into the warehouse',
            source=name,
        )


def _started_run(spec: Any, name: str, destination: str, *, full_refresh: bool) -> SyncRun:
    """The journal record of a sync starting now (journaled once it ends)."""
    return SyncRun(
        run_id=uuid.uuid4().hex[:12],
        source=name,
        connector=spec.connector,
        started_at=utc_stamp(),
        full_refresh=full_refresh,
        destination=destination,
    )


def _extract_and_load(
    pipeline: Any,
    ctx: SyncContext,
    connector: Connector,
    catalog: str,
    schema: str,
    progress: Progress | None,
) -> None:
    """Extract and normalise the selected streams, then replace foreign tables and load under the
    warehouse lock, held only for that so that parallel tasks' other work overlaps (see ``folder_lock``)."""
    from matih.warehouse import warehouse_of

    resources = connector.resources(ctx)
    known = _known_tables(pipeline)
    if progress:
        progress(f"extracting {', '.join(s.name for s in ctx.spec.streams)}")
    pipeline.extract(
        _as_source(ctx.source, resources), refresh="drop_resources" if ctx.full_refresh else None
    )
    if progress:
        progress("normalising")
    counts = pipeline.normalize().row_counts
    if progress:
        progress("loading")
    with folder_lock(ctx.workspace.warehouse_dir):
        _refuse_shrinking_refresh(ctx, connector, catalog, schema, counts)
        _drop_foreign_tables(pipeline, known, catalog, schema, ctx.workspace)
        pipeline.load()
        # engines that do not read DuckDB files (Spark) take the loaded tables from here
        loaded = sorted(set(counts) & set(pipeline.default_schema.data_table_names()))
        warehouse_of(ctx.workspace).publish_landed(catalog, schema, [*loaded, "_dlt_version"])


def _refuse_shrinking_refresh(
    ctx: SyncContext, connector: Connector, catalog: str, schema: str, counts: dict[str, int]
) -> None:
    """A full refresh replaces its tables: one that would remove more than the stream's ``max_shrink``
    of a table's rows (an empty 200 answer, a proxy's stub) is refused before anything is loaded."""
    from matih.warehouse import warehouse_of

    wh = warehouse_of(ctx.workspace)
    for i, stream in enumerate(ctx.spec.streams):
        if stream.sync_mode != "full_refresh" and not ctx.full_refresh:
            continue
        declared = connector.stream(stream.name).tables
        for table in (stream.name,) if "*" in declared else declared:
            name = f"{catalog}.{schema}.{table}"
            if not wh.table_exists(name):
                continue
            before = int(wh.query(f"SELECT count(*) FROM {name}").column(0)[0].as_py())
            after = int(counts.get(table, 0))
            if before and (before - after) / before > stream.max_shrink:
                raise SourceError(
                    f"the full refresh would replace {name}'s {before:,} rows with {after:,} "
                    f"({(before - after) / before:.0%} fewer, more than max_shrink {stream.max_shrink:g}); "
                    f"nothing was loaded and the table is unchanged. If the source really lost those rows, "
                    f'set "max_shrink": 1 on streams[{i}] in sources/{ctx.source}.json',
                    source=ctx.source,
                    stream=stream.name,
                    transient=True,  # an empty answer is often a passing fault upstream: a retry may heal it
                )


def _finish(ws: Workspace, run: SyncRun, status: str, *, retries: int, start: float) -> None:
    """Close ``run`` with ``status`` and journal it."""
    run.status = status
    run.retries = retries
    run.ended_at = utc_stamp()
    run.seconds = round(time.perf_counter() - start, 3)
    record(ws, run)


def _record_failure(
    ws: Workspace, run: SyncRun, err: BaseException, *, retries: int, start: float
) -> NoReturn:
    """Journal ``run`` as failed, then raise the root cause: a MATIH error as it is, anything else
    (a dlt or OS error) as a SourceError with the journaled text, transient if a retry may succeed."""
    run.error = _error_text(err)
    _finish(ws, run, "failed", retries=retries, start=start)
    root = _root_cause(err)
    if isinstance(root, MatihError):
        raise root from None
    raise SourceError(run.error, source=run.source, transient=is_transient(root)) from None


def _record_success(
    ws: Workspace, run: SyncRun, pipeline: Any, spec: Any, connector: Connector, *, retries: int, start: float
) -> None:
    """Journal ``run`` as succeeded, with each stream's rows per table and its cursor after the load."""
    counts = _row_counts(pipeline)
    positions = cursors(pipeline, run.source)
    for stream in spec.streams:
        run.streams.append(
            _stream_run(spec, connector, stream, counts, positions, full_refresh=run.full_refresh)
        )
    _finish(ws, run, "succeeded", retries=retries, start=start)


def _row_counts(pipeline: Any) -> dict[str, int]:
    """Rows this sync normalised, by table (dlt's own tables left out)."""
    info = pipeline.last_trace.last_normalize_info
    if not info:
        return {}
    return {table: int(rows) for table, rows in info.row_counts.items() if not table.startswith("_dlt")}


def _stream_run(
    spec: Any,
    connector: Connector,
    stream: StreamSpec,
    counts: dict[str, int],
    positions: dict[str, str],
    *,
    full_refresh: bool,
) -> StreamRun:
    """What ``stream`` did: rows per table it fills, and its cursor if it is read incrementally."""
    info = connector.stream(stream.name)
    tables = info.tables
    if tables == ("*",):
        # a connector taking any table as a stream (files, PostgreSQL) fills one named like the
        # stream, or ``config.table`` (source-file) when the source has a single stream
        single = len(spec.streams) == 1 and getattr(spec.config, "table", None)
        tables = (single or stream.name,)
    cursor = positions.get(info.state_resource or stream.name)
    return StreamRun(
        name=stream.name,
        mode="full_refresh" if full_refresh else stream.sync_mode,
        tables={t: counts.get(t, 0) for t in tables},
        cursor=cursor if stream.sync_mode == "incremental" else None,
    )

"""Running a source: its connector's dlt resources, loaded into the warehouse, journaled.

One dlt pipeline per source (state in ``.matih/sources/dlt/<source>``) loads into the DuckDB file of
the destination catalog, so ``postgresql.shopify.orders`` is what the seed's SQL reads. dlt extracts
everything before it loads anything, and commits the cursors together with the load: a sync that
fails part-way leaves the tables and the cursors as the last good sync left them.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    warehouse.directory.mkdir(parents=True, exist_ok=True)
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
    from dlt.pipeline.exceptions import PipelineStepFailed

    spec = load_source(ws, name)
    if getattr(spec.config, "mode", "ingest") == "live":
        raise SourceError(
            "declared live (config.mode: live): it is queried in place, so there is nothing to sync; "
            'set "mode": "ingest" to copy it into the warehouse',
            source=name,
        )
    connector = connector_for(spec.connector)
    catalog, schema = destination_of(spec, name)
    run = SyncRun(
        run_id=uuid.uuid4().hex[:12],
        source=name,
        connector=spec.connector,
        started_at=utc_stamp(),
        full_refresh=full_refresh,
        destination=f"{catalog}.{schema}",
    )
    start = time.perf_counter()
    ctx: SyncContext | None = None
    try:
        ctx = build_context(ws, name, spec, connector, full_refresh=full_refresh, endpoints=endpoints)
        pipeline = _pipeline(ws, name, catalog, schema)
        # a failed run may have left extracted packages behind: they must never be loaded later
        pipeline.abort_packages()
        resources = connector.resources(ctx)
        known = _known_tables(pipeline)
        if progress:
            progress(f"extracting {', '.join(s.name for s in spec.streams)}")
        pipeline.extract(_as_source(name, resources), refresh="drop_resources" if full_refresh else None)
        if progress:
            progress("normalising")
        pipeline.normalize()
        if progress:
            progress("loading")
        with folder_lock(ws.warehouse_dir):
            _drop_foreign_tables(pipeline, known, catalog, schema, ws)
            pipeline.load()
    except (PipelineStepFailed, MatihError, OSError) as err:
        run.status = "failed"
        run.retries = ctx.retries if ctx else 0
        run.error = _error_text(err)
        run.ended_at = utc_stamp()
        run.seconds = round(time.perf_counter() - start, 3)
        record(ws, run)
        root = _root_cause(err)
        if isinstance(root, MatihError):
            raise root from None
        raise SourceError(run.error, source=name, transient=is_transient(root)) from None
    counts = (
        {
            table: int(rows)
            for table, rows in pipeline.last_trace.last_normalize_info.row_counts.items()
            if not table.startswith("_dlt")
        }
        if pipeline.last_trace.last_normalize_info
        else {}
    )
    positions = cursors(pipeline, name)
    for stream in spec.streams:
        info = connector.stream(stream.name)
        tables = info.tables
        if tables == ("*",):
            single = len(spec.streams) == 1 and getattr(spec.config, "table", None)
            tables = (single or stream.name,)
        cursor = positions.get(info.state_resource or stream.name)
        run.streams.append(
            StreamRun(
                name=stream.name,
                mode="full_refresh" if full_refresh else stream.sync_mode,
                tables={t: counts.get(t, 0) for t in tables},
                cursor=cursor if stream.sync_mode == "incremental" else None,
            )
        )
    run.status = "succeeded"
    run.retries = ctx.retries
    run.ended_at = utc_stamp()
    run.seconds = round(time.perf_counter() - start, 3)
    record(ws, run)
    return run

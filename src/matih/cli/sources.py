"""``matih sources``: the workspace's connectors, their syncs into the warehouse, state and schedules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from matih.cli.common import WorkspaceOpt, handled
from matih.cli.common import workspace as _workspace

if TYPE_CHECKING:
    from rich.table import Table

    from matih.sources import SyncRun

sources_app = typer.Typer(help="Connectors: list, sync, status, schedules.", no_args_is_help=True)


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
    from matih.cli.render import console
    from matih.sources import source_names, sync

    ws = _workspace(workspace)
    for name in names or source_names(ws):
        with console.status(f"Syncing {name}") as status:

            def progress(text: str, name: str = name) -> None:
                status.update(f"{name}: {text}")

            run = sync(ws, name, full_refresh=full_refresh, progress=progress)
        console.print(render_sync(name, run))


def render_sync(name: str, run: SyncRun) -> Table:
    """One sync's streams: mode, table, rows loaded and cursor, titled with its time and retries."""
    from matih.cli.render import rows_table

    rows = [
        (s.name, s.mode, table, f"{n:,}", s.cursor or "")
        for s in run.streams
        for table, n in s.tables.items()
    ]
    return rows_table(
        ("Stream", "Mode", "Table", "Rows loaded", "Cursor"),
        rows,
        title=f"{name} -> {run.destination} in {run.seconds:.1f}s"
        + (f" ({run.retries} HTTP retries)" if run.retries else ""),
        right=(3,),
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

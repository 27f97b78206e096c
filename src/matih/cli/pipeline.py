"""``matih pipeline | worker | temporal``: pipelines on Temporal, their workers and the embedded server."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
from rich.markup import escape

from matih.cli.common import WorkspaceOpt, handled, quiet_logs, quiet_task_logs, workspace
from matih.exceptions import SpecError

pipeline_app = typer.Typer(
    help="Pipelines on Temporal: run, status, history, schedules.", no_args_is_help=True
)
temporal_app = typer.Typer(help="The embedded Temporal dev server.", no_args_is_help=True)

STATE_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "rolled_back": "red",
    "running": "yellow",
    "pending": "dim",
    "skipped": "dim",
    "validation_failed": "yellow",
}


def run_table(run: Any) -> Any:
    from matih.cli.render import rows_table

    rows = []
    for t in run.tasks:
        style = STATE_STYLE.get(t.state, "")
        detail = t.error if t.state in ("failed", "rolled_back") else t.summary
        if t.note:
            detail = f"{detail}  [dim]({t.note})[/]" if detail else f"[dim]{t.note}[/]"
        rows.append(
            (
                t.task_id,
                t.type,
                f"[{style}]{t.state}[/]" if style else t.state,
                t.attempts or "",
                f"{t.seconds:.1f}s" if t.seconds is not None else "",
                detail or "",
            )
        )
    style = STATE_STYLE.get(run.status, "")
    took = f" in {run.seconds:.1f}s" if run.seconds is not None else ""
    return rows_table(
        ("task", "type", "state", "attempts", "duration", "result"),
        rows,
        title=f"{run.run_id}: [{style}]{run.status}[/]{took}",
        right=(3, 4),
    )


@pipeline_app.command("run")
@handled
def pipeline_run(
    name: Annotated[str, typer.Argument(help="pipeline_id (or file stem) under pipelines/.")],
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the run until it ends; exit 1 unless it succeeded.")
    ] = False,
    full_refresh: Annotated[bool, typer.Option(help="Syncs reload everything instead of resuming.")] = False,
    n_estimators: Annotated[int | None, typer.Option(help="Override the training task's tree count.")] = None,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """Start a run on Temporal. The embedded default runs a worker inside this command while it waits,
    or a background worker when it does not."""
    from rich.live import Live

    from matih.cli.render import console
    from matih.orchestrate.runner import run_pipeline

    quiet_logs()
    ws = workspace(workspace_dir)
    options: dict[str, Any] = {"trigger": "cli"}
    if full_refresh:
        options["full_refresh"] = True
    if n_estimators:
        options["n_estimators"] = n_estimators
    if not wait:
        run = run_pipeline(ws, name, options=options, wait=False)
        console.print(f"started [bold]{run.run_id}[/]; follow it with `matih pipeline status {run.run_id}`")
        return
    quiet_task_logs()
    started: list[str] = []
    try:
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            run = run_pipeline(
                ws,
                name,
                options=options,
                on_progress=lambda r: live.update(run_table(r)),
                on_started=started.append,
            )
            live.update(run_table(run))
    except KeyboardInterrupt:
        if started:
            console.print(
                f"stopped following {started[0]}: the run stays in Temporal and goes on while a worker "
                f"polls (`matih worker`); see it with `matih pipeline status {started[0]}`"
            )
        raise typer.Exit(130) from None
    console.print(run.message)
    for note in run.notifications:
        console.print(f"[dim]notification: {note}[/]")
    for line in run.monitors:
        console.print(f"[dim]monitor: {escape(line)}[/]", highlight=False)
    if run.status != "succeeded":
        raise typer.Exit(1)


@pipeline_app.command("status")
@handled
def pipeline_status(
    run_id: Annotated[str, typer.Argument(help="Run id, as printed by `pipeline run`.")],
    logs: Annotated[bool, typer.Option("--logs", help="Print the failing tasks' log tails.")] = False,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """A run's per-task state, attempts, durations and errors, read from Temporal."""
    from matih.cli.render import console
    from matih.orchestrate.runner import run_status

    ws = workspace(workspace_dir)
    run = run_status(ws, run_id)
    console.print(run_table(run))
    if run.message:
        console.print(run.message)
    for t in run.tasks:
        if len(t.attempt_log) > 1:
            waits = t.backoffs()
            console.print(f"{t.task_id}: waits between attempts {', '.join(f'{w:.1f}s' for w in waits)}")
        if logs and t.log_tail:
            console.print(
                f"[bold]{t.task_id} log tail[/]\n" + "\n".join(t.log_tail), highlight=False, markup=False
            )


@pipeline_app.command("history")
@handled
def pipeline_history(
    name: Annotated[str, typer.Argument(help="pipeline_id.")],
    limit: Annotated[int, typer.Option(help="Runs to show, newest first.")] = 10,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """The pipeline's latest runs with per-task state, attempts and durations (from Temporal)."""
    from matih.cli.render import console, rows_table
    from matih.orchestrate.runner import run_history

    ws = workspace(workspace_dir)
    runs = run_history(ws, name, limit=limit)
    if not runs:
        console.print(f"no runs of {name} yet; start one with `matih pipeline run {name}`")
    rows = []
    for run in runs:
        tasks = "  ".join(
            f"[{STATE_STYLE.get(t.state, '')}]{t.task_id}[/] {t.attempts}x"
            + (f" {t.seconds:.0f}s" if t.seconds is not None else "")
            for t in run.tasks
        )
        style = STATE_STYLE.get(run.status, "")
        rows.append(
            (
                run.run_id,
                run.started[:19].replace("T", " "),
                f"[{style}]{run.status}[/]",
                f"{run.seconds:.1f}s" if run.seconds is not None else "",
                tasks,
            )
        )
    console.print(
        rows_table(
            ("run", "started (UTC)", "status", "duration", "tasks: attempts, duration"),
            rows,
            title=f"Runs of {name}",
            right=(3,),
        )
    )


@pipeline_app.command("schedule")
@handled
def pipeline_schedule(
    name: Annotated[
        str, typer.Argument(help="pipeline_id; with --source a source, --deployment a deployment.")
    ],
    source: Annotated[bool, typer.Option("--source", help="Schedule a source's sync instead.")] = False,
    deployment: Annotated[
        bool, typer.Option("--deployment", help="Schedule a deployment's batch_inference instead.")
    ] = False,
    catchup: Annotated[
        str | None, typer.Option(help="Run missed actions up to this far back, e.g. '1h'.")
    ] = None,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """Register the spec's cron as a Temporal Schedule (overlap: skip; catch-up off unless --catchup)."""
    from matih.cli.render import console
    from matih.orchestrate.runner import schedule
    from matih.specs.common import Duration

    ws = workspace(workspace_dir)
    try:
        window = Duration.parse(catchup) if catchup else None
    except ValueError as err:
        raise SpecError(f"--catchup: {err}") from None
    view = schedule(ws, name, kind=_kind(source, deployment), catchup=window)
    console.print(f"schedule [bold]{view.schedule_id}[/]: {view.cron}; next runs {', '.join(view.next_runs)}")
    console.print("[dim]runs start only while a worker polls: keep `matih worker` running[/]")


def _kind(source: bool, deployment: bool) -> Any:
    if source and deployment:
        raise SpecError("give --source or --deployment, not both")
    return "source" if source else "deployment" if deployment else "pipeline"


@pipeline_app.command("unschedule")
@handled
def pipeline_unschedule(
    name: Annotated[
        str, typer.Argument(help="pipeline_id; with --source a source, --deployment a deployment.")
    ],
    source: Annotated[bool, typer.Option("--source", help="Unschedule a source's sync instead.")] = False,
    deployment: Annotated[
        bool, typer.Option("--deployment", help="Unschedule a deployment's batch.")
    ] = False,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """Delete the pipeline's (or source's) Temporal Schedule."""
    from matih.cli.render import console
    from matih.orchestrate.runner import unschedule

    removed = unschedule(workspace(workspace_dir), name, kind=_kind(source, deployment))
    console.print(f"{'removed' if removed else 'there was no'} schedule for {name}")


@pipeline_app.command("schedules")
@handled
def pipeline_schedules(workspace_dir: WorkspaceOpt = None) -> None:
    """Every MATIH schedule registered with Temporal, with its next runs."""
    from matih.cli.render import console, rows_table
    from matih.orchestrate.runner import schedules

    views = schedules(workspace(workspace_dir))
    console.print(
        rows_table(
            ("schedule", "cron", "next runs", "paused"),
            [(v.schedule_id, v.cron, ", ".join(v.next_runs[:2]), "yes" if v.paused else "") for v in views],
            title="Schedules",
        )
    )


def worker(
    workspace_dir: WorkspaceOpt = None,
    idle_exit: Annotated[
        float | None, typer.Option(help="Stop after this many seconds without an open pipeline run.")
    ] = None,
) -> None:
    """A long-running worker: runs pipeline tasks and scheduled runs until Ctrl-C. Embedded, it starts
    the dev server when none runs (and stops it on exit)."""
    import asyncio
    import logging

    from matih.cli.render import console
    from matih.orchestrate import devserver, runner
    from matih.orchestrate.client import orchestrator
    from matih.orchestrate.worker import serve

    quiet_logs()
    logging.getLogger("matih").setLevel(logging.INFO)
    ws = workspace(workspace_dir)
    code = 0
    with orchestrator(ws) as orch:
        runner.register_worker(ws, os.getpid())
        console.print(f"worker polling task queue {orch.task_queue!r} at {orch.address} (Ctrl-C stops)")
        try:
            asyncio.run(serve(orch, idle_exit=idle_exit))
        except KeyboardInterrupt:
            code = 130
        finally:
            runner.unregister_worker(ws, os.getpid())
        if idle_exit is not None and orch.embedded and devserver.running(ws) and not runner.schedules(ws):
            # the background worker of `pipeline run` also retires the server it was started with
            # (unless someone stopped it already: reading the schedules would start another)
            devserver.stop(ws)
    if code:
        raise typer.Exit(code)


@temporal_app.command("start")
@handled
def temporal_start(workspace_dir: WorkspaceOpt = None) -> None:
    """Start the workspace's embedded Temporal dev server in the background."""
    from matih.cli.render import console
    from matih.orchestrate import devserver

    record, started = devserver.start(workspace(workspace_dir))
    console.print(
        f"Temporal dev server {'started' if started else 'already running'} at {record.address} "
        f"(pid {record.pid}, database {record.database})"
    )


@temporal_app.command("stop")
@handled
def temporal_stop(workspace_dir: WorkspaceOpt = None) -> None:
    """Stop the embedded Temporal dev server (its database, with history and schedules, stays)."""
    from matih.cli.render import console
    from matih.orchestrate import devserver

    stopped = devserver.stop(workspace(workspace_dir))
    console.print("stopped" if stopped else "no embedded Temporal server was running")


@temporal_app.command("status")
@handled
def temporal_status(workspace_dir: WorkspaceOpt = None) -> None:
    """Where this workspace's Temporal is: the configured cluster or the embedded server."""
    from matih.cli.render import console
    from matih.orchestrate import devserver, runner
    from matih.orchestrate.client import configured_address

    ws = workspace(workspace_dir)
    if address := configured_address(ws):
        console.print(f"Temporal cluster at {address} (from matih.yaml or MATIH_TEMPORAL_ADDRESS)")
        return
    record = devserver.running(ws)
    console.print(
        f"embedded dev server at {record.address} (pid {record.pid})"
        if record
        else "embedded dev server: not running"
    )
    pid = runner.background_worker_pid(ws)
    console.print(f"worker: pid {pid}" if pid else "worker: none running")

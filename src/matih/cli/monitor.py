"""``matih monitor``: the production monitors of ``monitors/*.json``, executed as written."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from matih.cli.common import WorkspaceOpt, handled, quiet_logs, workspace

monitor_app = typer.Typer(
    help="Production monitors: accuracy, freshness, prediction quality, retraining.", no_args_is_help=True
)


@monitor_app.command("run")
@handled
def monitor_run(
    name: Annotated[
        str | None, typer.Argument(help="monitor_name of a monitors/*.json (default: all).")
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(help="Decide retraining and reassignment, but start no pipeline, move no category."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """Run the monitors now; exit 1 when one of them alerts."""
    from matih.cli.render import console
    from matih.orchestrate.monitors import RETRAINING_TRIGGER, run_workspace_monitors
    from matih.orchestrate.runner import run_pipeline

    quiet_logs()
    ws = workspace(workspace_dir)

    def start(pipeline_id: str, why: str) -> str:  # a background worker runs it (embedded Temporal)
        return run_pipeline(ws, pipeline_id, options={"trigger": RETRAINING_TRIGGER}, wait=False).run_id

    reports = run_workspace_monitors(
        ws, [name] if name else None, start_pipeline=None if dry_run else start, act=not dry_run
    )
    if as_json:
        console.print_json(json.dumps([r.to_dict() for r in reports], default=str))
    else:
        for report in reports:
            console.print(f"[bold]{report.name}[/] at {report.as_of}")
            for section in report.sections:
                mark = "[green]OK[/]" if section.ok else "[red]ALERT[/]"
                console.print(f"  {mark} {section.type}")
                for line in section.lines:
                    console.print(f"      {line}", markup=False, highlight=False)
            for delivery in report.deliveries:
                console.print(f"  [dim]alert: {delivery}[/]")
    if not all(r.ok for r in reports):
        raise typer.Exit(1)


@monitor_app.command("schedule")
@handled
def monitor_schedule(
    name: Annotated[str, typer.Argument(help="monitor_name of a monitors/*.json.")],
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """Run a monitor spec on its schedule (its accuracy monitor's cron) as a Temporal Schedule."""
    from matih.cli.render import console
    from matih.orchestrate.runner import schedule

    view = schedule(workspace(workspace_dir), name, kind="monitor")
    console.print(f"schedule [bold]{view.schedule_id}[/]: {view.cron}; next runs {', '.join(view.next_runs)}")
    console.print("[dim]runs start only while a worker polls: keep `matih worker` running[/]")


@monitor_app.command("unschedule")
@handled
def monitor_unschedule(
    name: Annotated[str, typer.Argument(help="monitor_name of a monitors/*.json.")],
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """Delete a monitor spec's Temporal Schedule."""
    from matih.cli.render import console
    from matih.orchestrate.runner import unschedule

    removed = unschedule(workspace(workspace_dir), name, kind="monitor")
    console.print(f"{'removed' if removed else 'there was no'} schedule for monitors {name}")


def health(
    days: Annotated[int, typer.Option(help="The period, in days back from today.")] = 30,
    output_format: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    plot: Annotated[str | None, typer.Option(help="Also write the accuracy trend to this PNG.")] = None,
    pipeline: Annotated[
        str | None, typer.Option(help="Pipeline whose runs count (default: the one that trains).")
    ] = None,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """The Production Health report: runs, training and batch times, weekly accuracy, freshness SLAs and
    retraining triggers, from what was recorded."""
    from pathlib import Path

    from matih.cli.render import console
    from matih.monitoring.health import plot as plot_report
    from matih.orchestrate.runner import production_health

    quiet_logs()
    if output_format not in ("text", "json"):
        raise typer.BadParameter("use text or json", param_hint="--format")
    report = production_health(workspace(workspace_dir), days=days, pipeline_id=pipeline)
    if output_format == "json":
        console.print_json(json.dumps(report.to_dict(), default=str))
    else:
        console.print(report.text(), markup=False, highlight=False)
    if plot:
        console.print(f"plot: {plot_report(report, Path(plot))}")

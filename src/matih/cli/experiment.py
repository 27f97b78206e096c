"""``matih experiment`` (compare model families, route the winners) and ``matih routing`` (versions)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

import typer

from matih.cli.common import WorkspaceOpt, handled, quiet_logs, workspace

experiment_app = typer.Typer(
    help="Model-family experiments: rolling-origin backtests, significance, routing.", no_args_is_help=True
)
routing_app = typer.Typer(help="Per-category routing versions: history and rollback.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="The experiment (its experiments/*.json name or file stem).")]


@experiment_app.command("run")
@handled
def experiment_run(
    name: NameArg,
    n_estimators: Annotated[int | None, typer.Option(help="Override LightGBM's tree count.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """Train and score every family at every cutoff; print the Results Matrix."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from matih.cli.render import console
    from matih.experiment import run_experiment

    quiet_logs()
    ws = workspace(workspace_dir)
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("loading dataset", total=None)

        def progress(label: str, done: int, total: int) -> None:
            bar.update(task, description=label, completed=done, total=total)

        report = run_experiment(ws, name, n_estimators=n_estimators, progress=progress)
    if as_json:
        console.print_json(json.dumps(asdict(report), default=str))
        return
    print_report(report)


@experiment_app.command("show")
@handled
def experiment_show(name: NameArg, workspace_dir: WorkspaceOpt = None) -> None:
    """Print the last run's Results Matrix again."""
    from matih.experiment import load_report

    print_report(load_report(workspace(workspace_dir), name))


@experiment_app.command("route")
@handled
def experiment_route(
    name: NameArg,
    min_improvement: Annotated[
        float | None, typer.Option(help="Override the spec's routing.min_improvement (0.05 = 5%).")
    ] = None,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """Route each category to its significant winner (a new routing version)."""
    from matih.cli.render import console
    from matih.experiment import route_experiment

    quiet_logs()
    outcome = route_experiment(workspace(workspace_dir), name, min_improvement=min_improvement)
    for family, verdict in sorted(outcome.gated.items()):
        console.print(f"gate {family}: {verdict}", highlight=False)
    for category, family in sorted(outcome.routes.items()):
        console.print(f"[green]route[/] {category} -> {family}", highlight=False)
    for category, why in sorted(outcome.kept.items()):
        console.print(f"[dim]keep[/] {category}: {why}", highlight=False)
    e = outcome.ensemble
    if "ensemble_mape" in e:
        console.print(
            f"Routed ensemble on the last holdout ({e['cutoff']}, routes chosen on earlier cutoffs): "
            f"{e['baseline_mape']:.1%} -> {e['ensemble_mape']:.1%} ({e['improvement']:+.1%}, "
            f"p={e['p_value']:.3f}{', significant' if e['significant'] else ', not significant'})",
            highlight=False,
        )
    if outcome.version is None:
        console.print("routing unchanged")
    else:
        v = outcome.version
        console.print(
            f"{v.file}: routing v{v.version} written; it serves from the next rollout (matih deploy); "
            "`matih routing rollback` restores the one before",
            highlight=False,
        )


@routing_app.command("history")
@handled
def routing_history_cmd(workspace_dir: WorkspaceOpt = None) -> None:
    """List routing versions, newest last."""
    from rich.table import Table

    from matih.cli.render import console
    from matih.forecast.routing_versions import routing_history

    table = Table("version", "at", "reason", "overrides")
    for v in routing_history(workspace(workspace_dir)):
        routes = ", ".join(f"{c} -> {f}" for c, f in sorted(v.overrides.items())) or "-"
        table.add_row(f"v{v.version}", v.at, v.reason, routes if v.content is not None else "(no file)")
    console.print(table)


@routing_app.command("rollback")
@handled
def routing_rollback_cmd(
    to: Annotated[int | None, typer.Option(help="Version to restore (default: the one before).")] = None,
    serve: Annotated[
        bool, typer.Option(help="Serve it at once (a blue-green rollout of the live version).")
    ] = True,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """Restore an earlier routing version (recorded as a new version) and serve it."""
    from matih.cli.render import console
    from matih.forecast.routing_versions import rollback_routing
    from matih.serving.deployments import republish

    quiet_logs()
    ws = workspace(workspace_dir)
    v = rollback_routing(ws, to)
    console.print(f"{v.file}: {v.reason} (now v{v.version})", highlight=False)
    if serve:
        console.print(f"served: {republish(ws)}", highlight=False)
    else:
        console.print("it serves from the next rollout", highlight=False)


def print_report(report: Any) -> None:
    """The seed's Results Matrix: MAPE per category per family, the winner, the wins row, times."""
    from rich.table import Table

    from matih.cli.render import console

    families = report.families
    label = {f: f.replace("_", " ") for f in families}
    table = Table(
        title=f"Results Matrix (MAPE %, lower is better): {report.experiment}, {len(report.cutoffs)} cutoffs "
        f"{report.cutoffs[0]} .. {report.cutoffs[-1]}, {report.holdout_periods}-period holdouts",
        title_justify="left",
    )
    table.add_column("Category")
    for f in families:
        table.add_column(label[f], justify="right")
    table.add_column("Winner")
    for category in report.categories:
        row = report.matrix[category]
        winner = report.winners[category]
        test = report.significance.get(category)
        mark = ""
        if test is not None:
            mark = " *" if test["significant"] else " (n.s.)"
        table.add_row(
            category,
            *[_pct(row[f], f == winner) for f in families],
            f"{winner}{mark}",
        )
    table.add_section()
    table.add_row("Overall", *[_pct(report.overall[f], False) for f in families], "")
    table.add_row("Wins", *[str(report.wins[f]) for f in families], "")
    table.add_row("Fit time", *[_seconds(report.fit_seconds.get(f, 0.0)) for f in families], "")
    table.add_row("Predict time", *[_seconds(report.predict_seconds.get(f, 0.0)) for f in families], "")
    console.print(table)
    console.print(
        f"* significant win over {report.baseline} (paired bootstrap over series, p < {report.alpha}); "
        "(n.s.) not significant",
        highlight=False,
    )
    e = report.ensemble
    if "ensemble_mape" in e:
        routes = ", ".join(f"{c} -> {f}" for c, f in sorted(e["routes"].items())) or "none"
        console.print(
            f"Routed ensemble on the last holdout (routes from the earlier cutoffs: {routes}): "
            f"{report.baseline} {e['baseline_mape']:.1%} -> {e['ensemble_mape']:.1%} "
            f"({e['improvement']:+.1%}, p={e['p_value']:.3f})",
            highlight=False,
        )
    console.print(
        f"{report.rows:,} rows in {report.table} ({report.products:,} products); MLflow run {report.run_id}; "
        f"{report.seconds:.0f}s. Next: matih experiment route {report.experiment}",
        highlight=False,
    )


def _pct(value: float, bold: bool) -> str:
    text = "-" if value != value else f"{value:.1%}"
    return f"[bold green]{text}[/]" if bold else text


def _seconds(value: float) -> str:
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes}m {seconds:02d}s" if minutes else f"{value:.1f}s"


@experiment_app.command("schedule")
@handled
def experiment_schedule(name: NameArg, workspace_dir: WorkspaceOpt = None) -> None:
    """Run the experiment on the routing document's evaluation_schedule, as a Temporal Schedule."""
    from matih.cli.render import console
    from matih.orchestrate.runner import schedule

    view = schedule(workspace(workspace_dir), name, kind="experiment")
    console.print(f"schedule [bold]{view.schedule_id}[/]: {view.cron}; next runs {', '.join(view.next_runs)}")


@experiment_app.command("unschedule")
@handled
def experiment_unschedule(name: NameArg, workspace_dir: WorkspaceOpt = None) -> None:
    """Remove the experiment's Temporal Schedule."""
    from matih.cli.render import console
    from matih.orchestrate.runner import unschedule

    removed = unschedule(workspace(workspace_dir), name, kind="experiment")
    console.print(f"schedule of {name} " + ("removed" if removed else "was not registered"))

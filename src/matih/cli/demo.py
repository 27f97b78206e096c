"""``matih demo``: the main job end to end on the simulated store, and the report a new user reads.

A top-level command, a plain function that ``matih.cli.main`` registers behind ``handled``. The demo
library (which pulls in the sandbox and the forecasting service) is imported inside the command."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from matih.cli.common import WorkspaceOpt, quiet_task_logs
from matih.cli.common import quiet_logs as _quiet_logs
from matih.cli.common import workspace as _workspace

if TYPE_CHECKING:
    from rich.table import Table

    from matih.demo import DemoResult
    from matih.forecast.evaluation import EvaluationReport
    from matih.workspace import Workspace


def demo(
    workspace: WorkspaceOpt = None,
    products: Annotated[int, typer.Option(help="Products in the simulated store.")] = 2_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    end_date: Annotated[str | None, typer.Option(help="Last day of sales (default: yesterday).")] = None,
    n_estimators: Annotated[int | None, typer.Option(help="Override the pipeline's tree count.")] = None,
) -> None:
    """The main job end to end: world, sandbox, then the seed's pipeline as a Temporal workflow (sync,
    feature SQL, training, validation gate, blue-green deployment of the forecasts)."""
    _quiet_logs()
    quiet_task_logs()
    ws = _workspace(workspace)
    result = _run_with_progress(
        ws,
        products=products,
        seed=seed,
        n_estimators=n_estimators,
        end_date=dt.date.fromisoformat(end_date) if end_date else None,
    )
    _print_data_stages(result)
    _print_model_stages(result)


def _run_with_progress(
    ws: Workspace, *, products: int, seed: int, n_estimators: int | None, end_date: dt.date | None
) -> DemoResult:
    """Run the demo with one spinner line per stage, each ticked off with its duration."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from matih.cli.render import console
    from matih.demo import run_demo

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    ) as bar:
        tasks: dict[str, Any] = {}

        def on_stage(key: str, label: str, seconds: float | None) -> None:
            if seconds is None:
                tasks[key] = bar.add_task(label, total=1)
            else:
                bar.update(tasks[key], completed=1, description=f"{label} [dim]({seconds:.1f}s)[/]")

        return run_demo(
            ws,
            products=products,
            seed=seed,
            n_estimators=n_estimators,
            on_stage=on_stage,
            end_date=end_date,
        )


def _print_data_stages(result: DemoResult) -> None:
    """The pipeline run's tasks, then what the data looked like: features, quality suite, profile."""
    from matih.cli.pipeline import run_table
    from matih.cli.quality import profile_renderables, suite_table
    from matih.cli.render import arrow_table, console

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


def _print_model_stages(result: DemoResult) -> None:
    """Training, the validation gate against the references, the forecasts and the verdict."""
    from matih.cli.render import arrow_table, console, validation_table

    console.print(result.training_summary)
    gate = result.gate
    ev = result.evaluation
    assert gate is not None and ev is not None and result.run is not None
    console.print(validation_table(ev, gate.mape_max, gate.bias_range))
    console.print(render_references(ev))
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
    for line in result.run.monitors:  # the seed's monitors, run after the deployment published
        console.print(f"[dim]monitor: {escape(line)}[/]", highlight=False)
    # the demo reports a failed gate rather than failing: `matih evaluate` is the command that gates
    console.print(f"report: {result.report_path}")
    console.print(
        "workbench: `matih serve` serves it at http://127.0.0.1:8766/ui/ (sources, catalog, lineage, "
        "query, pipelines, models, experiments and routing, monitoring, forecast explorer)",
        highlight=False,
    )


def render_references(ev: EvaluationReport) -> Table:
    """The model's holdout figures next to seasonal naive and, when the world knows them, the floors."""
    from matih.cli.render import rows_table

    refs = [
        (
            "MATIH per-category LightGBM",
            f"{ev.overall.mape:.1%}",
            f"{ev.overall.bias:+.3f}",
            f"{ev.overall.coverage:.0%}",
            f"{ev.overall.wql:.3f}",
        )
    ]
    refs.append(("Seasonal naive (same weekday)", f"{ev.seasonal_naive_mape:.1%}", "", "", ""))
    from matih.sandbox.truth import LABELS

    for name, label in LABELS.items():  # the simulator's floors, when the world knows them
        if name in ev.references:
            refs.append((label, f"{ev.references[name]:.1%}", "", "", ""))
    return rows_table(
        ("Forecaster", "Holdout MAPE", "Bias", "80% interval coverage", "wQL (deciles)"),
        refs,
        title="Against references on the same holdout",
        right=(1, 2, 3, 4),
    )

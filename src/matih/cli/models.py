"""``matih train | evaluate | forecast``: the forecasting models, trained, gated and put to use.

Top-level commands are plain functions; ``matih.cli.main`` registers them behind ``handled``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from matih.cli.common import WorkspaceOpt
from matih.cli.common import quiet_logs as _quiet_logs
from matih.cli.common import workspace as _workspace
from matih.workspace import Workspace

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


def _configs(
    ws: Workspace, pipeline: str | None, n_estimators: int | None, family: str | None = None
) -> tuple[Any, Any, Any]:
    """The pipeline's training, gate and output configs, training's narrowed to one model family."""
    from matih.forecast.adapt import configs_from_pipeline
    from matih.forecast.routing import family_config

    train, gate, output = configs_from_pipeline(ws, pipeline, n_estimators=n_estimators)
    return family_config(train, family), gate, output


def train_cmd(
    workspace: WorkspaceOpt = None,
    pipeline: PipelineOpt = None,
    n_estimators: Annotated[int | None, typer.Option(help="Override the tree count.")] = None,
    family: FamilyOpt = None,
) -> None:
    """Train the per-category models and the fallback; log and register them in MLflow."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from matih.cli.render import console
    from matih.forecast.training import train

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


def evaluate_cmd(
    workspace: WorkspaceOpt = None,
    pipeline: PipelineOpt = None,
    version: Annotated[int | None, typer.Option(help="Model version (default: latest).")] = None,
    family: FamilyOpt = None,
) -> None:
    """Validate a model version on the holdout; promote it to champion when it passes the thresholds."""
    from matih.cli.render import console, validation_table
    from matih.forecast.evaluation import enforce_gate, evaluate

    _quiet_logs()
    ws = _workspace(workspace)
    cfg, gate, _ = _configs(ws, pipeline, None, family)
    report = evaluate(ws, cfg, gate, version=version)
    console.print(validation_table(report, gate.mape_max, gate.bias_range))
    others = "".join(
        f", {name.removesuffix('_mape').replace('_', ' ')} {value:.1%}"
        for name, value in report.references.items()
    )
    console.print(f"References on the same holdout: seasonal naive {report.seasonal_naive_mape:.1%}{others}")
    console.print(
        f"{report.label}: "
        + (
            "[green]promoted to champion[/]"
            if report.promoted
            else "[red]not promoted[/] (" + "; ".join(report.reasons) + ")"
        )
    )
    enforce_gate(report, gate)


def forecast_cmd(
    workspace: WorkspaceOpt = None,
    pipeline: PipelineOpt = None,
    version: Annotated[str, typer.Option(help="Version number or alias.")] = "champion",
    output_table: Annotated[str | None, typer.Option(help="Target table.")] = None,
) -> None:
    """Write 14-day forecasts for every active product with the champion model."""
    from matih.cli.render import arrow_table, console
    from matih.demo import top_forecasts
    from matih.forecast.batch import forecast

    _quiet_logs()
    ws = _workspace(workspace)
    cfg, _, output = _configs(ws, pipeline, None)
    result = forecast(ws, cfg, output_table=output_table or output, version=version)
    console.print(
        f"{result.table}: {result.rows:,} rows ({result.products:,} products x {cfg.forecast_horizon} "
        f"days from {result.origin}) with {result.model_version} in {result.seconds:.1f}s"
    )
    console.print(arrow_table(top_forecasts(ws, result.table), title="Top forecasts"))

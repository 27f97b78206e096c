"""``matih quality | profile``: expectation suites and table profiles."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from matih.cli.common import WorkspaceOpt, handled, quiet_logs, workspace

quality_app = typer.Typer(
    help="Expectation suites (Great Expectations) on warehouse tables.", no_args_is_help=True
)


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.4g}"
    return str(value)


def suite_table(run: Any) -> Any:
    from matih.cli.render import rows_table

    rows = []
    for r in run.results:
        verdict = (
            "[green]PASS[/]"
            if r.success
            else ("[red]FAIL[/]" if r.severity == "error" else "[yellow]WARN[/]")
        )
        samples = "; ".join(json.dumps(s, default=str) for s in r.samples[:3])
        rows.append(
            (
                r.type.removeprefix("expect_"),
                r.target,
                r.severity,
                verdict,
                r.error or _value(r.observed),
                "" if r.unexpected_count is None else f"{r.unexpected_count:,}",
                "" if r.unexpected_percent is None else f"{r.unexpected_percent:.4g}%",
                samples,
            )
        )
    status = "[green]passed[/]" if run.success else "[red]failed[/]"
    return rows_table(
        (
            "expectation",
            "column(s)",
            "severity",
            "result",
            "observed",
            "unexpected",
            "%",
            "sample offending rows",
        ),
        rows,
        title=f"{run.suite} on {run.table}: {status} in {run.seconds:.1f}s",
        right=(5, 6),
    )


@quality_app.command("run")
@handled
def quality_run(
    suite: Annotated[str, typer.Argument(help="suite_name of a quality/*.json document.")],
    table: Annotated[
        str | None, typer.Option(help="Table to check (default: the one the suite is named for).")
    ] = None,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """Run a suite; exit 1 when an error-level expectation fails."""
    from matih.cli.render import console
    from matih.quality.suites import run_suite

    quiet_logs()
    run = run_suite(workspace(workspace_dir), suite, table=table)
    console.print(suite_table(run))
    if not run.success:
        raise typer.Exit(1)


@quality_app.command("history")
@handled
def quality_history(
    suite: Annotated[str | None, typer.Argument(help="Only this suite.")] = None,
    limit: Annotated[int, typer.Option(help="Runs to show, newest first.")] = 20,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """Earlier suite runs: when, on which table, the verdict and what failed."""
    from matih.cli.render import console, rows_table
    from matih.quality.suites import history

    runs = history(workspace(workspace_dir), suite)[:limit]
    rows = [
        (
            r.started.replace("T", " ")[:19],
            r.suite,
            r.table,
            "[green]passed[/]" if r.success else "[red]failed[/]",
            f"{r.seconds:.1f}s",
            "; ".join(
                f"{o.type.removeprefix('expect_')}({o.target}) {o.summary()}"
                for o in r.results
                if not o.success
            ),
        )
        for r in runs
    ]
    console.print(
        rows_table(
            ("started (UTC)", "suite", "table", "verdict", "took", "failed"), rows, title="Quality runs"
        )
    )


def profile(
    table: Annotated[
        str, typer.Argument(help="CATALOG.SCHEMA.TABLE, e.g. analytics.derived.demand_features.")
    ],
    series: Annotated[str, typer.Option(help="Series id column.")] = "product_id",
    date: Annotated[str, typer.Option(help="Date column.")] = "sale_date",
    target: Annotated[str, typer.Option(help="Target column.")] = "units_sold",
    min_history_days: Annotated[
        int, typer.Option(help="Training's minimum history (default: the pipeline's).")
    ] = 0,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """History buckets, feature correlations with the target, column statistics, short-history series."""
    from matih.cli.render import console
    from matih.quality.profile import profile_table

    ws = workspace(workspace_dir)
    days = min_history_days or _pipeline_min_history(ws)
    console.print(
        *profile_renderables(
            profile_table(ws, table, series=series, date=date, target=target, min_history_days=days)
        )
    )


def _pipeline_min_history(ws: Any) -> int:
    from matih.forecast.adapt import configs_from_pipeline

    try:
        train, _, _ = configs_from_pipeline(ws)
    except Exception:  # no usable pipeline: the seed's default
        return 30
    return train.min_history_days


def profile_renderables(p: Any) -> list[Any]:
    from rich.text import Text

    from matih.cli.render import rows_table

    out: list[Any] = [
        rows_table(
            ("history_bucket", "product_count", "pct"),
            [(b, f"{n:,}", f"{pct:.1f}%") for b, n, pct in p.history_buckets],
            title=f"History per {p.series_column} in {p.table} ({p.rows:,} rows)",
            right=(1, 2),
        ),
    ]
    width = max((len(c.feature) for c in p.correlations), default=10) + 1
    lines = [f"Feature Correlations with {p.target} (Pearson r):", "─" * 49]
    lines += [
        f"{c.feature + ':':{width}s} {c.r:6.2f}" + (f"  [{c.note}]" if c.note else "") for c in p.correlations
    ]
    out.append(Text("\n".join(lines)))  # plain text: the notes' brackets are not markup
    out.append(
        rows_table(
            ("column", "type", "nulls", "distinct", "min", "max", "mean"),
            [
                (
                    c.column,
                    c.type,
                    f"{c.null_share:.2%}",
                    f"{c.distinct:,}",
                    _value(c.min),
                    _value(c.max),
                    _value(c.mean),
                )
                for c in p.columns
            ],
            title="Columns",
            right=(2, 3, 6),
        )
    )
    sample = ", ".join(p.short_history_sample[:5]) + (", ..." if p.short_history > 5 else "")
    out.append(
        f"{p.short_history:,} {p.series_column}s have less than {p.min_history_days} days of history"
        + (f" ({sample})" if p.short_history else "")
        + f": they are excluded from model training and served by {p.fallback}."
    )
    return out

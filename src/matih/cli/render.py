"""Rich rendering of results; the CLI's only presentation code."""

from __future__ import annotations

import datetime as dt
import math
import sys
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    # type-only: every command prints through this module, and most never touch the forecasting service
    from matih.forecast.evaluation import EvaluationReport

# wide enough for the seed's tables when output is piped (Rich assumes 80 columns then)
console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)


def _fmt(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:,.1f}" if abs(value) < 1e15 else f"{value:.4g}"
    if isinstance(value, Decimal):
        return f"{value:,}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def arrow_table(table: pa.Table, *, title: str | None = None, max_rows: int = 50) -> Table:
    out = Table(title=title, show_lines=False, header_style="bold")
    for name, typ in zip(table.column_names, table.schema.types, strict=True):
        numeric = pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ)
        out.add_column(name, justify="right" if numeric else "left")
    for row in table.slice(0, max_rows).to_pylist():
        out.add_row(*(_fmt(v) for v in row.values()))
    return out


def rows_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    title: str | None = None,
    right: Sequence[int] = (),
) -> Table:
    out = Table(title=title, header_style="bold")
    for i, h in enumerate(headers):
        out.add_column(h, justify="right" if i in right else "left")
    for row in rows:
        out.add_row(*(str(c) for c in row))
    return out


def validation_rows(report: EvaluationReport) -> list[tuple[str, ...]]:
    """The validation table's rows as text: category, MAPE, RMSE, bias, coverage, wQL, status."""
    rows: list[tuple[str, ...]] = []
    for g in report.per_category:
        figures = (f"{g.mape:.1%}", f"{g.rmse:.1f}", f"{g.bias:+.2f}", f"{g.coverage:.0%}", f"{g.wql:.3f}")
        rows.append((g.name, *figures, g.status))
    return rows


def validation_table(report: EvaluationReport, mape_max: float, bias_range: tuple[float, float]) -> Group:
    """The seed's per-category validation table, then the overall verdict lines."""
    colour = {"PASS": "[green]PASS[/]"}
    rows = [(*row[:-1], colour.get(row[-1], "[red]FAIL[/]")) for row in validation_rows(report)]
    table = rows_table(
        ("Category", "MAPE", "RMSE", "Bias", "80% cover", "wQL", "Status"),
        rows,
        title=f"Per-Category Validation Results ({report.holdout_start} .. {report.holdout_end} holdout, "
        f"{report.label})",
        right=(1, 2, 3, 4, 5),
    )
    o = report.overall
    ok_m = "[green]PASS[/]" if o.mape <= mape_max else "[red]FAIL[/]"
    ok_b = "[green]PASS[/]" if bias_range[0] <= o.bias <= bias_range[1] else "[red]FAIL[/]"
    bound = max(map(abs, bias_range))
    return Group(
        table,
        Text.from_markup(f"Overall Weighted MAPE:  {o.mape:.1%}   \\[{ok_m}: threshold {mape_max:.0%}]"),
        Text.from_markup(f"Overall Bias:          {o.bias:+.3f}  \\[{ok_b}: threshold ±{bound:.0%}]"),
    )

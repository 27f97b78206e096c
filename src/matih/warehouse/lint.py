"""Static checks on workspace SQL that catch the seed's own traps before anything runs."""

from __future__ import annotations

from pathlib import Path

import sqlglot
from sqlglot import exp


def rows_window_warnings(sql: str, *, file: str = "<sql>") -> list[str]:
    """Warn where a ROWS frame or LAG is ordered by a date: on series that skip days (no row on zero-sales
    days) they count rows, not calendar days."""
    try:
        trees = [t for t in sqlglot.parse(sql, read="duckdb") if t is not None]
    except sqlglot.errors.SqlglotError:
        return []
    found: list[str] = []
    for tree in trees:
        for window in tree.find_all(exp.Window):
            order = window.args.get("order")
            keys = [o.this for o in order.expressions] if order else []
            if not any(isinstance(k, exp.Column) and "date" in k.name.lower() for k in keys):
                continue
            spec = window.args.get("spec")
            func = window.this
            is_rows = spec is not None and str(spec.args.get("kind", "")).upper() == "ROWS"
            is_lag = isinstance(func, exp.Lag | exp.Lead)
            if not (is_rows or is_lag):
                continue
            alias = window.parent.alias if isinstance(window.parent, exp.Alias) else func.sql()[:40]
            found.append(alias)
    if not found:
        return []
    names = ", ".join(dict.fromkeys(found))
    return [
        f"{file}: {names} use ROWS frames or LAG ordered by a date; where a series has no row on zero-sales "
        "days these count selling days, not calendar days. MATIH trains on a dense daily grid and recomputes "
        "such windows, but other consumers of this table see the row-based values"
    ]


def lint_queries(root: Path) -> list[str]:
    warnings: list[str] = []
    for path in sorted((root / "queries").glob("*.sql")):
        warnings += rows_window_warnings(path.read_text(), file=str(path.relative_to(root)))
    return warnings

"""``matih profile TABLE``: the seed's Stage 5 views of a training table, computed in the warehouse.

- history buckets: series by days of history (the seed's SQL, with the table's own column names);
- feature correlations: Pearson r of every numeric column with the target, sorted, annotated where a
  rule fits (autoregressive, seasonal signal, price effect, promotions, stock);
- per-column null share, min, max, mean and exact distinct counts;
- the series with less history than training needs, and how they are served (the fallback model).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from matih.exceptions import WarehouseError
from matih.sources.live import live_warehouse
from matih.warehouse import TableName
from matih.workspace import Workspace

NUMERIC = re.compile(
    r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE|"
    r"REAL|DECIMAL.*|BOOLEAN)$"
)
BUCKETS = (
    (365, "12+ months"),
    (180, "6-12 months"),
    (90, "3-6 months"),
    (30, "1-3 months"),
    (0, "Less than 1 month"),
)


@dataclass
class Correlation:
    feature: str
    r: float
    note: str | None = None


@dataclass
class ColumnStats:
    column: str
    type: str
    null_share: float
    distinct: int
    min: Any = None
    max: Any = None
    mean: float | None = None


@dataclass
class Profile:
    table: str
    rows: int
    series_column: str
    date_column: str
    target: str
    min_history_days: int
    history_buckets: list[tuple[str, int, float]] = field(default_factory=list)
    correlations: list[Correlation] = field(default_factory=list)
    columns: list[ColumnStats] = field(default_factory=list)
    short_history: int = 0
    short_history_sample: list[str] = field(default_factory=list)
    fallback: str = "the global fallback model"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def annotate(correlations: list[Correlation]) -> None:
    """The seed's style of notes, where a rule fits: the strongest lag/rolling feature of the target is
    expected (autoregressive); last year's same day a seasonal signal; discounts drive volume; higher
    prices and low stock go with fewer units."""
    auto_noted = False
    for c in correlations:
        name = c.feature.lower()
        if not auto_noted and ("rolling" in name or "lag" in name) and c.r > 0.5:
            c.note, auto_noted = "expected -- autoregressive", True
        elif "last_year" in name and c.r > 0.3:
            c.note = "good seasonal signal"
        elif ("discount" in name or "promo" in name) and c.r > 0.1:
            c.note = "promotions drive volume"
        elif "price" in name and c.r < 0:
            c.note = "higher price, fewer units"
        elif ("on_hand" in name or "stock" in name) and c.r < 0:
            c.note = "low stock suppresses sales"


def profile_table(
    ws: Workspace,
    table: str,
    *,
    series: str = "product_id",
    date: str = "sale_date",
    target: str = "units_sold",
    min_history_days: int = 30,
) -> Profile:
    wh = live_warehouse(ws)
    name = TableName.parse(table)
    wh.require_table(str(name))
    columns = wh.columns(str(name))
    with wh.cursor() as con:
        known = {c for c, _ in columns}
        for role, column in (("series", series), ("date", date), ("target", target)):
            if column not in known:
                raise WarehouseError(
                    f"{name} has no {role} column {column!r} (columns: {', '.join(sorted(known))}); pass "
                    f"--{role} COLUMN"
                )
        rows = int(con.execute(f"SELECT count(*) FROM {name}").fetchone()[0])  # type: ignore[index]
        # history per series, bucketed as the seed's Stage 5 query does
        cases = " ".join(f"WHEN day_count >= {d} THEN '{label}'" for d, label in BUCKETS[:-1])
        buckets = con.execute(
            f"""SELECT CASE {cases} ELSE '{BUCKETS[-1][1]}' END AS bucket, count(*) AS n,
                       round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS pct
                FROM (SELECT {_q(series)}, count(DISTINCT {_q(date)}) AS day_count FROM {name} GROUP BY 1)
                GROUP BY 1 ORDER BY min(day_count) DESC"""
        ).fetchall()
        short = con.execute(
            f"""SELECT {_q(series)}::VARCHAR FROM {name} GROUP BY 1
                HAVING count(DISTINCT {_q(date)}) < ? ORDER BY 1""",
            [min_history_days],
        ).fetchall()
        numeric = [c for c, t in columns if NUMERIC.match(t) and c not in (target, series, date)]
        correlations: list[Correlation] = []
        if numeric:
            values = con.execute(
                "SELECT "
                + ", ".join(f"corr({_q(c)}::DOUBLE, {_q(target)}::DOUBLE)" for c in numeric)
                + f" FROM {name}"
            ).fetchone()
            assert values is not None
            correlations = [
                Correlation(c, float(r)) for c, r in zip(numeric, values, strict=True) if r is not None
            ]
            correlations.sort(key=lambda c: c.r, reverse=True)
            annotate(correlations)
        parts = []
        for c, t in columns:
            parts += [f"count({_q(c)})", f"count(DISTINCT {_q(c)})"]
            if NUMERIC.match(t) or t in ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "VARCHAR"):
                parts += [f"min({_q(c)})", f"max({_q(c)})"]
            else:
                parts += ["NULL", "NULL"]
            parts.append(f"avg({_q(c)}::DOUBLE)" if NUMERIC.match(t) else "NULL")
        stats = con.execute(f"SELECT {', '.join(parts)} FROM {name}").fetchone()
    assert stats is not None
    out = []
    for i, (c, t) in enumerate(columns):
        count, distinct, lo, hi, mean = stats[5 * i : 5 * i + 5]
        out.append(ColumnStats(c, t, 1 - count / rows if rows else 0.0, int(distinct), lo, hi, mean))
    return Profile(
        table=str(name),
        rows=rows,
        series_column=series,
        date_column=date,
        target=target,
        min_history_days=min_history_days,
        history_buckets=[(str(b), int(n), float(p)) for b, n, p in buckets],
        correlations=correlations,
        columns=out,
        short_history=len(short),
        short_history_sample=[r[0] for r in short[:10]],
    )

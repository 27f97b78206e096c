"""Incremental refresh of a dated query: recompute only the days whose inputs changed.

A query qualifies when one SELECT (the *dated* SELECT) computes its date column row by row from base tables,
and everything built on top of it keeps days apart: every aggregate groups by the date, every window is
framed by date (``RANGE BETWEEN INTERVAL n DAYS PRECEDING AND ...``) and looks only backwards, and every
join between two dated relations matches their dates. Then an output row of day ``d`` depends only on input
rows of days ``d - reach .. d``, where ``reach`` is the widest window; so restricting the dated SELECT to
days from ``first - lookback_days`` and keeping the output rows from ``first`` gives exactly the rows a full
rebuild would give for those days. :func:`plan_incremental` proves this from the SQL (sqlglot) or says which
part breaks it; the caller decides *which* days changed (:mod:`matih.query.incremental`).

Windows that count rows (``LAG(x, 7)``, ``ROWS BETWEEN 6 PRECEDING``, ``ROW_NUMBER()``) are refused: over a
series with missing days, seven rows back can be any number of days back, so no bounded lookback is exact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope

from matih.exceptions import WarehouseError
from matih.warehouse.names import TableName

_WRAPPED = "__matih_days"

#: window functions whose result depends on row positions, not on dates
_ROW_COUNTING = (
    exp.Lag,
    exp.Lead,
    exp.RowNumber,
    exp.Rank,
    exp.DenseRank,
    exp.PercentRank,
    exp.CumeDist,
    exp.Ntile,
    exp.NthValue,
)


class NotIncremental(WarehouseError):
    """A query whose result for a day can depend on days outside any bounded lookback."""


@dataclass
class DatedQuery:
    """A query proven incremental on ``date_column``: where to restrict it, and what it reads."""

    body: exp.Query
    """The user's query, parsed (not qualified: regenerated, it reads as the user wrote it)."""
    date_column: str
    reach_days: int
    """How many days before a day its rows can look (the widest date-framed window)."""
    dated_select: exp.Select
    """The SELECT of ``body`` that computes the date from base tables."""
    date_expression: exp.Expr
    """The date's expression in that SELECT, e.g. ``DATE(o.order_date)``."""
    dated_tables: dict[str, TableName] = field(default_factory=dict)
    """Base tables of the dated SELECT, by their alias there."""
    other_tables: list[TableName] = field(default_factory=list)
    """Base tables read anywhere else: a change to any of them can change every day."""

    def restricted(self, first_day: dt.date, lookback_days: int) -> str:
        """The query for the output days from ``first_day``, reading inputs from ``lookback_days`` before."""
        body = self.body.copy()
        select = _same_select(body, self.body, self.dated_select)
        start = first_day - dt.timedelta(days=lookback_days)
        select.where(
            exp.GTE(this=self.date_expression.copy(), expression=_date(start)), append=True, copy=False
        )
        column = exp.to_identifier(self.date_column).sql("duckdb")
        return (
            f"SELECT * FROM ({body.sql(dialect='duckdb')}) AS {_WRAPPED} "
            f"WHERE {_WRAPPED}.{column} >= {_date(first_day).sql('duckdb')}"
        )

    def first_changed_day(self, changed: dict[str, exp.Expr]) -> str:
        """A query for the earliest date among the dated SELECT's rows that match ``changed`` (a condition
        per table alias, OR-ed): the first day whose output can differ."""
        probe = _same_select(self.body.copy(), self.body, self.dated_select).copy()
        # a MIN over the same FROM, joins and WHERE: the rows that reach the output, and nothing else
        for clause in ("group", "having", "qualify", "order", "limit", "offset", "distinct", "windows"):
            probe.set(clause, None)
        probe.set("expressions", [exp.Min(this=self.date_expression.copy()).as_("first_day")])
        probe.where(exp.or_(*changed.values()), append=True, copy=False)
        with_ = self.body.args.get("with")
        if with_ is not None:  # the dated SELECT may read CTEs of the query
            probe.set("with", with_.copy())
        return probe.sql(dialect="duckdb")


def plan_incremental(
    body_sql: str,
    date_column: str,
    lookback_days: int,
    schema: Mapping[str, object],
) -> DatedQuery:
    """Prove that ``body_sql`` (one SELECT) can be refreshed by days on ``date_column`` with
    ``lookback_days`` of history, or raise :class:`NotIncremental` naming what prevents it. ``schema`` is
    ``{catalog: {schema: {table: {column: type}}}}`` of the tables it reads (for ``*`` and unqualified
    columns)."""
    try:
        body = sqlglot.parse_one(body_sql, dialect="duckdb")
        qualified = qualify(
            body.copy(), schema=dict(schema), dialect="duckdb", validate_qualify_columns=False
        )
    except SqlglotError as err:
        raise NotIncremental(f"the query could not be analysed for an incremental refresh: {err}") from None
    if not isinstance(body, exp.Query) or not isinstance(qualified, exp.Query):
        raise NotIncremental("an incremental refresh needs a query (one SELECT)")
    scopes = list(traverse_scope(qualified))
    originals = list(traverse_scope(body))
    if len(scopes) != len(originals):  # qualify never adds or removes a scope; guard the mapping anyway
        raise NotIncremental("the query's structure could not be mapped for an incremental refresh")
    for scope in scopes:
        if scope.is_set_operation:
            raise NotIncremental(
                "an incremental refresh does not handle UNION, INTERSECT or EXCEPT: "
                + _short(scope.expression)
            )
    root = scopes[-1]
    name = date_column.lower()
    if name not in {s.alias_or_name.lower() for s in _selects(root.expression)}:
        raise NotIncremental(f"the query's result has no column {date_column!r} (incremental.date_column)")

    dated, date_name = _dated_scope(root, name)
    dated_select = dated.expression
    date_expr = _projection(dated_select, date_name)
    assert date_expr is not None
    if date_expr.find(exp.AggFunc, exp.Window):
        raise NotIncremental(
            f"{date_column!r} is computed by an aggregate or window ({_short(date_expr)}); it must be a "
            "value of each input row"
        )
    dependents = _dependents(scopes, dated)
    # messages quote the user's text of a window, not its qualified form
    written = dict(zip(map(id, qualified.find_all(exp.Window)), body.find_all(exp.Window), strict=False))
    reach = 0
    for scope in dependents:

        def _is_date(key: exp.Expr, scope: Scope = scope) -> bool:
            if scope is dated:
                return key == date_expr
            return _traces_to_date(scope, dated, date_name, key)

        _check_grouping(scope, dated, date_name, date_expr)
        _check_joins(scope, dependents, dated, date_name)
        for window in _windows(scope):
            reach = max(reach, _window_reach(window, written.get(id(window), window), _is_date))
        if scope.expression.args.get("limit") is not None:
            raise NotIncremental(f"LIMIT keeps rows across days: {_short(scope.expression)}")
        if scope.is_subquery:
            # a subquery in WHERE or SELECT over dated rows compares each day with every other day
            raise NotIncremental(f"a subquery reads the dated rows of every day: {_short(scope.expression)}")
    if reach > lookback_days:
        raise NotIncremental(
            f"a window reaches {reach} days back but incremental.lookback_days is {lookback_days}; "
            f"set lookback_days to at least {reach}"
        )

    original = originals[scopes.index(dated)].expression
    assert isinstance(original, exp.Select)
    original_expr = _projection(original, date_name)
    if original_expr is None:
        raise NotIncremental(f"the date column {date_name!r} could not be found in {_short(original)}")
    dated_tables = {
        alias: TableName.parse(_table_name(src))
        for alias, (_, src) in dated.selected_sources.items()
        if isinstance(src, exp.Table)
    }
    other: dict[str, TableName] = {}
    for scope in scopes:
        if scope is dated:
            continue
        for _, src in scope.selected_sources.values():
            if isinstance(src, exp.Table):
                other[_table_name(src)] = TableName.parse(_table_name(src))
    return DatedQuery(
        body=body,
        date_column=date_column,
        reach_days=reach,
        dated_select=original,
        date_expression=original_expr,
        dated_tables=dated_tables,
        other_tables=list(other.values()),
    )


# -- the proof ---------------------------------------------------------------------------------------
def _dated_scope(scope: Scope, name: str) -> tuple[Scope, str]:
    """Follow the output column ``name`` down plain column references to the SELECT that computes it."""
    while True:
        expr = _projection(scope.expression, name)
        if expr is None:
            raise NotIncremental(f"column {name!r} could not be traced in {_short(scope.expression)}")
        if not isinstance(expr, exp.Column):
            return scope, name
        source = scope.sources.get(expr.table)
        if isinstance(source, Scope):
            scope, name = source, expr.name.lower()
            continue
        # read straight from a base table: this SELECT is the dated one
        return scope, name


def _projection(select: exp.Expr, name: str) -> exp.Expr | None:
    for projection in _selects(select):
        if projection.alias_or_name.lower() == name:
            return projection.unalias()
    return None


def _selects(query: exp.Expr) -> list[exp.Expr]:
    return list(query.selects) if isinstance(query, exp.Query) else []


def _dependents(scopes: list[Scope], dated: Scope) -> list[Scope]:
    """``dated`` and every scope that reads it, directly or through others."""
    found = [dated]
    for scope in scopes:  # traverse_scope yields a scope after those it reads
        if scope is dated:
            continue
        children = [s for s in scope.sources.values() if isinstance(s, Scope)]
        children += scope.subquery_scopes
        if any(child in found for child in children):
            found.append(scope)
    return found


def _traces_to_date(scope: Scope, dated: Scope, date_name: str, column: exp.Expr) -> bool:
    """Whether ``column`` in ``scope`` is the dated SELECT's date, passed up unchanged."""
    if not isinstance(column, exp.Column):
        return False
    if scope is dated:
        return False
    source = scope.sources.get(column.table)
    name = column.name.lower()
    while isinstance(source, Scope):
        if source is dated:
            return name == date_name
        expr = _projection(source.expression, name)
        if not isinstance(expr, exp.Column):
            return False
        source, name = source.sources.get(expr.table), expr.name.lower()
    return False


def _check_grouping(scope: Scope, dated: Scope, date_name: str, date_expr: exp.Expr) -> None:
    select = scope.expression
    group = select.args.get("group")
    aggregates = [
        a for p in _selects(select) for a in p.find_all(exp.AggFunc) if not a.find_ancestor(exp.Window)
    ]
    if group is None and not aggregates and not select.args.get("distinct"):
        return
    keys = list(group.expressions) if group is not None else _selects(select)
    if scope is dated:
        ok = any(k == date_expr for k in keys)
    else:
        ok = any(_traces_to_date(scope, dated, date_name, k.unalias()) for k in keys)
    if not ok:
        raise NotIncremental(f"this SELECT aggregates across days (group it by the date): {_short(select)}")


def _check_joins(scope: Scope, dependents: list[Scope], dated: Scope, date_name: str) -> None:
    """A join of two dated relations must match their dates, or one day's row meets any other day's."""
    dated_aliases = {
        alias for alias, src in scope.sources.items() if isinstance(src, Scope) and src in dependents
    }
    if len(dated_aliases) < 2:
        return
    for join in scope.expression.args.get("joins") or []:
        other = join.this.alias_or_name
        if other not in dated_aliases:
            continue
        on = join.args.get("on")
        equal = [
            eq
            for eq in (on.find_all(exp.EQ) if on is not None else [])
            if _traces_to_date(scope, dated, date_name, eq.this)
            and _traces_to_date(scope, dated, date_name, eq.expression)
        ]
        if not equal:
            raise NotIncremental(f"a join of two dated relations does not match their dates: {_short(join)}")


def _windows(scope: Scope) -> Iterator[exp.Window]:
    for projection in _selects(scope.expression):
        yield from projection.find_all(exp.Window)
    qualify_ = scope.expression.args.get("qualify")
    if qualify_ is not None:
        yield from qualify_.find_all(exp.Window)


def _window_reach(window: exp.Window, written: exp.Window, is_date: Callable[[exp.Expr], bool]) -> int:
    """Days a date-framed, backward window reaches; refuse any other window over dated rows (``written``
    is the window as the user wrote it, for the message)."""
    text = _short(written)
    spec = window.args.get("spec")
    kind = str(spec.args.get("kind", "")).upper() if spec is not None else ""
    if isinstance(window.this, _ROW_COUNTING) or kind == "ROWS":
        raise NotIncremental(
            f"{text} counts rows, not days: over a series with missing days it reaches any number of days "
            "back, so no lookback_days is exact; frame it by date (RANGE BETWEEN INTERVAL n DAYS PRECEDING "
            "AND CURRENT ROW) or refresh the table in full"
        )
    order = window.args.get("order")
    keys = [o.this for o in order.expressions] if order is not None else []
    if len(keys) != 1 or not is_date(keys[0]):
        raise NotIncremental(f"{text} is not ordered by the date alone, so it spans every day of a partition")
    if spec is None or kind != "RANGE":
        raise NotIncremental(
            f"{text} has no RANGE frame: it runs from the first day of the partition (a running total); "
            "frame it RANGE BETWEEN INTERVAL n DAYS PRECEDING AND CURRENT ROW"
        )
    if _side(spec, "end") == "FOLLOWING" or _side(spec, "start") == "FOLLOWING":
        raise NotIncremental(f"{text} looks at later days, which change when a new day arrives")
    return _days(spec.args.get("start"), text)


def _side(spec: exp.WindowSpec, which: str) -> str:
    value = spec.args.get(f"{which}_side")
    return str(value or "").upper()


def _days(bound: object, text: str) -> int:
    if isinstance(bound, str) and bound.upper() == "CURRENT ROW":
        return 0
    if isinstance(bound, exp.Interval):
        unit = str(bound.unit.name if bound.unit else "DAY").upper().rstrip("S")
        try:
            amount = int(bound.this.name)
        except ValueError:
            amount = -1
        scale = {"DAY": 1, "WEEK": 7}.get(unit)
        if scale is not None and amount >= 0:
            return amount * scale
    raise NotIncremental(
        f"{text} is not framed by a fixed number of days (use INTERVAL n DAYS or WEEKS PRECEDING)"
    )


# -- helpers -----------------------------------------------------------------------------------------
def _same_select(body: exp.Expr, original: exp.Expr, select: exp.Select) -> exp.Select:
    """``select`` of ``original``, found again in ``body`` (a copy of it) by its position in the tree."""
    originals = list(original.find_all(exp.Select))
    copies = list(body.find_all(exp.Select))
    found = copies[next(i for i, s in enumerate(originals) if s is select)]
    assert isinstance(found, exp.Select)
    return found


def _table_name(table: exp.Table) -> str:
    return ".".join(part for part in (table.catalog, table.db, table.name) if part)


def _date(day: dt.date) -> exp.Expression:
    return exp.cast(exp.Literal.string(day.isoformat()), exp.DataType.build("DATE"))


def _short(expr: exp.Expr, limit: int = 160) -> str:
    text = " ".join(expr.sql(dialect="duckdb").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."

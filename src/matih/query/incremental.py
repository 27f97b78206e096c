"""Daily refreshes of a dated table: which days changed since the last build, and rebuilding only those.

A ``sql_execute`` task may declare ``"incremental": {"date_column": ..., "lookback_days": N}``. Each run
then decides between three outcomes, and says which and why:

- **full**: the first build, a changed query or settings, a target written by something else, a source
  re-synced in full, or a change to a table read outside the dated SELECT (a dimension joined onto every day:
  every day's rows can change, so only a rebuild is exact);
- **unchanged**: no input changed;
- **incremental**: the dated SELECT's tables gained or changed rows. Their changed rows are found by their
  source stream's cursor column (``updated_at`` for Shopify orders) against its high-water mark at the last
  build; the earliest date among them is the first changed day. Days from it are recomputed over
  ``lookback_days`` of history (:mod:`matih.warehouse.incremental` proves that is exact) and replace those
  days of the table in one transaction.

Tables without a cursor are compared by a content fingerprint (row count and a sum of row hashes), so a
dimension re-synced in full but unchanged does not force a rebuild. Rows deleted at the source are not seen
by a cursor; a full refresh of their source (which the sync journal records) forces a rebuild.

The build state lives in ``.matih/warehouse/incremental/<table>.json``, written after the table commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import sqlglot
from sqlglot import exp

from matih.exceptions import SourceError
from matih.sources import runs
from matih.state import utc_stamp, write_json_atomic
from matih.warehouse import Engine
from matih.warehouse.incremental import DatedQuery, NotIncremental, plan_incremental
from matih.warehouse.names import TableName
from matih.warehouse.statements import JoinBuildSide, analyse, query_to_write, split
from matih.workspace import Workspace

Mode = Literal["full", "incremental", "unchanged"]


@dataclass
class Refresh:
    """What one run did to the table, and why."""

    mode: Mode
    reason: str
    rows: int
    """Rows written (all of them for a full build, the replaced days' for an incremental one)."""
    first_day: dt.date | None = None
    seconds: float = 0.0

    def describe(self, target: str) -> str:
        if self.mode == "unchanged":
            return f"{target}: unchanged ({self.reason})"
        if self.mode == "incremental":
            return (
                f"{target}: days from {self.first_day} recomputed, {self.rows:,} rows replaced in "
                f"{self.seconds:.1f}s ({self.reason})"
            )
        return f"{target}: rebuilt in full, {self.rows:,} rows in {self.seconds:.1f}s ({self.reason})"


def refresh(
    ws: Workspace,
    wh: Engine,
    sql: str,
    target: str,
    *,
    date_column: str,
    lookback_days: int,
    join_build_side: JoinBuildSide = "estimated",
) -> Refresh:
    """Bring ``target`` up to date with ``sql`` (one query or ``CREATE TABLE ... AS``), rebuilding only the
    changed days when that is exact. Raises :class:`~matih.warehouse.incremental.NotIncremental` when the
    query cannot be refreshed by days at all."""
    if wh.engine != "duckdb":
        # its change detection reads DuckDB's row hashes and types; Spark rebuilds in full
        raise NotIncremental(
            f"incremental refresh needs warehouse.engine 'duckdb' (matih.yaml), this workspace runs "
            f'{wh.engine!r}; remove "incremental" to rebuild the table in full on each run'
        )
    started = time.perf_counter()
    tname = TableName.parse(target)
    statements = split(sql)
    if len(statements) != 1:
        raise NotIncremental(f"an incremental query is one statement, this file has {len(statements)}")
    body = query_to_write(statements[0], analyse(statements[0]))
    columns = _describe(wh, body)
    plan = plan_incremental(body, date_column, lookback_days, _nested(columns))
    state_path = _state_path(ws, tname)
    previous = json.loads(state_path.read_text()) if state_path.exists() else None
    settings = {
        "query": hashlib.sha256(body.encode()).hexdigest(),
        "date_column": date_column,
        "lookback_days": lookback_days,
    }
    # read before the run: rows that land while it runs are past these marks and are taken next time
    syncs = runs.history(ws)
    now = _table_states(ws, wh, plan, columns, syncs)
    decision = _decide(wh, plan, tname, previous, settings, now, syncs)
    if decision.mode == "full":
        rows = int(wh.run(body, target=target, join_build_side=join_build_side)[-1].rows or 0)
    elif decision.mode == "incremental":
        assert decision.first_day is not None
        rows = wh.replace_days(
            target,
            plan.restricted(decision.first_day, lookback_days),
            date_column,
            decision.first_day,
            join_build_side,
        )
    else:
        rows = 0
    write_json_atomic(
        state_path,
        {**settings, "built_at": utc_stamp(), "target": wh.last_write(target), "tables": now},
    )
    decision.rows = rows
    decision.seconds = time.perf_counter() - started
    return decision


# -- deciding ----------------------------------------------------------------------------------------
def _decide(
    wh: Engine,
    plan: DatedQuery,
    tname: TableName,
    previous: dict[str, Any] | None,
    settings: dict[str, Any],
    now: dict[str, dict[str, Any]],
    syncs: list[runs.SyncRun],
) -> Refresh:
    def full(reason: str) -> Refresh:
        return Refresh("full", reason, 0)

    if previous is None:
        return full("first build")
    for key, value in settings.items():
        if previous.get(key) != value:
            return full(f"the {key.replace('_', ' ')} changed since the last build")
    if not wh.table_exists(str(tname)) or wh.last_write(str(tname)) != previous.get("target"):
        return full(f"{tname} was written by something else since the last build")
    before = previous.get("tables", {})
    changed: dict[str, exp.Expr] = {}
    for name, state in now.items():
        old = before.get(name)
        if old is None or old.get("kind") != state["kind"] or old.get("column") != state.get("column"):
            return full(f"{name} is read for the first time")
        if state == old:
            continue
        dated_alias = next((a for a, t in plan.dated_tables.items() if str(t) == name), None)
        if dated_alias is None:
            return full(f"{name} changed, and it is read outside the dated SELECT (every day can change)")
        if state["kind"] != "cursor":
            return full(f"{name} changed and has no cursor column to tell which rows")
        if _replaced_since(syncs, TableName.parse(name), old["syncs"]):
            return full(f"{name} was re-synced in full since the last build")
        column = exp.column(state["column"], table=dated_alias)
        changed[dated_alias] = exp.GTE(
            this=column,
            expression=exp.cast(
                exp.Literal.string(old["position"]),
                exp.DataType.build(old["type"], dialect="duckdb", udt=True),
            ),
        )
    if not changed:
        return Refresh("unchanged", "no input changed since the last build", 0)
    first = wh.query(plan.first_changed_day(changed)).column(0)[0].as_py()
    if first is None:
        return Refresh("unchanged", "the changed rows reach no output day", 0)
    if isinstance(first, dt.datetime):
        first = first.date()
    names = ", ".join(str(plan.dated_tables[a]) for a in changed)
    return Refresh("incremental", f"new or changed rows in {names}", 0, first_day=first)


# -- table states ------------------------------------------------------------------------------------
def _table_states(
    ws: Workspace,
    wh: Engine,
    plan: DatedQuery,
    columns: dict[str, dict[str, str]],
    syncs: list[runs.SyncRun],
) -> dict[str, dict[str, Any]]:
    """Per input table: its cursor column's high-water mark (dated tables filled by an incremental stream)
    or a content fingerprint (every other table)."""
    states: dict[str, dict[str, Any]] = {}
    dated = {str(t) for t in plan.dated_tables.values()}
    cursors = _cursor_columns(ws) if dated else {}
    tables = {str(t): t for t in (*plan.dated_tables.values(), *plan.other_tables)}
    for name, table in sorted(tables.items()):
        cursor = cursors.get(name) if name in dated else None
        if cursor is not None and cursor.lower() in {c.lower() for c in columns.get(name, {})}:
            mark, kind = (
                wh.query(f"SELECT max({cursor})::VARCHAR AS mark, typeof(max({cursor})) AS kind FROM {table}")
                .to_pylist()[0]
                .values()
            )
            states[name] = {
                "kind": "cursor",
                "column": cursor,
                "position": mark,
                "type": kind,
                "syncs": len(_sync_runs(syncs, table)),
            }
        else:
            count, digest = (
                wh.query(
                    "SELECT count(*) AS n, coalesce(sum(hash(t)::HUGEINT), 0)::VARCHAR AS digest "
                    f"FROM {table} AS t"
                )
                .to_pylist()[0]
                .values()
            )
            states[name] = {"kind": "content", "rows": count, "fingerprint": digest}
    return states


def _cursor_columns(ws: Workspace) -> dict[str, str]:
    """``catalog.schema.table`` -> the cursor field of the incremental stream that fills it, per the
    workspace's source specs."""
    from matih.sources.sync import connector_for, destination_of, load_source, source_names

    found: dict[str, str] = {}
    for source in source_names(ws):
        try:
            spec = load_source(ws, source)
        except SourceError:
            continue
        catalog, schema = destination_of(spec, source)
        connector = connector_for(spec.connector)
        for stream in spec.streams:
            try:
                info = connector.stream(stream.name)
            except SourceError:  # a stream the connector does not offer: its sync says so
                continue
            cursor = stream.cursor_field or info.cursor_field
            if stream.sync_mode != "incremental" or cursor is None:
                continue
            for table in info.tables or (stream.name,):
                found[f"{catalog}.{schema}.{table}"] = cursor
    return found


def _sync_runs(syncs: list[runs.SyncRun], table: TableName) -> list[tuple[runs.SyncRun, runs.StreamRun]]:
    """Succeeded syncs that wrote ``table``, oldest first, with the stream that wrote it."""
    found = []
    for run in syncs:
        if run.status != "succeeded" or run.destination != f"{table.catalog}.{table.schema}":
            continue
        for stream in run.streams:
            if table.name in stream.tables:
                found.append((run, stream))
    return found


def _replaced_since(syncs: list[runs.SyncRun], table: TableName, after: int) -> bool:
    """Whether a sync of ``table`` after its first ``after`` ones replaced it instead of merging by cursor."""
    later = _sync_runs(syncs, table)[after:]
    return any(run.full_refresh or stream.mode != "incremental" for run, stream in later)


def _describe(wh: Engine, body: str) -> dict[str, dict[str, str]]:
    """``catalog.schema.table`` -> ``{column: type}`` of each base table ``body`` reads, described once."""
    parsed = sqlglot.parse_one(body, dialect="duckdb")
    ctes = {cte.alias_or_name.lower() for cte in parsed.find_all(exp.CTE)}
    described: dict[str, dict[str, str]] = {}
    for table in parsed.find_all(exp.Table):
        if not table.db and table.name.lower() in ctes:
            continue
        tname = TableName.parse(".".join(p for p in (table.catalog, table.db, table.name) if p))
        if str(tname) not in described:
            rows = wh.query(f"DESCRIBE {tname}").to_pylist()
            described[str(tname)] = {r["column_name"]: r["column_type"] for r in rows}
    return described


def _nested(described: dict[str, dict[str, str]]) -> dict[str, object]:
    """The ``{catalog: {schema: {table: {column: type}}}}`` form sqlglot's qualifier reads."""
    schema: dict[str, Any] = {}
    for name, columns in described.items():
        tname = TableName.parse(name)
        schema.setdefault(tname.catalog, {}).setdefault(tname.schema, {})[tname.name] = columns
    return schema


def _state_path(ws: Workspace, tname: TableName) -> Path:
    return ws.state / "incremental" / f"{tname}.json"

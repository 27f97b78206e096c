"""The catalog: every table in the warehouse with its columns, rows, keys, owner, tags and freshness.

``refresh`` reads the warehouse (DuckDB's own metadata plus ``COUNT(*)``), the keys dlt recorded for
ingested tables (``_dlt_version``), the sync journal and the warehouse's write journal (created and
updated times), and the user's annotations (owner, tags, description: ``.matih/catalog/annotations.json``,
kept across syncs). The result is saved as ``.matih/catalog/catalog.json``; search and show read it.

Key roles, per column:

- **PK**: the table's declared key (dlt's ``primary_key`` or ``unique`` hints), or, when none is
  declared, an ``id`` / ``*_id`` column whose values are verified unique and never null;
- **FK**: the column's values are all contained in another table's single-column PK of the same name
  (checked with an anti-join). A column that is part of a composite key, or unique but contained in
  another table's key (a 1:1 extension table), is shown as FK: it points at the master table.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from matih.exceptions import WarehouseError
from matih.sources.live import live_warehouse
from matih.state import utc_now, utc_stamp, write_json_atomic
from matih.workspace import Workspace

HIDDEN_SCHEMA_SUFFIX = "_staging"


@dataclass
class ColumnInfo:
    name: str
    type: str
    role: str | None = None
    references: str | None = None


@dataclass
class TableInfo:
    name: str
    columns: list[ColumnInfo]
    rows: int
    primary_key: list[str] = field(default_factory=list)
    owner: str | None = None
    tags: list[str] = field(default_factory=list)
    description: str | None = None
    origin: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    physical: str | None = None
    """Where queries find it when that differs from ``name`` (a live source's ATTACHed database)."""

    @property
    def sql(self) -> str:
        """The table as SQL: its physical name, quoted."""
        return ".".join(f'"{p}"' for p in (self.physical or self.name).split("."))

    @property
    def catalog(self) -> str:
        return self.name.split(".")[0]

    @property
    def schema(self) -> str:
        return self.name.split(".")[1]

    @property
    def table(self) -> str:
        return self.name.split(".")[2]

    def column(self, name: str) -> ColumnInfo | None:
        return next((c for c in self.columns if c.name == name), None)

    def freshness_hours(self, now: dt.datetime | None = None) -> float | None:
        if not self.updated_at:
            return None
        moment = dt.datetime.fromisoformat(self.updated_at)
        return ((now or utc_now()) - moment).total_seconds() / 3600


@dataclass
class Catalog:
    tables: dict[str, TableInfo]
    refreshed_at: str

    def search(self, column: str) -> list[TableInfo]:
        """Tables with a column named ``column``, declared keys first, then by name."""
        found = [t for t in self.tables.values() if t.column(column) is not None]
        order = {"PK": 0, "FK": 1, None: 2}
        return sorted(found, key=lambda t: (order[t.column(column).role], t.name))  # type: ignore[union-attr]

    def get(self, name: str) -> TableInfo:
        if name in self.tables:
            return self.tables[name]
        matches = [t for t in self.tables if t.endswith("." + name)]
        if len(matches) == 1:
            return self.tables[matches[0]]
        hint = f"; did you mean {' or '.join(sorted(matches))}?" if matches else "; see `matih catalog list`"
        raise WarehouseError(f"no table {name!r} in the catalog{hint}")


# -- annotations ------------------------------------------------------------------------------------
def annotations_path(ws: Workspace) -> Path:
    return ws.state / "catalog" / "annotations.json"


def load_annotations(ws: Workspace) -> dict[str, dict[str, Any]]:
    path = annotations_path(ws)
    return json.loads(path.read_text()) if path.is_file() else {}


def annotate(
    ws: Workspace,
    table: str,
    *,
    owner: str | None = None,
    add_tags: list[str] | None = None,
    remove_tags: list[str] | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """Set a table's owner, tags or description; kept across syncs and refreshes."""
    catalog = load_catalog(ws)
    name = catalog.get(table).name
    notes = load_annotations(ws)
    entry = notes.setdefault(name, {})
    if owner is not None:
        entry["owner"] = owner
    if description is not None:
        entry["description"] = description
    tags = [t for t in entry.get("tags", []) if t not in (remove_tags or [])]
    tags += [t for t in (add_tags or []) if t not in tags]
    entry["tags"] = tags
    write_json_atomic(annotations_path(ws), dict(sorted(notes.items())))
    info = catalog.tables[name]
    info.owner = entry.get("owner", info.owner)
    info.tags = tags
    info.description = entry.get("description", info.description)
    _save(ws, catalog)
    return entry


# -- refresh ------------------------------------------------------------------------------------------
def catalog_path(ws: Workspace) -> Path:
    return ws.state / "catalog" / "catalog.json"


def load_catalog(ws: Workspace, *, refresh_if_missing: bool = True) -> Catalog:
    path = catalog_path(ws)
    if not path.is_file():
        if not refresh_if_missing:
            raise WarehouseError("the catalog has not been built yet; run `matih catalog refresh`")
        return refresh(ws)
    raw = json.loads(path.read_text())
    tables = {
        name: TableInfo(**{**t, "columns": [ColumnInfo(**c) for c in t["columns"]]})
        for name, t in raw["tables"].items()
    }
    return Catalog(tables, raw["refreshed_at"])


def _save(ws: Workspace, catalog: Catalog) -> None:
    payload = {
        "refreshed_at": catalog.refreshed_at,
        "tables": {n: asdict(t) for n, t in catalog.tables.items()},
    }
    write_json_atomic(catalog_path(ws), payload, indent=1)


def refresh(ws: Workspace) -> Catalog:
    """Rebuild the catalog from the warehouse and the journals, and save it."""
    wh = live_warehouse(ws)
    tables: dict[str, TableInfo] = {}
    declared: dict[str, list[str]] = {}
    described = wh.describe()
    with wh.cursor() as con:
        live = {source.alias: source for source in wh.live}
        for tname, described_columns in described.items():
            catalog, schema, table = tname.catalog, tname.schema, tname.name
            if schema.endswith(HIDDEN_SCHEMA_SUFFIX) or table.startswith("_dlt"):
                continue
            source = live.get(catalog)
            if source is not None and schema != source.pg_schema:
                continue
            # a live source's tables are listed under the names queries use (postgresql.inventory.*)
            name = f"{source.catalog}.{source.schema}.{table}" if source else f"{catalog}.{schema}.{table}"
            if source is None and (tables.get(name) and (tables[name].origin or "").startswith("live")):
                continue  # shadowed: queries read the live source, not this ingested copy
            columns = [ColumnInfo(col, kind) for col, kind in described_columns if not col.startswith("_dlt")]
            (rows,) = con.execute(f'SELECT count(*) FROM "{catalog}"."{schema}"."{table}"').fetchone() or (0,)
            tables[name] = TableInfo(
                name,
                columns,
                int(rows),
                origin=f"live ({source.dsn.split()[0]})" if source else None,
                physical=f"{catalog}.{schema}.{table}" if source else None,
            )
        for catalog, schema in {(n.split(".")[0], n.split(".")[1]) for n in tables}:
            for table, keys in _dlt_keys(con, catalog, schema).items():
                name = f"{catalog}.{schema}.{table}"
                if name in tables and keys:
                    declared[name] = keys
        _times(ws, tables, wh.writes_path)
        _assign_keys(con, tables, declared, _previous(ws))
        _owners_from_data(con, tables)
    notes = load_annotations(ws)
    for name, info in tables.items():
        entry = notes.get(name, {})
        info.owner = entry.get("owner", info.owner)
        info.tags = list(entry.get("tags", []))
        info.description = entry.get("description")
    catalog_ = Catalog(tables, utc_stamp())
    _save(ws, catalog_)
    return catalog_


def _dlt_keys(con: Any, catalog: str, schema: str) -> dict[str, list[str]]:
    """Declared keys per table from the newest schema dlt stored in this dataset."""
    try:
        row = con.execute(
            f'SELECT schema FROM "{catalog}"."{schema}"."_dlt_version" ORDER BY inserted_at DESC LIMIT 1'
        ).fetchone()
    except Exception:  # no dlt in this schema
        return {}
    if not row:
        return {}
    stored = json.loads(row[0])
    keys: dict[str, list[str]] = {}
    for table, spec in stored.get("tables", {}).items():
        cols = spec.get("columns", {})
        primary = [c for c, hints in cols.items() if hints.get("primary_key")]
        unique = [c for c, hints in cols.items() if hints.get("unique") and not c.startswith("_dlt")]
        keys[table] = primary or unique[:1]
    return keys


def _previous(ws: Workspace) -> dict[str, TableInfo]:
    try:
        return load_catalog(ws, refresh_if_missing=False).tables
    except (WarehouseError, ValueError, KeyError, TypeError):
        return {}


def _unchanged(info: TableInfo, before: TableInfo | None) -> bool:
    """Same rows, columns and last write as at the previous refresh: its key checks still hold."""
    return (
        before is not None
        and before.rows == info.rows
        and before.updated_at == info.updated_at
        and [(c.name, c.type) for c in before.columns] == [(c.name, c.type) for c in info.columns]
    )


def _assign_keys(
    con: Any,
    tables: dict[str, TableInfo],
    declared: dict[str, list[str]],
    previous: dict[str, TableInfo] | None = None,
) -> None:
    """Key roles per column. When no table changed since the previous refresh (same tables, rows,
    columns, last writes and declared keys) the roles found then still hold and are reused."""
    previous = previous or {}
    for name, keys in declared.items():
        tables[name].primary_key = keys
    same = set(previous) == set(tables) and all(
        _unchanged(info, previous[name])
        and (name not in declared or declared[name] == previous[name].primary_key)
        for name, info in tables.items()
    )
    reused = set()
    if same:
        for name, info in tables.items():
            info.primary_key = list(previous[name].primary_key)
            info.columns = [ColumnInfo(**c.__dict__) for c in previous[name].columns]
            reused.add(name)
    # single-column keys that other tables may reference, by column name
    targets: dict[str, list[str]] = {}
    for name, info in tables.items():
        if len(info.primary_key) == 1:
            targets.setdefault(info.primary_key[0], []).append(name)
    for name, info in tables.items():
        if name in reused:
            continue
        for col in info.columns:
            if col.name in info.primary_key and len(info.primary_key) == 1:
                col.role = "PK"
                continue
            for target in targets.get(col.name, []):
                target_col = tables[target].column(col.name)
                comparable = target_col is not None and target_col.type == col.type
                if target != name and comparable and _contained(con, info, col.name, tables[target]):
                    col.role, col.references = "FK", f"{target}.{col.name}"
                    break
            else:
                if col.name in info.primary_key:
                    col.role = "PK"
    # undeclared tables: a verified-unique id column that references nothing is the key
    for name, info in tables.items():
        if name in reused or info.primary_key or info.rows == 0:
            continue
        for col in info.columns:
            if (
                col.role is None
                and (col.name == "id" or col.name.endswith("_id"))
                and _unique(con, info, col.name)
            ):
                col.role = "PK"
                info.primary_key = [col.name]
                break


def _contained(con: Any, table: TableInfo, column: str, target: TableInfo) -> bool:
    (missing,) = con.execute(
        f'SELECT count(*) FROM (SELECT DISTINCT "{column}" AS v FROM {table.sql}'
        f' WHERE "{column}" IS NOT NULL) WHERE v NOT IN (SELECT "{column}" FROM {target.sql})'
    ).fetchone()
    (present,) = con.execute(f'SELECT count("{column}") FROM {table.sql}').fetchone()
    return bool(present) and missing == 0


#: integer columns whose span (max - min + 1) is at most this are checked with a marks array (4 bytes a
#: value, so at most 256 MB) instead of DuckDB's count(DISTINCT)
DENSE_SPAN = 1 << 26
INTEGER_TYPES = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"})


def _unique(con: Any, table: TableInfo, column: str) -> bool:
    """Exactly whether ``column`` is non-null and unique in ``table``."""
    col = table.column(column)
    if col is not None and col.type.upper() in INTEGER_TYPES:
        (rows, present, low, high) = con.execute(
            f'SELECT count(*), count("{column}"), min("{column}"), max("{column}") FROM {table.sql}'
        ).fetchone()
        if rows == 0 or present < rows:
            return False
        span = int(high) - int(low) + 1
        if rows > span:  # more rows than distinct values the range can hold
            return False
        if span <= min(DENSE_SPAN, max(4 * rows, 1 << 20)):
            return _dense_unique(con, table, column, int(low), span)
    if table.rows > 1_000_000:
        # a repeat inside a 1% block sample proves the column is no key, for 10 ms instead of an exact
        # count (HyperLogLog's estimate, used before, can be 25% low on sequential ids: not a proof)
        (repeats,) = con.execute(
            f'SELECT count("{column}") - count(DISTINCT "{column}") FROM '
            f'(SELECT "{column}" FROM {table.sql} USING SAMPLE 1% (system))'
        ).fetchone()
        if repeats:
            return False
    (rows, distinct, nulls) = con.execute(
        f'SELECT count(*), count(DISTINCT "{column}"), count(*) - count("{column}") FROM {table.sql}'
    ).fetchone()
    return rows > 0 and rows == distinct and nulls == 0


def _dense_unique(con: Any, table: TableInfo, column: str, low: int, span: int) -> bool:
    """One streaming pass over an integer column that stops at the first repeated value: ``marks[v]``
    holds the (1-based) position of the row that last wrote value v. A value seen in an earlier batch
    leaves a mark; two equal values in one batch leave one of them overwritten. Six times faster than
    count(DISTINCT) on 28M ids (0.7 s against 4.6 s on two cores) and linear, not hashing."""
    import numpy as np

    marks = np.zeros(span, dtype=np.int32)  # positions <= rows <= span <= DENSE_SPAN fit in int32
    reader = con.execute(f'SELECT "{column}" FROM {table.sql}').to_arrow_reader(1 << 20)
    seen = 0
    for batch in reader:
        values = batch.column(0).to_numpy(zero_copy_only=False).astype(np.int64) - low
        position = np.arange(seen + 1, seen + 1 + len(values), dtype=marks.dtype)
        if marks[values].any():
            return False
        marks[values] = position
        if not np.array_equal(marks[values], position):
            return False
        seen += len(values)
    return True


def _owners_from_data(con: Any, tables: dict[str, TableInfo]) -> None:
    """A ``last_modified_by`` column names the table's owner (its most frequent value)."""
    for info in tables.values():
        if info.column("last_modified_by") is not None and info.rows:
            row = con.execute(
                f"SELECT last_modified_by FROM {info.sql} GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
            ).fetchone()
            info.owner = row[0] if row else None


def _times(ws: Workspace, tables: dict[str, TableInfo], writes: Path) -> None:
    """Created/updated times and origins from the sync journal and the warehouse's write journal."""
    from matih.sources.runs import history

    for run in history(ws):
        if run.status != "succeeded":
            continue
        for stream in run.streams:
            for table in stream.tables:
                name = f"{run.destination}.{table}"
                if name in tables:
                    info = tables[name]
                    info.origin = f"source:{run.source} ({stream.name} stream)"
                    info.created_at = info.created_at or run.started_at
                    info.updated_at = run.ended_at
    if writes.is_file():
        for line in writes.read_text().splitlines():
            entry = json.loads(line)
            written = tables.get(entry["table"])
            if written is not None:
                written.origin = written.origin or "sql"
                if entry["mode"] == "overwrite" or not written.created_at:
                    written.created_at = entry["at"]
                written.updated_at = entry["at"]

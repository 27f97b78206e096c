"""Two tables compared row by row on their keys, floating-point columns within a relative tolerance.

DuckDB's parallel aggregates (STDDEV over a window, SUM of doubles) may combine partial results in a
different order from one run to the next, so two full builds of one query can differ in the last bit of a
double: equality of doubles is asked to a tolerance, everything else exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from matih.exceptions import WarehouseError
from matih.warehouse.duckdb_warehouse import Warehouse
from matih.warehouse.names import TableName

_FLOATS = {"DOUBLE", "FLOAT", "REAL"}


def differing_rows(wh: Warehouse, a: str, b: str, keys: Sequence[str], rel_tol: float = 1e-9) -> int:
    """Rows of ``a`` and ``b`` that do not match on ``keys`` with equal values: a key in one table only
    counts once, a key in both with any differing column counts once. Keys are assumed unique in each;
    tables with different columns are refused."""
    ta, tb = TableName.parse(a), TableName.parse(b)
    columns = {r["column_name"]: r["column_type"] for r in wh.query(f"DESCRIBE {ta}").to_pylist()}
    other = {r["column_name"] for r in wh.query(f"DESCRIBE {tb}").to_pylist()}
    if set(columns) != other:
        raise WarehouseError(f"{ta} and {tb} have different columns: {sorted(set(columns) ^ other)}")
    on = " AND ".join(f"x.{k} = y.{k}" for k in keys)
    same = []
    for name, kind in columns.items():
        if name in keys:
            continue
        if kind.upper() in _FLOATS:
            same.append(
                f"((x.{name} IS NULL AND y.{name} IS NULL) OR coalesce("
                f"abs(x.{name} - y.{name}) <= {rel_tol!r} * greatest(abs(x.{name}), abs(y.{name})), false))"
            )
        else:
            same.append(f"x.{name} IS NOT DISTINCT FROM y.{name}")
    missing = " OR ".join(f"x.{k} IS NULL OR y.{k} IS NULL" for k in keys)
    query = (
        f"SELECT count(*) AS n FROM {ta} AS x FULL OUTER JOIN {tb} AS y ON {on} "
        f"WHERE {missing} OR NOT ({' AND '.join(same) or 'true'})"
    )
    return int(wh.query(query).column(0)[0].as_py())

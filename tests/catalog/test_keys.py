"""Key detection's uniqueness test is exact: a streaming pass for dense integer ids (stopping at the
first repeat, in one batch or across batches), DuckDB's count(DISTINCT) for the rest, after a block
sample that can only prove repeats."""

from __future__ import annotations

import duckdb
import pytest

from matih.catalog import tables as T


def _table(con: duckdb.DuckDBPyConnection, name: str, sql: str) -> T.TableInfo:
    con.execute(f"CREATE OR REPLACE TABLE {name} AS {sql}")
    described = con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {name})").fetchall()
    columns = [T.ColumnInfo(name=c, type=t) for c, t in described]
    (rows,) = con.execute(f"SELECT count(*) FROM {name}").fetchone()
    return T.TableInfo(name=name, columns=columns, rows=rows)


N = 3_000_000  # three batches of the streaming pass, and above the sample's threshold


@pytest.mark.parametrize(
    ("sql", "unique"),
    [
        # shuffled dense ids: unique
        (f"SELECT i AS id FROM range({N}) t(i) ORDER BY hash(i)", True),
        # one repeat inside the first batch, and one repeat across batches (the first and last rows)
        (f"SELECT CASE WHEN i = 5 THEN 4 ELSE i END AS id FROM range({N}) t(i)", False),
        (f"SELECT CASE WHEN i = {N - 1} THEN 0 ELSE i END AS id FROM range({N}) t(i)", False),
        # a null is no key; nor are more rows than the range has values
        (f"SELECT CASE WHEN i = 7 THEN NULL ELSE i END AS id FROM range({N}) t(i)", False),
        ("SELECT i % 10 AS id FROM range(1000) t(i)", False),
        # sparse integers and strings take the exact count
        (f"SELECT i * 1000000007 AS id FROM range({N}) t(i)", True),
        (f"SELECT CASE WHEN i = 9 THEN 8 ELSE i END * 1000000007 AS id FROM range({N}) t(i)", False),
        (f"SELECT 'gid://shopify/Order/' || i AS id FROM range({N}) t(i)", True),
        (f"SELECT 'P' || (i % 40000) AS id FROM range({N}) t(i)", False),
        # HyperLogLog's estimate is 25% low on these sequential ids; the old pre-check called them repeated
        ("SELECT 40000000 + i AS id FROM range(45291) t(i)", True),
    ],
)
def test_unique_is_exact(sql: str, unique: bool) -> None:
    con = duckdb.connect()
    info = _table(con, "t", sql)
    assert T._unique(con, info, "id") is unique
    con.close()

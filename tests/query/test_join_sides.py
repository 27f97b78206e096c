"""``join_build_side: auto`` learns from DuckDB's profile of real runs which side each hash join builds on."""

from __future__ import annotations

import json

import pytest

from matih.query.join_sides import JoinSides, misbuilt_joins, run_into
from matih.warehouse import Warehouse
from matih.workspace import Workspace
from tests.shop_sql import DAILY, shop_warehouse
from tests.shop_sql import FEATURES as SHOP_FEATURES

FEATURES = f"CREATE TABLE analytics.derived.features AS {SHOP_FEATURES}"
# the large side written on the right: building on it is what the SQL says, so the trial cannot help
WRITTEN_LARGE_ON_THE_RIGHT = f"""
CREATE TABLE analytics.derived.by_product AS
WITH daily AS ({DAILY}),
twice AS (SELECT a.* FROM daily a JOIN daily b ON a.product_id = b.product_id AND a.day = b.day)
SELECT d.product_id, d.category, t.day, t.units
FROM shopdb.shop.products d LEFT JOIN twice t ON d.product_id = t.product_id
"""


@pytest.fixture
def shop(tmp_path) -> tuple[Workspace, Warehouse]:
    ws = Workspace(tmp_path / "ws")
    ws.ensure_state()
    return ws, shop_warehouse(ws.warehouse_dir)


def _rows(wh: Warehouse, table: str) -> list[tuple]:
    return sorted(wh.query(f"SELECT * FROM {table}").to_pandas().itertuples(index=False))


def test_a_misbuilt_join_is_found_in_the_profile_duckdb_measured(shop) -> None:
    _, wh = shop
    result = wh.run(FEATURES, profile=True)[-1]
    assert result.profile is not None
    (bad,) = misbuilt_joins(result.profile)
    assert bad.build_rows == 60000 and bad.probe_rows == 3000 and bad.estimated_rows < 600
    assert "product_id" in bad.conditions
    # built on the written side, the same statement has none
    written = wh.run(FEATURES, profile=True, join_build_side="as_written")[-1]
    assert written.profile is not None and misbuilt_joins(written.profile) == []


def test_auto_tries_the_written_sides_after_a_misbuilt_run_and_keeps_them(shop) -> None:
    ws, wh = shop
    target = "analytics.derived.features"
    first, note = run_into(ws, wh, FEATURES, target)
    assert (
        "built on 60,000 rows" in note and "the next run builds each join on its written right side" in note
    )
    reference = _rows(wh, target)
    sides = JoinSides(ws, FEATURES)
    assert sides.side() == "as_written" and sides.state["trial"]

    second, note = run_into(ws, wh, FEATURES, target)
    assert "kept" in note
    assert _rows(wh, target) == reference
    assert second.rows == first.rows == len(reference)
    sides = JoinSides(ws, FEATURES)
    assert sides.side() == "as_written" and sides.settled

    third, note = run_into(ws, wh, FEATURES, target)
    assert third.profile is None  # settled: nothing left to learn, so no profiling
    assert note == "joins built as written (learnt from an earlier run)"
    # another statement starts from the engine's choice
    assert JoinSides(ws, FEATURES.replace("r7", "rolling_7")).side() == "estimated"


def test_auto_goes_back_to_the_engine_for_good_when_the_trial_does_not_help(shop) -> None:
    ws, wh = shop
    target = "analytics.derived.by_product"
    _, note = run_into(ws, wh, WRITTEN_LARGE_ON_THE_RIGHT, target)
    assert "the next run builds each join on its written right side" in note
    _, note = run_into(ws, wh, WRITTEN_LARGE_ON_THE_RIGHT, target)
    assert "did not help" in note and "back to the engine's choice" in note
    sides = JoinSides(ws, WRITTEN_LARGE_ON_THE_RIGHT)
    assert sides.side() == "estimated" and sides.state["pinned"]
    _, note = run_into(ws, wh, WRITTEN_LARGE_ON_THE_RIGHT, target)
    assert note == ""


def test_a_slower_trial_is_not_kept(shop) -> None:
    ws, _ = shop
    sides = JoinSides(ws, FEATURES)
    bad = {
        "operator_name": "HASH_JOIN",
        "extra_info": {"Conditions": "a = a"},
        "children": [
            {
                "operator_name": "SEQ_SCAN",
                "operator_cardinality": 10,
                "extra_info": {"Estimated Cardinality": "10"},
            },
            {
                "operator_name": "PROJECTION",
                "operator_cardinality": 90000,
                "children": [
                    {
                        "operator_name": "HASH_GROUP_BY",
                        "operator_cardinality": 90000,
                        "extra_info": {"Estimated Cardinality": "40"},
                    }
                ],
            },
        ],
    }
    assert len(misbuilt_joins(bad)) == 1  # the estimate is read through the projection
    sides.learn("estimated", bad, 10.0)
    assert sides.side() == "as_written"
    fine = {"operator_name": "CREATE_TABLE_AS", "children": []}
    assert "did not help" in sides.learn("as_written", fine, 13.0)  # 1.3x the engine's run
    assert json.loads(sides.path.read_text())["pinned"] is True


def test_explicit_settings_are_not_learnt(shop) -> None:
    ws, wh = shop
    result, note = run_into(ws, wh, FEATURES, "analytics.derived.features", join_build_side="estimated")
    assert note == "" and result.profile is None
    assert not JoinSides(ws, FEATURES).path.exists()


def test_a_locked_configuration_writes_without_a_profile(tmp_path) -> None:
    # the HTTP API runs untrusted SQL with DuckDB's configuration locked: profiling cannot be turned on
    wh = Warehouse(tmp_path / "wh", external_access=False)
    result = wh.run("CREATE TABLE analytics.x.t AS SELECT range AS a FROM range(10)", profile=True)[-1]
    assert result.rows == 10 and result.profile is None


def test_a_profiled_write_whose_sum_overflows_bigint_is_retried_as_without_a_profile(tmp_path) -> None:
    # the sum of squares below 4M exceeds BIGINT: the narrowed write fails and is retried as HUGEINT
    wh = Warehouse(tmp_path / "wh")
    sql = "CREATE TABLE analytics.x.big AS SELECT sum(i * i) AS s FROM range(0, 4000000) t(i)"
    result = wh.run(sql, profile=True)[-1]
    assert result.rows == 1 and result.profile is not None
    assert wh.columns("analytics.x.big") == [("s", "HUGEINT")]


def test_a_damaged_record_is_learnt_again(tmp_path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.ensure_state()
    sides = JoinSides(ws, FEATURES)
    sides.path.parent.mkdir(parents=True, exist_ok=True)
    sides.path.write_text('{"side": "as_wri')  # a write cut short
    again = JoinSides(ws, FEATURES)
    assert again.side() == "estimated" and not again.settled

"""The seed's suite with Great Expectations, as SQL in the DuckDB warehouse: it passes on a clean world,
each seeded defect fails exactly its expectation with the right count and rows, and the results equal
GX's own (its pandas engine) on the same data."""

from __future__ import annotations

import json
from typing import Any

import pytest

from matih.exceptions import SpecError
from matih.quality.suites import history, run_suite
from matih.warehouse import warehouse_of

SUITE = "demand_features_validation"
FEATURES = "analytics.derived.demand_features"


def first_row(ws: Any) -> tuple[str, Any]:
    row = (
        warehouse_of(ws)
        .query(
            f"SELECT product_id, sale_date FROM {FEATURES} ORDER BY product_id, sale_date LIMIT 1 OFFSET 500"
        )
        .to_pylist()[0]
    )
    return row["product_id"], row["sale_date"]


def defective(ws: Any, name: str, change: str) -> str:
    """A copy of demand_features with one seeded defect; ``change`` is a REPLACE list or 'duplicate'."""
    product, day = first_row(ws)
    target = f"analytics.derived.defect_{name}"
    hit = f"product_id = '{product}' AND sale_date = DATE '{day}'"
    if change == "duplicate":
        sql = f"SELECT * FROM {FEATURES} UNION ALL SELECT * FROM {FEATURES} WHERE {hit}"
    else:
        column, value = change.split("=")
        sql = f"SELECT * REPLACE (CASE WHEN {hit} THEN {value} ELSE {column} END AS {column}) FROM {FEATURES}"
    warehouse_of(ws).run(sql, target=target)
    return target


def test_the_seed_suite_passes_on_a_clean_world(quality_ws):
    run = run_suite(quality_ws, SUITE)
    assert run.table == FEATURES  # found from the suite's name
    assert run.success and [r.success for r in run.results] == [True] * 4
    rows = warehouse_of(quality_ws).query(f"SELECT count(*) AS n FROM {FEATURES}").column("n")[0].as_py()
    assert all(r.element_count == rows and r.unexpected_count == 0 for r in run.results)
    assert history(quality_ws, SUITE)[0].run_id == run.run_id


@pytest.mark.parametrize(
    ("name", "change", "failing", "count"),
    [
        ("negative_units", "units_sold=-3", 0, 1),
        ("zero_price", "avg_selling_price=0.0", 1, 1),
        ("null_rolling", "sales_rolling_7d=NULL", 2, 1),
        ("duplicate_key", "duplicate", 3, 2),  # both rows of the duplicated (product_id, sale_date)
    ],
)
def test_each_seeded_defect_fails_exactly_its_expectation(quality_ws, name, change, failing, count):
    table = defective(quality_ws, name, change)
    product, day = first_row(quality_ws)
    run = run_suite(quality_ws, SUITE, table=table)
    assert not run.success
    assert [r.success for r in run.results] == [i != failing for i in range(4)]
    bad = run.results[failing]
    assert bad.unexpected_count == count
    rows = warehouse_of(quality_ws).query(f"SELECT count(*) AS n FROM {table}").column("n")[0].as_py()
    assert bad.unexpected_percent == pytest.approx(100 * count / rows)
    # the sample rows name the offending row by its key
    assert {(s["product_id"], str(s["sale_date"])) for s in bad.samples} == {(product, str(day))}
    if change != "duplicate":
        column, value = change.split("=")
        assert [s[column] for s in bad.samples] == [None if value == "NULL" else float(value)]


def test_warn_level_expectations_report_without_failing_the_suite(quality_ws):
    suite = {
        "suite_name": "soft_checks",
        "expectations": [
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "units_sold", "max_value": 5},
                "severity": "warn",
            },
            {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
        ],
    }
    (quality_ws.root / "quality" / "soft_checks.json").write_text(json.dumps(suite))
    run = run_suite(quality_ws, "soft_checks", table=FEATURES)
    assert run.success and not run.results[0].success and run.results[0].unexpected_count > 0


COMMON = [
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1000, "max_value": 10_000_000}},
    {"type": "expect_column_to_exist", "kwargs": {"column": "units_sold"}},
    {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "category", "value_set": ["Beauty", "Electronics", "Jewelry"]},
    },
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "product_id"}},
    {
        "type": "expect_column_values_to_match_regex",
        "kwargs": {"column": "product_id", "regex": "^PRD-100[0-9]{2}"},
    },
    {"type": "expect_column_values_to_not_match_regex", "kwargs": {"column": "product_id", "regex": "9$"}},
    {
        "type": "expect_column_mean_to_be_between",
        "kwargs": {"column": "units_sold", "min_value": 1, "max_value": 60},
    },
    {"type": "expect_column_max_to_be_between", "kwargs": {"column": "avg_selling_price", "max_value": 100}},
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "units_sold", "min_value": 0, "max_value": 10000},
    },
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "sales_rolling_7d"}},
    {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["product_id", "sale_date"]}},
]


def test_results_equal_great_expectations_own_on_pandas(quality_ws):
    """Parity: the same expectations on the same rows through GX's pandas engine (no fixes involved)."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    table = defective(quality_ws, "parity", "sales_rolling_7d=NULL")
    (quality_ws.root / "quality" / "common.json").write_text(
        json.dumps({"suite_name": "common", "expectations": COMMON})
    )
    ours = run_suite(quality_ws, "common", table=table)
    frame = warehouse_of(quality_ws).query(f"SELECT * FROM {table}").to_pandas()
    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_pandas("p")
        .add_dataframe_asset("f")
        .add_batch_definition_whole_dataframe("all")
    )
    expectations = [
        getattr(gxe, "".join(p.capitalize() for p in e["type"].split("_")))(**e["kwargs"]) for e in COMMON
    ]
    suite = context.suites.add(gx.ExpectationSuite(name="common", expectations=expectations))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="v", data=batch, suite=suite)
    )
    theirs = definition.run(batch_parameters={"dataframe": frame}, result_format={"result_format": "SUMMARY"})
    by_id = {r.expectation_config.id: r for r in theirs.results}
    assert {r.success for r in ours.results} == {True, False}  # the comparison covers both outcomes
    for mine, expectation in zip(ours.results, expectations, strict=True):
        gx_result = by_id[expectation.id]
        assert mine.error is None, mine
        assert mine.success == gx_result.success, mine.type
        raw = gx_result.result
        assert mine.unexpected_count == raw.get("unexpected_count"), mine.type
        if raw.get("unexpected_percent") is not None:
            assert mine.unexpected_percent == pytest.approx(raw["unexpected_percent"], rel=1e-9), mine.type
        observed = raw.get("observed_value")
        if isinstance(observed, float):
            assert mine.observed == pytest.approx(observed, rel=1e-9), mine.type
        else:
            assert mine.observed == observed, mine.type


def test_freshness_of_a_date_column(quality_ws):
    last = (
        warehouse_of(quality_ws).query(f"SELECT max(sale_date) AS d FROM {FEATURES}").column("d")[0].as_py()
    )
    import datetime as dt

    age = (dt.datetime.now(dt.UTC).date() - last).days
    suite = {
        "suite_name": "fresh",
        "expectations": [
            {
                "type": "expect_column_max_to_be_recent",
                "kwargs": {"column": "sale_date", "max_age": f"{age + 2}d"},
            },
            {
                "type": "expect_column_max_to_be_recent",
                "kwargs": {"column": "sale_date", "max_age": f"{age - 2}d"},
            },
        ],
    }
    (quality_ws.root / "quality" / "fresh.json").write_text(json.dumps(suite))
    run = run_suite(quality_ws, "fresh", table=FEATURES)
    assert [r.success for r in run.results] == [True, False]
    assert str(run.results[1].observed) == str(last)


def test_bad_suites_name_the_file_field_and_fix(quality_ws):
    suite = {
        "suite_name": "broken",
        "expectations": [{"type": "expect_column_values_to_be_sparkly", "kwargs": {"column": "x"}}],
    }
    (quality_ws.root / "quality" / "broken.json").write_text(json.dumps(suite))
    with pytest.raises(SpecError) as err:
        run_suite(quality_ws, "broken", table=FEATURES)
    assert "quality/broken.json:$.expectations[0].type" in str(err.value) and "sparkly" in str(err.value)
    suite["expectations"] = [
        {"type": "expect_column_values_to_be_between", "kwargs": {"colum": "units_sold"}}
    ]
    (quality_ws.root / "quality" / "broken.json").write_text(json.dumps(suite))
    with pytest.raises(SpecError) as err:
        run_suite(quality_ws, "broken", table=FEATURES)
    assert "$.expectations[0].kwargs" in str(err.value)
    suite["expectations"] = [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "no_such_col"}}
    ]
    (quality_ws.root / "quality" / "broken.json").write_text(json.dumps(suite))
    run = run_suite(quality_ws, "broken", table=FEATURES)
    assert not run.success and "no_such_col" in (run.results[0].error or "")

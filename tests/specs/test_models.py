"""The seed documents parse, round-trip, and expose the helpers other modules rely on."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from matih.specs import (
    SPEC_KINDS,
    DeploymentSpec,
    MonitorSpec,
    PipelineSpec,
    RoutingSpec,
    SourceSpec,
    WorkspaceSettings,
    load_spec,
    parse_mlflow_uri,
    parse_reassign_condition,
    parse_retrain_condition,
)
from matih.specs.monitor import AccuracyTrackingMonitor, AutomaticRetrainingMonitor, RetrainTrigger
from matih.specs.source import GoogleAnalyticsConfig, PostgresConfig, ShopifyConfig
from matih.specs.tasks import ModelEvaluateTask, RayTrainTask, SqlExecuteTask

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "novamart"
SEED_DOCUMENTS = sorted(str(p.relative_to(EXAMPLE)) for p in EXAMPLE.glob("*/*.json"))


def test_every_seed_folder_is_a_known_kind() -> None:
    assert {Path(rel).parent.name for rel in SEED_DOCUMENTS} == set(SPEC_KINDS)


@pytest.mark.parametrize("relative", SEED_DOCUMENTS)
def test_seed_document_loads_and_round_trips(relative: str) -> None:
    path = EXAMPLE / relative
    model = load_spec(path)
    assert isinstance(model, SPEC_KINDS[path.parent.name])
    original = json.loads(path.read_text())
    assert model.model_dump(mode="json", exclude_unset=True) == original
    # a full dump (defaults included) parses back to the same content
    full = model.model_dump(mode="json")
    assert type(model).model_validate(full).model_dump(mode="json") == full


@pytest.mark.parametrize("kind", sorted(SPEC_KINDS))
def test_json_schema_is_available(kind: str) -> None:
    schema = SPEC_KINDS[kind].model_json_schema()
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False


def test_sources_are_named_by_file_stem_and_typed_by_connector() -> None:
    shopify = load_spec(EXAMPLE / "sources" / "shopify-orders.json")
    inventory = load_spec(EXAMPLE / "sources" / "inventory-db.json")
    ga = load_spec(EXAMPLE / "sources" / "google-analytics.json")
    assert isinstance(shopify, SourceSpec) and isinstance(shopify.config, ShopifyConfig)
    assert shopify.name == "shopify-orders"
    # secrets stay literal after parsing
    assert shopify.config.credentials.api_password == "${SHOPIFY_API_KEY}"
    assert isinstance(inventory, SourceSpec) and isinstance(inventory.config, PostgresConfig)
    assert inventory.config.mode == "ingest"
    assert inventory.streams[1].cursor_field == "updated_at"
    assert isinstance(ga, SourceSpec) and isinstance(ga.config, GoogleAnalyticsConfig)
    assert ga.config.date_ranges_start_date == date(2024, 1, 1)
    assert ga.transformation is not None and ga.transformation.deduplication is not None
    assert ga.transformation.deduplication.strategy == "last_write_wins"


def test_file_source_config() -> None:
    spec = SourceSpec.model_validate(
        {
            "connector": "source-file",
            "config": {"path": "data/orders/*.csv", "format": "csv", "table": "shopify.orders"},
            "streams": [{"name": "orders", "sync_mode": "full_refresh", "primary_key": ["order_id"]}],
            "schedule": {"type": "cron", "expression": "0 * * * *"},
        }
    )
    assert spec.name is None
    assert spec.config.model_dump() == {
        "path": "data/orders/*.csv",
        "format": "csv",
        "table": "shopify.orders",
    }


@pytest.fixture(scope="module")
def pipeline() -> PipelineSpec:
    model = load_spec(EXAMPLE / "pipelines" / "demand-forecast-daily.json")
    assert isinstance(model, PipelineSpec)
    return model


def test_pipeline_tasks_are_typed(pipeline: PipelineSpec) -> None:
    assert pipeline.timeout == timedelta(hours=2)
    sql = pipeline.task("feature_engineering")
    assert isinstance(sql, SqlExecuteTask)
    assert sql.config.query_name == "demand_features"
    assert sql.retry_policy is not None and sql.retry_policy.initial_interval == timedelta(seconds=60)
    assert sql.config.join_build_side == "auto"  # the seed's spec as written: learnt from its runs
    train = pipeline.task("model_training")
    assert isinstance(train, RayTrainTask)
    hp = train.config.hyperparameters
    assert (hp.forecast_horizon, hp.series_column, hp.date_column, hp.target_column) == (
        14,
        "product_id",
        "sale_date",
        "units_sold",
    )
    assert (hp.min_history_days, hp.interval_level, hp.feature_columns) == (30, 0.8, None)
    assert train.config.ray_config.resources_per_worker["memory"] == 4294967296
    evaluate = pipeline.task("model_validation")
    assert isinstance(evaluate, ModelEvaluateTask)
    assert evaluate.config.thresholds.bias_range == (-0.05, 0.05)
    assert evaluate.config.holdout_days == 14


def test_pipeline_task_lookup_names_known_ids(pipeline: PipelineSpec) -> None:
    with pytest.raises(KeyError, match="sync_sources"):
        pipeline.task("nope")


def test_topological_order_respects_dependencies() -> None:
    spec = PipelineSpec.model_validate(
        {
            "pipeline_id": "p",
            "name": "P",
            "schedule": "0 2 * * *",
            "timeout": "1h",
            "tasks": [
                {
                    "task_id": "c",
                    "type": "batch_inference",
                    "depends_on": ["a", "b"],
                    "config": {"output_table": "t"},
                },
                {"task_id": "b", "type": "quality_check", "depends_on": ["a"], "config": {"suite": "s"}},
                {"task_id": "a", "type": "ingestion_trigger", "config": {"connections": ["x"]}},
            ],
        }
    )
    assert [t.task_id for t in spec.topological_order()] == ["a", "b", "c"]


def test_seed_pipeline_order_is_the_declared_chain(pipeline: PipelineSpec) -> None:
    assert [t.task_id for t in pipeline.topological_order()] == [t.task_id for t in pipeline.tasks]


def test_deployment_models() -> None:
    spec = load_spec(EXAMPLE / "deployments" / "demand-forecaster.json")
    assert isinstance(spec, DeploymentSpec)
    assert spec.model_names() == ["demand-forecast-daily", "demand-forecast-global-fallback"]


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("mlflow://demand-forecast-daily/latest", ("demand-forecast-daily", "latest")),
        ("mlflow://m/3", ("m", "3")),
        ("mlflow://m.v2/champion", ("m.v2", "champion")),
    ],
)
def test_parse_mlflow_uri(uri: str, expected: tuple[str, str]) -> None:
    assert parse_mlflow_uri(uri) == expected


@pytest.mark.parametrize("uri", ["models:/m/1", "mlflow://m", "mlflow:///latest", "mlflow://m/latest/x"])
def test_parse_mlflow_uri_rejects(uri: str) -> None:
    with pytest.raises(ValueError, match=re.escape("mlflow://<model-name>/<version|latest|alias>")):
        parse_mlflow_uri(uri)


def test_monitor_condition_is_parsed() -> None:
    spec = load_spec(EXAMPLE / "monitors" / "demand-forecast-production.json")
    assert isinstance(spec, MonitorSpec)
    retrain = spec.monitors[3]
    assert isinstance(retrain, AutomaticRetrainingMonitor)
    condition = retrain.trigger.parsed_condition
    assert (condition.metric, condition.op, condition.threshold, condition.days) == (
        "mape_overall",
        ">",
        0.12,
        3,
    )
    assert condition.holds(0.13) and not condition.holds(0.12)


def test_accuracy_thresholds_are_one_number_or_per_category() -> None:
    raw = json.loads((EXAMPLE / "monitors" / "demand-forecast-production.json").read_text())
    accuracy = raw["monitors"][0]
    seed = MonitorSpec.model_validate(raw).monitors[0]
    assert isinstance(seed, AccuracyTrackingMonitor)
    assert seed.threshold_for("ALL") == seed.threshold_for("Swimwear") == 0.15
    accuracy["alert_threshold"] = {"default": 0.2, "overall": 0.12, "Swimwear": 0.45}
    per = MonitorSpec.model_validate(raw).monitors[0]
    assert isinstance(per, AccuracyTrackingMonitor)
    assert (per.threshold_for("ALL"), per.threshold_for("Swimwear"), per.threshold_for("Beauty")) == (
        0.12,
        0.45,
        0.2,
    )
    accuracy["alert_threshold"] = {"Swimwear": 0.45}
    with pytest.raises(ValidationError, match="needs a 'default'"):
        MonitorSpec.model_validate(raw)


@pytest.mark.parametrize(
    "text",
    ["mape_overall > 0.12", "mape_overall is high for 3 consecutive days", "> 0.1 for 2 consecutive days"],
)
def test_retrain_condition_rejects_other_forms(text: str) -> None:
    with pytest.raises(ValueError, match="<metric> <op> <number> for <N> consecutive days"):
        parse_retrain_condition(text)


def test_retrain_condition_against_the_metric_s_own_baseline() -> None:
    relative = parse_retrain_condition("mape[Toys & Games] > mape_baseline[Toys & Games] * 1.5 for 3 days")
    assert relative.relative and relative.threshold == 1.5 and relative.measure == ("mape", "Toys & Games")
    assert relative.holds(0.31, 0.2) and not relative.holds(0.29, 0.2)
    overall = parse_retrain_condition("bias_overall < bias_baseline_overall for 2 consecutive days")
    assert overall.relative and overall.threshold == 1.0 and overall.measure == ("bias", None)
    assert not parse_retrain_condition("mape_overall > 0.12 for 3 consecutive days").relative


@pytest.mark.parametrize(
    ("text", "fix"),
    [
        ("mape[Toys] > mape_baseline[Books] * 1.5 for 3 days", "must be a number or mape_baseline[Toys]"),
        ("mape_overall > rmse_baseline_overall * 2 for 3 days", "must be a number or mape_baseline_overall"),
        ("mape_overall > current_mape for 3 days", "must be a number or mape_baseline_overall"),
        ("mape_baseline_overall > 0.2 for 3 days", "unknown metric 'mape_baseline_overall'"),
    ],
)
def test_a_baseline_on_the_wrong_side_or_of_another_metric_is_refused(text: str, fix: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fix)):
        parse_retrain_condition(text)


def test_baseline_days_without_a_baseline_in_the_condition_is_refused() -> None:
    trigger = {"action": "trigger_pipeline", "pipeline_id": "demand-forecast-daily", "baseline_days": 14}
    relative = RetrainTrigger.model_validate(
        {**trigger, "condition": "mape_overall > mape_baseline_overall * 1.5 for 3 days"}
    )
    assert relative.baseline_days == 14
    with pytest.raises(ValidationError, match="remove baseline_days"):
        RetrainTrigger.model_validate({**trigger, "condition": "mape_overall > 0.12 for 3 days"})


def test_an_alert_baseline_must_be_above_one_and_long_enough() -> None:
    raw = json.loads((EXAMPLE / "monitors" / "demand-forecast-production.json").read_text())
    raw["monitors"][0]["baseline"] = {"factor": 1.5}
    accuracy = MonitorSpec.model_validate(raw).monitors[0]
    assert isinstance(accuracy, AccuracyTrackingMonitor) and accuracy.baseline is not None
    assert (accuracy.baseline.factor, accuracy.baseline.days) == (1.5, 28)
    for bad in ({"factor": 0.9}, {"factor": 1.5, "days": 3}, {"factor": 1.5, "window": 28}):
        raw["monitors"][0]["baseline"] = bad
        with pytest.raises(ValidationError):
            MonitorSpec.model_validate(raw)


def test_routing() -> None:
    spec = load_spec(EXAMPLE / "routing" / "per-category.json")
    assert isinstance(spec, RoutingSpec)
    assert spec.model_for("Swimwear") == "prophet"
    assert spec.model_for("Clothing") == "lstm"
    assert spec.model_for("Electronics") == "lightgbm"
    assert spec.auto_reassign is not None
    assert spec.auto_reassign.parsed_condition == parse_reassign_condition(
        "alternative_model_mape < current_mape * 0.9 for 30 days"
    )
    assert (spec.auto_reassign.parsed_condition.factor, spec.auto_reassign.parsed_condition.days) == (0.9, 30)


@pytest.mark.parametrize(
    "text",
    [
        "current_mape < alternative_model_mape * 0.9 for 30 days",
        "alternative_model_mape > current_mape * 0.9 for 30 days",
        "alternative_model_mape < current_rmse * 0.9 for 30 days",
        "alternative_model_bias < current_bias for 3 days",
        "alternative_model_mape < current_mape * 1.5 for 30 days",
        "alternative_model_mape < 0.1 for 30 days",
        "current_mape * 0.9 for 30 days",
        "",
    ],
)
def test_reassign_condition_rejects_other_forms(text: str) -> None:
    with pytest.raises(ValueError, match="alternative_model_<metric> < current_<metric>"):
        parse_reassign_condition(text)


def test_the_two_conditions_share_one_grammar() -> None:
    reassign = parse_reassign_condition("alternative_model_rmse <= current_rmse for 7 consecutive days")
    assert (reassign.metric, reassign.factor, reassign.days) == ("rmse", 1.0, 7)
    seed = parse_reassign_condition("alternative_model_mape < current_mape * 0.9 for 30 days")
    assert seed.holds(0.0899, 0.1) and not seed.holds(0.0901, 0.1) and not seed.holds(0.095, 0.1)
    retrain = parse_retrain_condition("mape[Toys & Games] >= 0.25 for 2 days")
    assert retrain.measure == ("mape", "Toys & Games") and retrain.holds(0.25) and not retrain.holds(0.2)


def test_workspace_settings_from_yaml(tmp_path: Path) -> None:
    seed = load_spec(EXAMPLE / "matih.yaml")
    assert isinstance(seed, WorkspaceSettings)
    assert (seed.name, seed.warehouse.engine, seed.tracking.engine) == ("novamart", "duckdb", "mlflow")
    empty = tmp_path / "matih.yaml"
    empty.write_text("# nothing yet\n")
    defaults = load_spec(empty)
    assert isinstance(defaults, WorkspaceSettings)
    assert defaults.warehouse.engine == "duckdb" and defaults.api_keys == []
    full = tmp_path / "other" / "matih.yaml"
    full.parent.mkdir()
    full.write_text(
        "name: x\nwarehouse: {engine: spark, master: 'spark://h:7077', path: /shared/wh}\n"
        "temporal: {address: 'localhost:7233'}\napi_keys:\n  - {key: '${MATIH_KEY}', role: editor}\n"
    )
    settings = load_spec(full)
    assert isinstance(settings, WorkspaceSettings)
    assert (settings.warehouse.master, settings.warehouse.path) == ("spark://h:7077", "/shared/wh")
    assert settings.api_keys[0].role == "editor"


def test_rollback_applies_to_deployments_only(pipeline: PipelineSpec) -> None:
    raw = pipeline.model_dump(mode="json", by_alias=True, exclude_unset=True)
    raw["failure_handling"]["task_level"]["feature_engineering"] = "rollback_to_previous"
    with pytest.raises(ValidationError) as err:
        PipelineSpec.model_validate(raw)
    assert "failure_handling.task_level.feature_engineering" in str(err.value)
    assert "rollback_to_previous restores a deployment" in str(err.value)


def test_join_build_side_is_read_and_a_wrong_value_names_the_choices() -> None:
    task = {
        "task_id": "features",
        "type": "sql_execute",
        "config": {
            "query_ref": "analytics.queries.demand_features",
            "target_table": "analytics.derived.demand_features",
        },
    }
    written = {**task, "config": {**task["config"], "join_build_side": "as_written"}}
    assert SqlExecuteTask.model_validate(written).config.join_build_side == "as_written"
    wrong = {**task, "config": {**task["config"], "join_build_side": "right"}}
    with pytest.raises(ValidationError, match="'auto', 'estimated' or 'as_written'"):
        SqlExecuteTask.model_validate(wrong)

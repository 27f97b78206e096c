"""Broken documents give a SpecError naming the file, the JSON path and what was expected."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from matih.exceptions import SpecError
from matih.specs import load_spec, parse_spec, try_load_spec

PIPELINE = "pipelines/demand-forecast-daily.json"
SHOPIFY = "sources/shopify-orders.json"


def _set(*keys: str | int, value: Any) -> Callable[[Any], None]:
    def change(doc: Any) -> None:
        for key in keys[:-1]:
            doc = doc[key]
        doc[keys[-1]] = value

    return change


def _delete(*keys: str | int) -> Callable[[Any], None]:
    def change(doc: Any) -> None:
        for key in keys[:-1]:
            doc = doc[key]
        del doc[keys[-1]]

    return change


# (file, change, JSON path, fragments the message must contain)
BREAKAGES = [
    pytest.param(
        PIPELINE,
        _set("tasks", 3, "config", "validation_window", value="7d"),
        "$.tasks[3].config.validation_window",
        ["'7d'", "'last_14_days'", "disagree", "'14d'"],
        id="window-vs-holdout",
    ),
    pytest.param(
        PIPELINE,
        _set("tasks", 2, "config", "hyperparameters", "n_estimators", value="many"),
        "$.tasks[2].config.hyperparameters.n_estimators",
        ["expected an integer", "'many'"],
        id="wrong-type",
    ),
    pytest.param(
        PIPELINE,
        _set("tasks", 1, "config", "write_mode", value="replace"),
        "$.tasks[1].config.write_mode",
        ["expected one of 'overwrite', 'append', got 'replace'"],
        id="bad-literal",
    ),
    pytest.param(
        PIPELINE,
        _set("tasks", 1, "type", value="spark_submit"),
        "$.tasks[1].type",
        ["unknown task type 'spark_submit'", "'sql_execute'", "'ray_train'", "'batch_inference'"],
        id="unknown-task-type",
    ),
    pytest.param(
        PIPELINE,
        _delete("tasks", 1, "type"),
        "$.tasks[1].type",
        ["missing 'type'", "'ingestion_trigger'"],
        id="missing-task-type",
    ),
    pytest.param(
        PIPELINE,
        _set("tasks", 2, "depends_on", value=["feature_engineering", "feature_enginering"]),
        "$.tasks[2].depends_on[1]",
        ["unknown task 'feature_enginering'", "known tasks:", "'sync_sources'"],
        id="depends-on-missing-task",
    ),
    pytest.param(
        PIPELINE,
        _set("tasks", 0, "depends_on", value=["model_training"]),
        "$.tasks[0].depends_on",
        ["dependency cycle sync_sources -> model_training -> feature_engineering -> sync_sources"],
        id="cycle",
    ),
    pytest.param(
        PIPELINE,
        _set("tasks", 1, "depends_on", value=["feature_engineering"]),
        "$.tasks[1].depends_on[0]",
        ["cannot depend on itself"],
        id="self-dependency",
    ),
    pytest.param(
        PIPELINE,
        _set("tasks", 3, "task_id", value="model_training"),
        "$.tasks[3].task_id",
        ["'model_training' is already used by tasks[2]"],
        id="duplicate-task-id",
    ),
    pytest.param(
        PIPELINE,
        _set("schedule", value="0 2 * *"),
        "$.schedule",
        ["has 4 field(s)", "expected a 5-field cron expression like '0 2 * * *'"],
        id="cron-four-fields",
    ),
    pytest.param(
        PIPELINE,
        _set("schedule", value="61 * * * *"),
        "$.schedule",
        ["'61 * * * *'", "expected a 5-field cron expression like '0 2 * * *'"],
        id="cron-out-of-range",
    ),
    pytest.param(
        SHOPIFY,
        _set("schedule", "expression", value="0 2 * *"),
        "$.schedule.expression",
        ["expected a 5-field cron expression"],
        id="cron-in-source",
    ),
    pytest.param(
        PIPELINE,
        _set("tasks", 1, "retries", value=3),
        "$.tasks[1].retries",
        ["unknown field 'retries'", "allowed fields:", "retry_policy"],
        id="unknown-field",
    ),
    pytest.param(
        SHOPIFY,
        _set("config", "shopp", value="x"),
        "$.config.shopp",
        ["unknown field 'shopp'", "did you mean 'shop'?"],
        id="unknown-connector-field",
    ),
    pytest.param(
        PIPELINE,
        _set("timeout", value="5x"),
        "$.timeout",
        ["'5x'", "'60s', '30m', '2h', '14d' or '13w'"],
        id="bad-duration",
    ),
    pytest.param(
        PIPELINE,
        _set("tasks", 1, "retry_policy", "initial_interval", value="soon"),
        "$.tasks[1].retry_policy.initial_interval",
        ["'soon'", "'60s'"],
        id="bad-duration-nested",
    ),
    pytest.param(
        PIPELINE,
        _delete("tasks", 1, "config", "target_table"),
        "$.tasks[1].config.target_table",
        ["missing required field 'target_table'"],
        id="missing-field",
    ),
    pytest.param(
        PIPELINE,
        _set("tasks", 3, "config", "thresholds", "bias_range", value=[0.05, -0.05]),
        "$.tasks[3].config.thresholds.bias_range",
        ["low <= high"],
        id="bias-range-order",
    ),
    pytest.param(
        PIPELINE,
        _set("tasks", 3, "config", "holdout_split", value="last_two_weeks"),
        "$.tasks[3].config.holdout_split",
        ["'last_<N>_days'", "'last_two_weeks'"],
        id="holdout-split",
    ),
    pytest.param(
        PIPELINE,
        _set("tasks", 2, "config", "hyperparameters", "forecast_horizon", value=0),
        "$.tasks[2].config.hyperparameters.forecast_horizon",
        ["expected a number > 0, got 0"],
        id="non-positive-horizon",
    ),
    pytest.param(
        PIPELINE,
        _set("failure_handling", "task_level", "ghost_task", value="retry_then_fail"),
        "$.failure_handling.task_level.ghost_task",
        ["unknown task 'ghost_task'"],
        id="failure-handling-unknown-task",
    ),
    pytest.param(
        PIPELINE,
        _set("notifications", "on_failure", "channel", value="email"),
        "$.notifications.on_failure.channel",
        ["expected 'slack', got 'email'"],
        id="notification-channel",
    ),
    pytest.param(
        SHOPIFY,
        _set("connector", value="source-mysql"),
        "$.connector",
        ["expected one of 'source-shopify'", "'source-file'", "got 'source-mysql'"],
        id="unknown-connector",
    ),
    pytest.param(
        "monitors/demand-forecast-production.json",
        _set("monitors", 3, "trigger", "condition", value="mape_overall > 0.12 for a while"),
        "$.monitors[3].trigger.condition",
        ["'<metric> <op> <number> for <N> consecutive days'"],
        id="retrain-condition",
    ),
    pytest.param(
        "monitors/demand-forecast-production.json",
        _set("monitors", 2, "checks", 0, "threshold", value=1.5),
        "$.monitors[2].checks[0].threshold",
        ["expected a number <= 1"],
        id="threshold-range",
    ),
    pytest.param(
        "routing/per-category.json",
        lambda doc: doc["overrides"][1]["categories"].append("Clothing"),
        "$.overrides[1].categories[4]",
        ["'Clothing' is already routed in overrides[0]"],
        id="category-in-two-overrides",
    ),
    pytest.param(
        "routing/per-category.json",
        _set("auto_reassign", "condition", value="better by 10%"),
        "$.auto_reassign.condition",
        ["alternative_model_<metric> < current_<metric> * <factor> for <N> days"],
        id="reassign-condition",
    ),
    pytest.param(
        "deployments/demand-forecaster.json",
        _set("models", "per_category", "source", value="models:/demand/1"),
        "$.models.per_category.source",
        ["mlflow://<model-name>/<version|latest|alias>"],
        id="mlflow-uri",
    ),
    pytest.param(
        "deployments/demand-forecaster.json",
        _set("serving_config", "autoscaling_config", "max_replicas", value=1),
        "$.serving_config.autoscaling_config.min_replicas",
        ["min_replicas (2) must be <= max_replicas (1)"],
        id="autoscaling-bounds",
    ),
    pytest.param(
        "deployments/demand-forecaster.json",
        _set("model_type", value="single"),
        "$.model_type",
        ["expected 'ensemble', got 'single'"],
        id="deployment-model-type",
    ),
    pytest.param(
        "quality/demand_features_validation.json",
        _set("expectations", 0, "type", value="column_between"),
        "$.expectations[0].type",
        ["starting with 'expect_'"],
        id="expectation-name",
    ),
]


@pytest.mark.parametrize(("relative", "change", "path", "fragments"), BREAKAGES)
def test_breakage_is_reported_at_file_and_path(
    edit: Callable[..., Path], relative: str, change: Callable[[Any], None], path: str, fragments: list[str]
) -> None:
    edit(relative, change)
    with pytest.raises(SpecError) as info:
        load_spec(relative)
    err = info.value
    assert err.file == relative
    assert err.path == path
    for fragment in fragments:
        assert fragment in err.detail
    assert str(err).startswith(f"{relative}:{path}: ")


def test_all_problems_of_a_document_are_collected(edit: Callable[..., Path]) -> None:
    def change(doc: Any) -> None:
        doc["schedule"] = "bad"
        doc["tasks"][1]["config"]["write_mode"] = "replace"
        doc["tasks"][2]["config"]["hyperparameters"]["n_estimators"] = "many"

    edit(PIPELINE, change)
    model, errors = try_load_spec(PIPELINE)
    assert model is None
    assert [e.path for e in errors] == [
        "$.schedule",
        "$.tasks[1].config.write_mode",
        "$.tasks[2].config.hyperparameters.n_estimators",
    ]
    with pytest.raises(SpecError) as info:
        load_spec(PIPELINE)
    assert info.value.path == "$.schedule"
    notes = "\n".join(info.value.__notes__)
    assert "2 more problem(s)" in notes and "$.tasks[1].config.write_mode" in notes


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"pipeline_id": "x",}', "invalid JSON at line 1"),
        ('{"a": 1, "a": 2}', "key 'a' appears twice"),
        ("[1, 2]", "expected an object at the top level"),
    ],
)
def test_unparsable_files(workspace: Path, text: str, fragment: str) -> None:
    (workspace / PIPELINE).write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(PIPELINE)
    assert info.value.file == PIPELINE
    assert fragment in info.value.detail


def test_invalid_yaml(workspace: Path) -> None:
    (workspace / "matih.yaml").write_text("name: [unclosed\n")
    with pytest.raises(SpecError) as info:
        load_spec("matih.yaml")
    assert info.value.file == "matih.yaml"
    assert "invalid YAML at line" in info.value.detail


def test_a_yaml_key_given_twice_is_refused_at_its_line(workspace: Path) -> None:
    # PyYAML keeps the last: the second block would silently erase `endpoints: sandbox`
    (workspace / "matih.yaml").write_text("sources:\n  endpoints: sandbox\nsources:\n  max_attempts: 2\n")
    with pytest.raises(SpecError) as info:
        load_spec("matih.yaml")
    assert info.value.file == "matih.yaml"
    assert "line 3" in info.value.detail and "key 'sources' appears twice" in info.value.detail


def test_settings_errors(workspace: Path) -> None:
    (workspace / "matih.yaml").write_text("warehouse:\n  path: /shared/wh\ntracking:\n  engine: wandb\n")
    _, errors = try_load_spec("matih.yaml")
    assert [(e.path, e.detail.split(";")[0]) for e in errors] == [
        ("$.warehouse.path", "path is a Spark setting"),
        ("$.tracking.engine", "expected 'mlflow', got 'wandb'"),
    ]


def test_file_outside_a_kind_folder_is_rejected(tmp_path: Path) -> None:
    stray = tmp_path / "misc" / "x.json"
    stray.parent.mkdir()
    stray.write_text("{}")
    with pytest.raises(SpecError, match="cannot tell what kind of spec"):
        load_spec(stray)


def test_parse_spec_with_an_unknown_kind() -> None:
    with pytest.raises(SpecError, match="unknown spec kind 'widgets'"):
        parse_spec({}, "widgets")


def test_plaintext_secret_is_rejected_without_echoing_it(edit: Callable[..., Path]) -> None:
    secret = "shpat_0123456789abcdef"
    edit(SHOPIFY, _set("config", "credentials", "api_password", value=secret))
    with pytest.raises(SpecError) as info:
        load_spec(SHOPIFY)
    assert info.value.path == "$.config.credentials.api_password"
    assert 'expected a secret reference like "${SHOPIFY_API_KEY}"' in info.value.detail
    assert secret not in str(info.value)


def test_wrong_type_for_a_secret_field_does_not_echo_it(edit: Callable[..., Path]) -> None:
    edit(SHOPIFY, _set("config", "credentials", "api_password", value=987654321))
    _, errors = try_load_spec(SHOPIFY)
    assert errors and all("987654321" not in str(e) for e in errors)

"""validate_workspace: every document, every error, and references between documents; run-time secrets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from matih.exceptions import SecretError, SpecError, WorkspaceError
from matih.specs import (
    PipelineSpec,
    SourceSpec,
    check_secrets,
    load_spec,
    resolve_secrets,
    validate_workspace,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "novamart"
PIPELINE = "pipelines/demand-forecast-daily.json"


def test_the_example_workspace_is_valid() -> None:
    report = validate_workspace(EXAMPLE)
    assert report.ok, [str(e) for e in report.errors]
    kinds = sorted(kind for _, kind, _ in report.documents)
    assert kinds == [
        "deployments",
        "experiments",
        "monitors",
        "pipelines",
        "quality",
        "routing",
        "settings",
        "sources",
        "sources",
        "sources",
        "sources",
    ]
    assert [m.name for _, m in report.of_kind("sources") if isinstance(m, SourceSpec)] == [
        "google-analytics",
        "inventory-db",
        "product-categories",
        "shopify-orders",
    ]


def test_unset_secrets_are_warnings_only(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = validate_workspace(workspace)
    assert report.ok
    secret_warnings = [w for w in report.warnings if "needs secret" in w]
    assert secret_warnings == [
        "sources/google-analytics.json: needs secret ${GA_SERVICE_ACCOUNT_JSON}, which is not set; "
        "export GA_SERVICE_ACCOUNT_JSON=... before running",
        "sources/shopify-orders.json: needs secret ${SHOPIFY_API_KEY}, which is not set; "
        "export SHOPIFY_API_KEY=... before running",
    ]
    monkeypatch.setenv("SHOPIFY_API_KEY", "x")
    monkeypatch.setenv("GA_SERVICE_ACCOUNT_JSON", "{}")
    assert not [w for w in validate_workspace(workspace).warnings if "needs secret" in w]


def test_all_errors_across_documents_are_collected(edit: Callable[..., Path]) -> None:
    edit(PIPELINE, lambda d: d.update(schedule="0 2 * *"))
    edit("sources/inventory-db.json", lambda d: d["config"].update(port="five"))
    edit("deployments/demand-forecaster.json", lambda d: d.update(replicas=3))
    report = validate_workspace(".")
    assert not report.ok
    assert sorted((e.file, e.path) for e in report.errors) == [
        ("deployments/demand-forecaster.json", "$.replicas"),
        ("pipelines/demand-forecast-daily.json", "$.schedule"),
        ("sources/inventory-db.json", "$.config.port"),
    ]
    # documents that parsed are still there
    assert {kind for _, kind, _ in report.documents} >= {"monitors", "routing", "quality"}


def _first_task(task_id: str) -> Callable[[Any], dict[str, Any]]:
    def find(doc: Any) -> dict[str, Any]:
        return next(t for t in doc["tasks"] if t["task_id"] == task_id)

    return find


# (file to edit, change, file with the error, JSON path, fragments)
CROSS_REFERENCES = [
    pytest.param(
        PIPELINE,
        lambda d: d["tasks"][1]["config"].update(query_ref="analytics.queries.demand_featurez"),
        PIPELINE,
        "$.tasks[1].config.query_ref",
        [
            "needs queries/demand_featurez.sql",
            "known queries: 'demand_features', 'forecast_sample', 'history_buckets'",
        ],
        id="missing-query-file",
    ),
    pytest.param(
        PIPELINE,
        lambda d: d["tasks"][0]["config"]["connections"].append("erp"),
        PIPELINE,
        "$.tasks[0].config.connections[3]",
        ["unknown source 'erp'", "sources/erp.json", "'shopify-orders'"],
        id="missing-source",
    ),
    pytest.param(
        PIPELINE,
        lambda d: d["tasks"].insert(
            2,
            {
                "task_id": "check",
                "type": "quality_check",
                "depends_on": ["feature_engineering"],
                "config": {"suite": "demand_features_checks"},
            },
        ),
        PIPELINE,
        "$.tasks[2].config.suite",
        ["unknown expectation suite 'demand_features_checks'", "'demand_features_validation'"],
        id="missing-suite",
    ),
    pytest.param(
        PIPELINE,
        lambda d: d["tasks"][4]["config"].update(deployment_name="forecaster"),
        PIPELINE,
        "$.tasks[4].config.deployment_name",
        ["unknown deployment 'forecaster'", "'demand-forecaster'"],
        id="missing-deployment",
    ),
    pytest.param(
        "deployments/demand-forecaster.json",
        lambda d: d["models"]["per_category"].update(source="mlflow://demand-forecast-weekly/latest"),
        "deployments/demand-forecaster.json",
        "$.models.per_category.source",
        ["no pipeline in this workspace trains model 'demand-forecast-weekly'", "'demand-forecast-daily'"],
        id="untrained-model",
    ),
    pytest.param(
        "monitors/demand-forecast-production.json",
        lambda d: d["monitors"][3]["trigger"].update(pipeline_id="demand-forecast-hourly"),
        "monitors/demand-forecast-production.json",
        "$.monitors[3].trigger.pipeline_id",
        ["unknown pipeline 'demand-forecast-hourly'", "'demand-forecast-daily'"],
        id="monitor-unknown-pipeline",
    ),
]


@pytest.mark.parametrize(("edited", "change", "file", "path", "fragments"), CROSS_REFERENCES)
def test_dangling_references(
    edit: Callable[..., Path],
    edited: str,
    change: Callable[[Any], None],
    file: str,
    path: str,
    fragments: list[str],
) -> None:
    edit(edited, change)
    report = validate_workspace(".")
    assert [(e.file, e.path) for e in report.errors] == [(file, path)]
    for fragment in fragments:
        assert fragment in report.errors[0].detail


def test_deleted_query_file_is_reported(workspace: Path) -> None:
    (workspace / "queries" / "demand_features.sql").unlink()
    report = validate_workspace(workspace)
    assert [(e.file, e.path) for e in report.errors] == [(PIPELINE, "$.tasks[1].config.query_ref")]


def test_a_broken_source_is_not_reported_again_at_each_reference(edit: Callable[..., Path]) -> None:
    edit("sources/shopify-orders.json", lambda d: d.update(connector="source-shopfy"))
    report = validate_workspace(".")
    assert [(e.file, e.path) for e in report.errors] == [("sources/shopify-orders.json", "$.connector")]


def test_duplicate_pipeline_ids_across_files(workspace: Path) -> None:
    (workspace / "pipelines" / "zz-copy.json").write_text((workspace / PIPELINE).read_text())
    report = validate_workspace(workspace)
    assert [(e.file, e.path) for e in report.errors] == [("pipelines/zz-copy.json", "$.pipeline_id")]
    assert any("differs from the file name" in w for w in report.warnings)


def test_stray_files_are_warned_about(workspace: Path) -> None:
    (workspace / "pipelines" / "notes.txt").write_text("todo")
    report = validate_workspace(workspace)
    assert report.ok
    assert "pipelines/notes.txt: ignored; spec documents are .json files" in report.warnings


def test_missing_workspace_folder(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError):
        validate_workspace(tmp_path / "nowhere")


def test_check_secrets_at_run_time(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = load_spec("sources/shopify-orders.json")
    with pytest.raises(SecretError) as info:
        check_secrets(source, "sources/shopify-orders.json")
    err = info.value
    assert (err.name, err.file, err.path) == (
        "SHOPIFY_API_KEY",
        "sources/shopify-orders.json",
        "$.config.credentials.api_password",
    )
    assert "export SHOPIFY_API_KEY=" in str(err)
    assert check_secrets(source, raise_errors=False)[0].name == "SHOPIFY_API_KEY"
    monkeypatch.setenv("SHOPIFY_API_KEY", "shpat_live_value")
    assert check_secrets(source) == []


def test_resolve_secrets_of_a_parsed_model(monkeypatch: pytest.MonkeyPatch) -> None:
    source = load_spec(EXAMPLE / "sources" / "google-analytics.json")
    with pytest.raises(SecretError) as info:
        resolve_secrets(source, file="sources/google-analytics.json")
    assert info.value.path == "$.config.credentials.credentials_json"
    monkeypatch.setenv("GA_SERVICE_ACCOUNT_JSON", '{"type": "service_account"}')
    resolved = resolve_secrets(source)
    assert resolved["config"]["credentials"]["credentials_json"] == '{"type": "service_account"}'
    # the model itself still holds the reference
    assert source.model_dump()["config"]["credentials"]["credentials_json"] == "${GA_SERVICE_ACCOUNT_JSON}"


def test_secret_values_never_reach_error_messages(
    edit: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    value = "shpat_TOP_SECRET_VALUE_42"
    monkeypatch.setenv("SHOPIFY_API_KEY", value)

    def break_source(doc: Any) -> None:
        doc["config"]["credentials"]["extra"] = "${SHOPIFY_API_KEY}"
        doc["config"]["base_url"] = "${SHOPIFY_API_KEY}"
        doc["streams"][0]["sync_mode"] = "${SHOPIFY_API_KEY}"
        doc["config"]["credentials"]["api_password"] = "${SHOPIFY_API_KEY}_suffix"

    edit("sources/shopify-orders.json", break_source)
    edit("sources/google-analytics.json", lambda d: d.update(other="${SHOPIFY_API_KEY}"))
    report = validate_workspace(".")
    assert len(report.errors) >= 5
    messages = [str(e) for e in report.errors] + report.warnings
    assert all(value not in m for m in messages)

    source = {"token": "${SHOPIFY_API_KEY}", "other": "${GA_SERVICE_ACCOUNT_JSON}"}
    errors = check_secrets(source, "sources/x.json", raise_errors=False)
    assert [e.name for e in errors] == ["GA_SERVICE_ACCOUNT_JSON"]
    with pytest.raises(SecretError) as info:
        resolve_secrets(source, file="sources/x.json")
    assert value not in str(info.value)


def test_parse_errors_are_spec_errors_with_relative_files(edit: Callable[..., Path]) -> None:
    edit(PIPELINE, lambda d: d.update(timeout="5x"))
    report = validate_workspace(".")
    [err] = report.errors
    assert isinstance(err, SpecError)
    assert (err.file, err.path) == (PIPELINE, "$.timeout")
    assert "'5x'" in err.detail and "'2h'" in err.detail
    assert not [d for d in report.documents if isinstance(d[2], PipelineSpec)]

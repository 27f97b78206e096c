"""Workspace spec documents: pydantic models per kind, loading with precise errors, workspace checks.

from matih.specs import load_spec, validate_workspace

report = validate_workspace("examples/novamart")
for error in report.errors:
    print(error)          # pipelines/x.json:$.tasks[2].config.write_mode: expected one of ...
"""

from matih.specs.common import (
    CronExpression,
    Duration,
    Identifier,
    NotificationTarget,
    SecretRef,
    SpecModel,
    TableName,
    find_secret_refs,
    json_path,
    missing_secrets,
    parse_notification_target,
    resolve_secrets,
)
from matih.specs.deployment import DeploymentSpec, parse_mlflow_uri
from matih.specs.experiment import ExperimentSpec
from matih.specs.loader import (
    SETTINGS_FILE,
    SETTINGS_KIND,
    SPEC_KINDS,
    ValidationReport,
    check_secrets,
    kind_of,
    load_spec,
    parse_spec,
    read_document,
    try_load_spec,
    validate_workspace,
)
from matih.specs.monitor import MonitorSpec, RetrainCondition, parse_retrain_condition
from matih.specs.pipeline import PipelineSpec, Task
from matih.specs.quality import Expectation, ExpectationSuiteSpec
from matih.specs.routing import ReassignCondition, RoutingSpec, parse_reassign_condition
from matih.specs.source import SourceSpec
from matih.specs.tasks import TASK_TYPES
from matih.specs.workspace_settings import WorkspaceSettings

__all__ = [
    "SETTINGS_FILE",
    "SETTINGS_KIND",
    "SPEC_KINDS",
    "TASK_TYPES",
    "CronExpression",
    "DeploymentSpec",
    "Duration",
    "Expectation",
    "ExpectationSuiteSpec",
    "ExperimentSpec",
    "Identifier",
    "MonitorSpec",
    "NotificationTarget",
    "PipelineSpec",
    "ReassignCondition",
    "RetrainCondition",
    "RoutingSpec",
    "SecretRef",
    "SourceSpec",
    "SpecModel",
    "TableName",
    "Task",
    "ValidationReport",
    "WorkspaceSettings",
    "check_secrets",
    "find_secret_refs",
    "json_path",
    "kind_of",
    "load_spec",
    "missing_secrets",
    "parse_mlflow_uri",
    "parse_notification_target",
    "parse_reassign_condition",
    "parse_retrain_condition",
    "parse_spec",
    "read_document",
    "resolve_secrets",
    "try_load_spec",
    "validate_workspace",
]

"""From specs to settings: a pipeline's ``ray_train``, ``model_evaluate`` and ``batch_inference`` tasks (or
a deployment's batch inference) read into the :class:`TrainConfig`, :class:`GateConfig` and output table
the forecast package runs with."""

from __future__ import annotations

import dataclasses
from typing import TypeVar

from matih.exceptions import TrainingError
from matih.forecast.config import GateConfig, TrainConfig
from matih.specs import DeploymentSpec, PipelineSpec, load_spec
from matih.specs.tasks import BatchInferenceTask, ModelEvaluateTask, RayTrainTask
from matih.workspace import Workspace

__all__ = ["configs_from_pipeline", "configs_from_spec", "deployment_output_table"]

_T = TypeVar("_T", RayTrainTask, ModelEvaluateTask, BatchInferenceTask)


def configs_from_pipeline(
    workspace: Workspace, pipeline_id: str | None = None, *, n_estimators: int | None = None
) -> tuple[TrainConfig, GateConfig, str | None]:
    """Training and gate settings from the workspace's pipeline (the first one, or ``pipeline_id``), or
    defaults when the workspace has no pipeline."""
    for path in workspace.spec_files("pipelines"):
        spec = load_spec(path)
        assert isinstance(spec, PipelineSpec)
        if pipeline_id and spec.pipeline_id != pipeline_id:
            continue
        return configs_from_spec(workspace, spec, n_estimators=n_estimators, file=path.name)
    if pipeline_id:
        raise TrainingError(f"no pipeline {pipeline_id!r} in {workspace.root / 'pipelines'}")
    return TrainConfig(n_estimators=n_estimators or 500), GateConfig(), deployment_output_table(workspace)


def configs_from_spec(
    workspace: Workspace, spec: PipelineSpec, *, n_estimators: int | None = None, file: str | None = None
) -> tuple[TrainConfig, GateConfig, str | None]:
    """Training settings, gate and batch output table of one pipeline spec, from its first task of each
    type (defaults where a task is missing). ``n_estimators`` overrides the spec's."""
    train_task = _first(spec, RayTrainTask)
    gate_task = _first(spec, ModelEvaluateTask)
    batch_task = _first(spec, BatchInferenceTask)
    train = (
        TrainConfig.from_task(train_task.config.model_dump(exclude_unset=True))
        if train_task
        else TrainConfig()
    )
    hp = train_task.config.hyperparameters if train_task else None
    if hp is not None and hp.feature_columns:
        raise TrainingError(
            f"{file or spec.pipeline_id}: hyperparameters.feature_columns is not supported yet: MATIH "
            "derives its features from the target, price and calendar; remove the field"
        )
    gate = GateConfig.from_spec(gate_task.config) if gate_task else GateConfig()
    output = str(batch_task.config.output_table) if batch_task else deployment_output_table(workspace)
    if n_estimators:
        train = dataclasses.replace(train, n_estimators=n_estimators)
    return train, gate, output


def deployment_output_table(workspace: Workspace) -> str | None:
    """``batch_inference.output_table`` of the first deployment with batch inference enabled."""
    for path in workspace.spec_files("deployments"):
        spec = load_spec(path)
        if isinstance(spec, DeploymentSpec) and spec.batch_inference and spec.batch_inference.enabled:
            return str(spec.batch_inference.output_table)
    return None


def _first(spec: PipelineSpec, kind: type[_T]) -> _T | None:
    return next((t for t in spec.tasks if isinstance(t, kind)), None)

"""References between workspace documents: sources, queries, suites, deployments, models, pipelines.

Names are checked against the files on disk as well as the parsed documents, so a referenced
document that failed to parse is reported once (its own error) rather than again at every reference.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from matih.exceptions import SpecError
from matih.specs.common import SpecModel, display_path, json_path
from matih.specs.deployment import DeploymentSpec
from matih.specs.monitor import AutomaticRetrainingMonitor, MonitorSpec
from matih.specs.pipeline import PipelineSpec
from matih.specs.routing import RoutingSpec
from matih.specs.tasks import (
    BatchInferenceTask,
    IngestionTriggerTask,
    QualityCheckTask,
    RayServeUpdateTask,
    RayTrainTask,
    SqlExecuteTask,
)

__all__ = ["cross_check"]

Documents = list[tuple[Path, str, SpecModel]]


def _stems(root: Path, folder: str, suffix: str) -> set[str]:
    directory = root / folder
    return {p.stem for p in directory.glob(f"*{suffix}") if p.is_file()} if directory.is_dir() else set()


def _known(names: Iterable[str]) -> str:
    listed = sorted(set(names))
    return ", ".join(repr(n) for n in listed) if listed else "none"


def cross_check(root: Path, documents: Documents) -> tuple[list[SpecError], list[str]]:
    """Errors for dangling references and duplicate names; warnings for names that differ from file stems."""
    errors: list[SpecError] = []
    warnings: list[str] = []

    def named(kind: str, attr: str) -> dict[str, list[Path]]:
        # name -> files declaring it; also reports a name that differs from its file stem
        out: dict[str, list[Path]] = {}
        for path, k, model in documents:
            if k != kind:
                continue
            name = getattr(model, attr)
            out.setdefault(name, []).append(path)
            if name != path.stem:
                warnings.append(
                    f"{display_path(path)}: {attr} {name!r} differs from the file name; "
                    f"rename the file to {name}{path.suffix} to keep them easy to find"
                )
        for name, paths in out.items():
            for dup in paths[1:]:
                errors.append(
                    SpecError(
                        f"{attr} {name!r} is already used by {display_path(paths[0])}; names must be unique",
                        file=display_path(dup),
                        path=f"$.{attr}",
                    )
                )
        return out

    pipelines = named("pipelines", "pipeline_id")
    suites = named("quality", "suite_name")
    deployments = named("deployments", "deployment_name")
    named("monitors", "monitor_name")

    sources = _stems(root, "sources", ".json")
    queries = _stems(root, "queries", ".sql")
    suite_names = set(suites) | _stems(root, "quality", ".json")
    deployment_names = set(deployments) | _stems(root, "deployments", ".json")
    pipeline_ids = set(pipelines) | _stems(root, "pipelines", ".json")
    trained_models = set(pipeline_ids)
    for _, _, model in documents:
        if isinstance(model, PipelineSpec):
            trained_models |= {t.config.mlflow_experiment for t in model.tasks if isinstance(t, RayTrainTask)}

    for path, _, model in documents:
        file = display_path(path)

        def problem(loc: tuple[str | int, ...], message: str, file: str = file) -> None:
            errors.append(SpecError(message, file=file, path=json_path(loc)))

        if isinstance(model, PipelineSpec):
            for i, task in enumerate(model.tasks):
                at = ("tasks", i, "config")
                if isinstance(task, IngestionTriggerTask):
                    for j, name in enumerate(task.config.connections):
                        if name not in sources:
                            problem(
                                (*at, "connections", j),
                                f"unknown source {name!r}: there is no sources/{name}.json; "
                                f"known sources: {_known(sources)}",
                            )
                elif isinstance(task, SqlExecuteTask):
                    query = task.config.query_name
                    if query not in queries:
                        problem(
                            (*at, "query_ref"),
                            f"query_ref {task.config.query_ref!r} needs queries/{query}.sql, which does not "
                            f"exist; known queries: {_known(queries)}",
                        )
                elif isinstance(task, QualityCheckTask):
                    if task.config.suite not in suite_names:
                        problem(
                            (*at, "suite"),
                            f"unknown expectation suite {task.config.suite!r}; add quality/"
                            f"{task.config.suite}.json or use one of: {_known(suite_names)}",
                        )
                elif (
                    isinstance(task, RayServeUpdateTask | BatchInferenceTask)
                    and task.config.deployment_name is not None
                    and task.config.deployment_name not in deployment_names
                ):
                    problem(
                        (*at, "deployment_name"),
                        f"unknown deployment {task.config.deployment_name!r}; add deployments/"
                        f"{task.config.deployment_name}.json or use one of: {_known(deployment_names)}",
                    )

        elif isinstance(model, DeploymentSpec):
            primary = model.models.per_category.model_name
            if primary not in trained_models:
                problem(
                    ("models", "per_category", "source"),
                    f"no pipeline in this workspace trains model {primary!r} (a pipeline_id or a ray_train "
                    f"mlflow_experiment); known models: {_known(trained_models)}",
                )
            fallback = model.models.fallback
            if fallback is not None and fallback.model_name not in trained_models:
                warnings.append(
                    f"{file}:{json_path(('models', 'fallback', 'source'))}: no pipeline in this workspace "
                    f"trains model {fallback.model_name!r}; it must already be registered in MLflow"
                )

        elif (
            isinstance(model, RoutingSpec) and model.auto_reassign is not None and model.auto_reassign.enabled
        ):
            warnings.append(
                f"{file}:{json_path(('auto_reassign',))}: validated but not acted on yet; categories keep "
                "the families named here (comparing families per category over time comes with monitoring). "
                "`matih deploy status` shows which family answers each category"
            )

        elif isinstance(model, MonitorSpec):
            for i, monitor in enumerate(model.monitors):
                if (
                    isinstance(monitor, AutomaticRetrainingMonitor)
                    and monitor.trigger.pipeline_id not in pipeline_ids
                ):
                    problem(
                        ("monitors", i, "trigger", "pipeline_id"),
                        f"unknown pipeline {monitor.trigger.pipeline_id!r}; "
                        f"known pipelines: {_known(pipeline_ids)}",
                    )

    return errors, warnings

"""References between workspace documents: sources, queries, suites, deployments, models, pipelines.

Names are checked against the files on disk as well as the parsed documents, so a referenced
document that failed to parse is reported once (its own error) rather than again at every reference.
Each document kind has its own check; :class:`_Findings` collects what they find.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from matih.exceptions import SpecError
from matih.specs.common import SpecModel, display_path, json_path
from matih.specs.deployment import DeploymentSpec
from matih.specs.experiment import ExperimentSpec
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
Loc = tuple[str | int, ...]


def _stems(root: Path, folder: str, suffix: str) -> set[str]:
    directory = root / folder
    return {p.stem for p in directory.glob(f"*{suffix}") if p.is_file()} if directory.is_dir() else set()


def _known(names: Iterable[str]) -> str:
    listed = sorted(set(names))
    return ", ".join(repr(n) for n in listed) if listed else "none"


@dataclass
class _Findings:
    errors: list[SpecError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def error(self, file: str, loc: Loc, message: str) -> None:
        self.errors.append(SpecError(message, file=file, path=json_path(loc)))

    def warn(self, file: str, loc: Loc, message: str) -> None:
        self.warnings.append(f"{file}:{json_path(loc)}: {message}")


@dataclass(frozen=True)
class _Known:
    """Every name a reference may point at, from the parsed documents and the files on disk."""

    sources: set[str]
    queries: set[str]
    suites: set[str]
    deployments: set[str]
    pipelines: set[str]
    models: set[str]
    """What some pipeline trains: its ``pipeline_id`` or a ``ray_train`` task's ``mlflow_experiment``."""
    accuracy_tracked: bool = False
    """Whether some monitor spec has an ``accuracy_tracking`` monitor (auto_reassign runs after it)."""


def _named(documents: Documents, kind: str, attr: str, found: _Findings) -> set[str]:
    """The names documents of ``kind`` declare in ``attr``; a duplicate is an error, a name that differs
    from its file stem a warning."""
    files: dict[str, list[Path]] = {}
    for path, k, model in documents:
        if k != kind:
            continue
        name = getattr(model, attr)
        files.setdefault(name, []).append(path)
        if name != path.stem:
            found.warnings.append(
                f"{display_path(path)}: {attr} {name!r} differs from the file name; "
                f"rename the file to {name}{path.suffix} to keep them easy to find"
            )
    for name, paths in files.items():
        for dup in paths[1:]:
            found.error(
                display_path(dup),
                (attr,),
                f"{attr} {name!r} is already used by {display_path(paths[0])}; names must be unique",
            )
    return set(files)


def _known_names(root: Path, documents: Documents, found: _Findings) -> _Known:
    pipelines = _named(documents, "pipelines", "pipeline_id", found) | _stems(root, "pipelines", ".json")
    suites = _named(documents, "quality", "suite_name", found) | _stems(root, "quality", ".json")
    deployments = _named(documents, "deployments", "deployment_name", found)
    _named(documents, "monitors", "monitor_name", found)
    models = set(pipelines)
    for _, _, model in documents:
        if isinstance(model, PipelineSpec):
            models |= {t.config.mlflow_experiment for t in model.tasks if isinstance(t, RayTrainTask)}
    return _Known(
        sources=_stems(root, "sources", ".json"),
        queries=_stems(root, "queries", ".sql"),
        suites=suites,
        deployments=deployments | _stems(root, "deployments", ".json"),
        pipelines=pipelines,
        models=models,
        accuracy_tracked=any(
            isinstance(model, MonitorSpec) and any(m.type == "accuracy_tracking" for m in model.monitors)
            for _, _, model in documents
        ),
    )


def _check_pipeline(spec: PipelineSpec, file: str, known: _Known, found: _Findings) -> None:
    for i, task in enumerate(spec.tasks):
        at: Loc = ("tasks", i, "config")
        if isinstance(task, IngestionTriggerTask):
            for j, name in enumerate(task.config.connections):
                if name not in known.sources:
                    found.error(
                        file,
                        (*at, "connections", j),
                        f"unknown source {name!r}: there is no sources/{name}.json; "
                        f"known sources: {_known(known.sources)}",
                    )
        elif isinstance(task, SqlExecuteTask):
            query = task.config.query_name
            if query not in known.queries:
                found.error(
                    file,
                    (*at, "query_ref"),
                    f"query_ref {task.config.query_ref!r} needs queries/{query}.sql, which does not "
                    f"exist; known queries: {_known(known.queries)}",
                )
        elif isinstance(task, QualityCheckTask):
            if task.config.suite not in known.suites:
                found.error(
                    file,
                    (*at, "suite"),
                    f"unknown expectation suite {task.config.suite!r}; add quality/"
                    f"{task.config.suite}.json or use one of: {_known(known.suites)}",
                )
        elif isinstance(task, RayServeUpdateTask | BatchInferenceTask):
            deployment = task.config.deployment_name
            if deployment is not None and deployment not in known.deployments:
                found.error(
                    file,
                    (*at, "deployment_name"),
                    f"unknown deployment {deployment!r}; add deployments/{deployment}.json or use one of: "
                    f"{_known(known.deployments)}",
                )


def _check_deployment(spec: DeploymentSpec, file: str, known: _Known, found: _Findings) -> None:
    primary = spec.models.per_category.model_name
    if primary not in known.models:
        found.error(
            file,
            ("models", "per_category", "source"),
            f"no pipeline in this workspace trains model {primary!r} (a pipeline_id or a ray_train "
            f"mlflow_experiment); known models: {_known(known.models)}",
        )
    fallback = spec.models.fallback
    if fallback is not None and fallback.model_name not in known.models:
        found.warn(
            file,
            ("models", "fallback", "source"),
            f"no pipeline in this workspace trains model {fallback.model_name!r}; it must already be "
            "registered in MLflow",
        )


def _check_routing(spec: RoutingSpec, file: str, known: _Known, found: _Findings) -> None:
    if spec.auto_reassign is not None and spec.auto_reassign.enabled and not known.accuracy_tracked:
        found.warn(
            file,
            ("auto_reassign",),
            "it is decided each time an accuracy_tracking monitor runs, and no monitors/*.json has one, so "
            "it never acts; add the seed's monitors/demand-forecast-production.json",
        )


def _check_monitors(spec: MonitorSpec, file: str, known: _Known, found: _Findings) -> None:
    for i, monitor in enumerate(spec.monitors):
        if not isinstance(monitor, AutomaticRetrainingMonitor):
            continue
        if (pipeline := monitor.trigger.pipeline_id) not in known.pipelines:
            found.error(
                file,
                ("monitors", i, "trigger", "pipeline_id"),
                f"unknown pipeline {pipeline!r}; known pipelines: {_known(known.pipelines)}",
            )


def _check_experiment(spec: ExperimentSpec, file: str, known: _Known, found: _Findings) -> None:
    if spec.pipeline is not None and spec.pipeline not in known.pipelines:
        found.error(
            file,
            ("pipeline",),
            f"unknown pipeline {spec.pipeline!r}; known pipelines: {_known(known.pipelines)}",
        )


def cross_check(root: Path, documents: Documents) -> tuple[list[SpecError], list[str]]:
    """Errors for dangling references and duplicate names; warnings for names that differ from file stems."""
    found = _Findings()
    known = _known_names(root, documents, found)
    for path, _, model in documents:
        file = display_path(path)
        if isinstance(model, PipelineSpec):
            _check_pipeline(model, file, known, found)
        elif isinstance(model, DeploymentSpec):
            _check_deployment(model, file, known, found)
        elif isinstance(model, RoutingSpec):
            _check_routing(model, file, known, found)
        elif isinstance(model, MonitorSpec):
            _check_monitors(model, file, known, found)
        elif isinstance(model, ExperimentSpec):
            _check_experiment(model, file, known, found)
    return found.errors, found.warnings

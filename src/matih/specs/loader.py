"""Read spec documents from disk and validate a whole workspace, cross-references included.

Parsing never resolves secrets: ``${NAME}`` references stay literal in every model, and only
:func:`check_secrets` (run time) looks at the environment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from matih.exceptions import SecretError, SpecError, WorkspaceError
from matih.specs._crossref import cross_check
from matih.specs._errors import spec_errors
from matih.specs.common import SpecModel, display_path, find_secret_refs, missing_secrets
from matih.specs.deployment import DeploymentSpec
from matih.specs.experiment import ExperimentSpec
from matih.specs.monitor import MonitorSpec
from matih.specs.pipeline import PipelineSpec
from matih.specs.quality import ExpectationSuiteSpec
from matih.specs.routing import RoutingSpec
from matih.specs.source import SourceSpec
from matih.specs.workspace_settings import WorkspaceSettings

__all__ = [
    "SETTINGS_FILE",
    "SETTINGS_KIND",
    "SPEC_KINDS",
    "ValidationReport",
    "check_secrets",
    "display_path",
    "kind_of",
    "load_spec",
    "parse_spec",
    "read_document",
    "try_load_spec",
    "validate_workspace",
]

SPEC_KINDS: dict[str, type[SpecModel]] = {
    "sources": SourceSpec,
    "pipelines": PipelineSpec,
    "quality": ExpectationSuiteSpec,
    "deployments": DeploymentSpec,
    "monitors": MonitorSpec,
    "routing": RoutingSpec,
    "experiments": ExperimentSpec,
}
"""Workspace folder name -> model of the JSON documents in it."""

SETTINGS_FILE = "matih.yaml"
SETTINGS_KIND = "settings"
_ALL_KINDS: dict[str, type[SpecModel]] = {**SPEC_KINDS, SETTINGS_KIND: WorkspaceSettings}


def kind_of(path: str | Path) -> str:
    """The spec kind of a file: its folder name (``pipelines``), or ``settings`` for ``matih.yaml``."""
    p = Path(path)
    if p.name in (SETTINGS_FILE, "matih.yml"):
        return SETTINGS_KIND
    if p.parent.name in SPEC_KINDS:
        return p.parent.name
    raise SpecError(
        f"cannot tell what kind of spec this is; put it in one of the folders {', '.join(SPEC_KINDS)} "
        f"or name it {SETTINGS_FILE}",
        file=display_path(p),
    )


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.load keeps the last of two equal keys silently; in a spec that hides an edit.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last silently:
    a second ``sources:`` block in matih.yaml would erase the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                problem = f"key {key!r} appears twice in the same mapping; keep one"
                raise yaml.constructor.ConstructorError(None, None, problem, key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_document(path: str | Path) -> dict[str, Any]:
    """The top-level object of a JSON (or, for ``.yaml``/``.yml``, YAML) file; SpecError if unreadable."""
    p = Path(path)
    shown = display_path(p)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read the file: {exc.strerror or exc}", file=shown) from None
    except UnicodeDecodeError:
        raise SpecError("the file is not UTF-8 text", file=shown) from None
    if p.suffix in (".yaml", ".yml"):
        try:
            data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise SpecError(f"invalid YAML{where}: {problem}", file=shown, path="$") from None
        data = {} if data is None else data
    else:
        try:
            data = json.loads(text, object_pairs_hook=_no_duplicates)
        except json.JSONDecodeError as exc:
            raise SpecError(
                f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", file=shown, path="$"
            ) from None
        except _DuplicateKeyError as exc:
            raise SpecError(
                f"key {exc.args[0]!r} appears twice in the same object; keep one", file=shown
            ) from None
    if not isinstance(data, dict):
        raise SpecError(
            f"expected an object at the top level, got {type(data).__name__}", file=shown, path="$"
        )
    return data


def parse_spec(data: Mapping[str, Any], kind: str, *, file: str | None = None) -> SpecModel:
    """Validate an already-read document; SpecError for the first problem (notes list the rest)."""
    model, errors = _parse(data, kind, file)
    if errors:
        raise _first_with_notes(errors)
    assert model is not None
    return model


def _parse(data: Mapping[str, Any], kind: str, file: str | None) -> tuple[SpecModel | None, list[SpecError]]:
    if kind not in _ALL_KINDS:
        raise SpecError(f"unknown spec kind {kind!r}; expected one of {', '.join(_ALL_KINDS)}", file=file)
    cls = _ALL_KINDS[kind]
    try:
        return cls.model_validate(data), []
    except ValidationError as exc:
        return None, spec_errors(exc, cls, data, file)


def try_load_spec(path: str | Path, kind: str | None = None) -> tuple[SpecModel | None, list[SpecError]]:
    """Load one document and report every problem in it instead of stopping at the first."""
    p = Path(path)
    shown = display_path(p)
    try:
        kind = kind or kind_of(p)
        data = read_document(p)
        model, errors = _parse(data, kind, shown)
    except SpecError as exc:
        return None, [exc]
    if isinstance(model, SourceSpec):
        model.with_name(p.stem)
    return model, errors


def load_spec(path: str | Path, kind: str | None = None) -> SpecModel:
    """Load and validate one document; its kind comes from its folder unless ``kind`` is given.

    Raises SpecError (file, JSON path, expectation) for the first problem; further problems of the
    same file are attached as exception notes.
    """
    model, errors = try_load_spec(path, kind)
    if errors:
        raise _first_with_notes(errors)
    assert model is not None
    return model


def _first_with_notes(errors: list[SpecError]) -> SpecError:
    first = errors[0]
    if len(errors) > 1:
        first.add_note(f"{len(errors) - 1} more problem(s) in this document:")
        for other in errors[1:]:
            first.add_note(f"  {other}")
    return first


def check_secrets(
    spec: SpecModel | Mapping[str, Any], file: str | None = None, *, raise_errors: bool = True
) -> list[SecretError]:
    """Every ``${NAME}`` reference in ``spec`` whose variable is not set in the environment.

    With ``raise_errors`` (the default, for run time) the first one is raised, the others attached as
    notes; otherwise they are returned. Values are never read into the errors.
    """
    errors = missing_secrets(spec, file=file)
    if errors and raise_errors:
        first = errors[0]
        for other in errors[1:]:
            first.add_note(str(other))
        raise first
    return errors


@dataclass
class ValidationReport:
    """Outcome of :func:`validate_workspace`."""

    root: Path
    documents: list[tuple[Path, str, SpecModel]] = field(default_factory=list)
    """Every document that parsed: (path, kind, model)."""
    errors: list[SpecError] = field(default_factory=list)
    """Every problem found: parse errors first, then cross-reference errors."""
    warnings: list[str] = field(default_factory=list)
    """Things that will not stop validation but may stop a run (unset secrets, odd file names)."""

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed)."""
        return not self.errors

    def of_kind(self, kind: str) -> list[tuple[Path, SpecModel]]:
        """Documents of one kind, as (path, model)."""
        return [(path, model) for path, k, model in self.documents if k == kind]


def validate_workspace(root: str | Path) -> ValidationReport:
    """Load every document under ``root`` (collecting all errors) and check references between them.

    Secrets are not resolved; a warning lists each referenced variable that is currently unset.
    """
    root_path = Path(root)
    if not root_path.is_dir():
        raise WorkspaceError(f"{display_path(root_path)} is not a workspace folder (no such directory)")
    report = ValidationReport(root=root_path)

    settings = root_path / SETTINGS_FILE
    if settings.is_file():
        _add(report, settings, SETTINGS_KIND)
    else:
        report.warnings.append(f"{display_path(settings)}: not found; using default settings")

    for kind in SPEC_KINDS:
        folder = root_path / kind
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.name.startswith("."):
                continue
            if path.suffix != ".json" or not path.is_file():
                report.warnings.append(f"{display_path(path)}: ignored; spec documents are .json files")
                continue
            _add(report, path, kind)

    errors, warnings = cross_check(root_path, report.documents)
    report.errors.extend(errors)
    report.warnings.extend(warnings)
    return report


def _add(report: ValidationReport, path: Path, kind: str) -> None:
    model, errors = try_load_spec(path, kind)
    report.errors.extend(errors)
    if model is None:
        return
    report.documents.append((path, kind, model))
    shown = display_path(path)
    for name in find_secret_refs(model):
        if name in os.environ:
            continue
        report.warnings.append(
            f"{shown}: needs secret ${{{name}}}, which is not set; export {name}=... before running"
        )

"""One exception root for MATIH.

Tree::

    MatihError
    ├── SpecError              a workspace document is invalid (file, JSON path, fix)
    ├── SecretError            a ${ENV} reference has no value at run time
    ├── WorkspaceError         no workspace, or its state folder is unusable
    ├── WarehouseError         the SQL engine refused a statement or a table is missing
    ├── SandboxError           the NovaMart simulator was asked for something it cannot build
    ├── SourceError            a connector could not read its source (auth, network, protocol, load)
    ├── TrainingError          training could not run on the given dataset
    ├── RegistryError          MLflow has no such model, version or alias
    ├── ValidationGateError    a model breached the validation thresholds
    ├── DeploymentError        a rollout failed its health check or could not switch
    └── OrchestrationError     Temporal is unreachable, or a pipeline run failed or is unknown

``transient`` tells orchestration whether a retry can help (connection refused, 5xx, 429) or whether
the input itself is wrong and retrying only wastes time.
"""

from __future__ import annotations


class MatihError(Exception):
    """Root of every error MATIH raises on purpose."""

    transient: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SpecError(MatihError):
    """A spec document is invalid. Carries the file, the JSON path and the expectation."""

    def __init__(self, message: str, *, file: str | None = None, path: str | None = None) -> None:
        where = ":".join(p for p in (file, path) if p)
        super().__init__(f"{where}: {message}" if where else message)
        self.file = file
        self.path = path
        self.detail = message


class SecretError(MatihError):
    """A ``${NAME}`` reference names an environment variable that is not set."""

    def __init__(self, name: str, *, file: str | None = None, path: str | None = None) -> None:
        where = ":".join(p for p in (file, path) if p)
        prefix = f"{where}: " if where else ""
        super().__init__(
            f"{prefix}secret ${{{name}}} is not set; export {name}=... in the environment "
            "(its value is never written to disk or logs)"
        )
        self.name = name
        self.file = file
        self.path = path


class WorkspaceError(MatihError):
    """The workspace folder is missing or malformed."""


class WarehouseError(MatihError):
    """The warehouse refused a statement; the previous tables are untouched."""


class SandboxError(MatihError):
    """The NovaMart simulator was asked for an impossible world."""


class SourceError(MatihError):
    """A sync failed. Names the source and stream; ``transient`` when a later retry may succeed."""

    def __init__(
        self, message: str, *, source: str | None = None, stream: str | None = None, transient: bool = False
    ) -> None:
        where = ":".join(p for p in (source, stream) if p)
        super().__init__(f"source {where}: {message}" if where else message)
        self.source = source
        self.stream = stream
        self.transient = transient


class TrainingError(MatihError):
    """Training could not run on the given dataset or configuration."""


class RegistryError(MatihError):
    """The model registry has no such model, version or alias."""


class ValidationGateError(MatihError):
    """A model breached its validation thresholds and was not promoted."""


class DeploymentError(MatihError):
    """A rollout failed; the version that was live before keeps serving."""


class OrchestrationError(MatihError):
    """Temporal could not be reached, or a pipeline run is unknown or failed."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient

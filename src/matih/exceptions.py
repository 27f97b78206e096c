"""One exception root for MATIH.

Tree::

    MatihError
    ├── SpecError              a workspace document is invalid (file, JSON path, fix)
    ├── SecretError            a ${ENV} reference has no value at run time
    ├── WorkspaceError         no workspace, or its state folder is unusable
    ├── WarehouseError         the SQL engine refused a statement or a table is missing
    │   ├── QueryError         a statement cannot run as given (line and column when known)
    │   └── QueryCancelled     the user interrupted a running statement; it was rolled back
    ├── SandboxError           the NovaMart simulator was asked for something it cannot build
    ├── SourceError            a connector could not read its source (auth, network, protocol, load)
    ├── QualityError           an expectation suite failed at error severity (carries the run)
    ├── TrainingError          training could not run on the given dataset
    ├── RegistryError          MLflow has no such model, version or alias
    ├── ValidationGateError    a model breached the validation thresholds
    ├── DeploymentError        a rollout failed its health check or could not switch
    ├── OrchestrationError     Temporal is unreachable, or a pipeline run failed or is unknown
    └── DeliveryError          a notification (Slack) was refused or could not be delivered

``transient`` tells orchestration whether a retry can help (connection refused, 5xx, 429) or whether
the input itself is wrong and retrying only wastes time. :func:`is_transient` is the one place that
decides it, for MATIH's own errors and for the low-level ones that reach a task.
"""

from __future__ import annotations

import sqlite3
from typing import Any

__all__ = [
    "DeliveryError",
    "DeploymentError",
    "MatihError",
    "OrchestrationError",
    "QualityError",
    "QueryCancelled",
    "QueryError",
    "RegistryError",
    "SandboxError",
    "SecretError",
    "SourceError",
    "SpecError",
    "TrainingError",
    "ValidationGateError",
    "WarehouseError",
    "WorkspaceError",
    "is_transient",
]


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


class QueryError(WarehouseError):
    """A statement that cannot run as given; ``line``/``column`` locate the problem when known."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None) -> None:
        where = f" (line {line}, column {column})" if line is not None and column is not None else ""
        where = where or (f" (line {line})" if line is not None else "")
        super().__init__(message + where)
        self.line = line
        self.column = column


class QueryCancelled(WarehouseError):
    """The user interrupted a running statement (Ctrl-C); its transaction was rolled back."""


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


class QualityError(MatihError):
    """An expectation suite failed: an error-level expectation did not hold. ``run`` is the suite run
    (:class:`matih.quality.suites.SuiteRun`) with every expectation's result."""

    def __init__(self, message: str, *, run: Any = None) -> None:
        super().__init__(message)
        self.run = run


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


class DeliveryError(MatihError):
    """A notification was refused or could not be delivered; ``retry_after`` when the service asked to
    wait. The message never contains the webhook URL (it is a secret)."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


def is_transient(err: BaseException) -> bool:
    """Whether retrying can help: MATIH's own ``transient`` flag; otherwise network and time-outs, file
    locks held by another process (DuckDB's IOException), and a busy database (SQLite's, or a
    PostgreSQL connection dropped: SQLAlchemy's OperationalError)."""
    if isinstance(err, MatihError):
        return err.transient
    if isinstance(err, OSError | TimeoutError | sqlite3.OperationalError):
        return True
    import duckdb
    import httpx

    if isinstance(err, httpx.TransportError | duckdb.IOException):
        return True
    try:
        from sqlalchemy.exc import OperationalError
    except ImportError:  # pragma: no cover - SQLAlchemy is a dependency
        return False
    return isinstance(err, OperationalError)

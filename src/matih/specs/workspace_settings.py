"""``matih.yaml``: workspace-wide settings. Every field has a default, so an empty file is valid."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from matih.specs.common import SecretRef, SpecModel, raise_spec_errors

__all__ = [
    "ApiKey",
    "SourcesSettings",
    "TemporalSettings",
    "TrackingSettings",
    "WarehouseSettings",
    "WorkspaceSettings",
]


class WarehouseSettings(SpecModel):
    """SQL engine holding raw, derived and forecast tables."""

    engine: Literal["duckdb", "postgres", "trino"] = "duckdb"
    """``duckdb`` is embedded (a file under ``.matih/``); the others need a ``dsn``."""
    dsn: str | None = None
    """Connection string; put passwords in ``${NAME}`` references, e.g. ``"postgresql://u:${PG_PW}@h/db"``."""
    memory_limit: str | None = Field(default=None, pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
    """Cap on the embedded engine's memory, e.g. ``"6GB"``; defaults to a quarter of the machine's RAM."""
    threads: int | None = Field(default=None, ge=1)
    """Worker threads of the embedded engine; defaults to one per core."""

    @model_validator(mode="after")
    def _dsn_for_servers(self) -> WarehouseSettings:
        if self.engine != "duckdb" and not self.dsn:
            raise_spec_errors(
                "WarehouseSettings",
                [
                    (
                        ("dsn",),
                        f"engine {self.engine!r} needs a dsn (a connection string); only duckdb is embedded",
                    )
                ],
            )
        return self


class TrackingSettings(SpecModel):
    """Experiment tracking and model registry."""

    engine: Literal["mlflow"] = "mlflow"
    """Tracking backend."""
    uri: str | None = None
    """Tracking URI; defaults to SQLite under ``.matih/``."""


class TemporalSettings(SpecModel):
    """Workflow orchestration."""

    address: str | None = None
    """Temporal frontend ``host:port``; pipelines run in-process when omitted."""


class ApiKey(SpecModel):
    """A key accepted by the serving API."""

    key: SecretRef
    """Reference to the key, e.g. ``"${MATIH_READER_KEY}"``."""
    role: Literal["reader", "editor"] = "reader"
    """``reader`` may fetch forecasts; ``editor`` may also change specs and trigger runs."""


class SourcesSettings(SpecModel):
    """How connectors reach their sources."""

    endpoints: Literal["production", "sandbox"] = "production"
    """``production`` uses each spec as written; ``sandbox`` points every connector at the running
    NovaMart sandbox (``matih sandbox serve``) and takes credentials from it."""
    max_attempts: int = Field(default=6, ge=1, le=20)
    """Attempts per HTTP request before a sync fails (429, 5xx and network errors are retried)."""
    backoff_seconds: float = Field(default=1.0, ge=0, le=60)
    """First wait after a 5xx or a network error; doubles on each retry."""


class WorkspaceSettings(SpecModel):
    """Contents of ``matih.yaml``."""

    name: str | None = None
    """Workspace name; defaults to the folder name."""
    warehouse: WarehouseSettings = Field(default_factory=WarehouseSettings)
    """SQL engine."""
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    """Experiment tracking."""
    temporal: TemporalSettings = Field(default_factory=TemporalSettings)
    """Orchestration."""
    sources: SourcesSettings = Field(default_factory=SourcesSettings)
    """Connector endpoints and retry policy."""
    api_keys: list[ApiKey] = Field(default_factory=list)
    """Keys accepted by the serving API, each with a role."""

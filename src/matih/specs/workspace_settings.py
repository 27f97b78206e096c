"""``matih.yaml``: workspace-wide settings. Every field has a default, so an empty file is valid."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from matih.specs.common import Duration, SecretRef, SpecModel, raise_spec_errors

__all__ = [
    "ApiKey",
    "InferenceSettings",
    "NotificationSettings",
    "RaySettings",
    "SourcesSettings",
    "TemporalSettings",
    "TrackingSettings",
    "WarehouseSettings",
    "WorkspaceSettings",
]


class WarehouseSettings(SpecModel):
    """SQL engine holding raw, derived and forecast tables."""

    engine: Literal["duckdb", "spark"] = "duckdb"
    """``duckdb`` is embedded (files under ``.matih/warehouse``); ``spark`` runs the same SQL on Spark SQL
    over Parquet tables (``local[*]`` started by MATIH, or the cluster at ``master``)."""
    master: str | None = None
    """Spark only: the master URL of a cluster, e.g. ``spark://host:7077`` (``MATIH_SPARK_MASTER`` wins)."""
    path: str | None = None
    """Spark only: where the Parquet tables live, a filesystem path every Spark executor reads (default
    ``.matih/warehouse`` of the workspace)."""
    memory_limit: str | None = Field(default=None, pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
    """Cap on the engine's memory, e.g. ``"6GB"`` (DuckDB's memory limit, Spark's driver memory);
    defaults to a quarter of the machine's RAM."""
    threads: int | None = Field(default=None, ge=1)
    """Worker threads of the embedded engine (``local[threads]`` on Spark); defaults to one per core."""

    @model_validator(mode="after")
    def _spark_settings_need_spark(self) -> WarehouseSettings:
        if self.engine != "spark":
            wrong = [f for f in ("master", "path") if getattr(self, f) is not None]
            if wrong:
                raise_spec_errors(
                    "WarehouseSettings",
                    [((f,), f"{f} is a Spark setting; add `engine: spark` or remove it") for f in wrong],
                )
        return self


class TrackingSettings(SpecModel):
    """Experiment tracking and model registry."""

    engine: Literal["mlflow"] = "mlflow"
    """Tracking backend."""
    uri: str | None = None
    """Tracking URI; defaults to SQLite under ``.matih/``."""


class TemporalSettings(SpecModel):
    """Workflow orchestration on Temporal."""

    address: str | None = None
    """Temporal frontend ``host:port`` of a cluster (``MATIH_TEMPORAL_ADDRESS`` overrides it); when
    omitted MATIH starts the Temporal dev server itself, with its database under ``.matih/temporal``."""
    namespace: str = Field(default="default", min_length=1)
    """Temporal namespace."""
    task_queue: str = Field(default="matih", min_length=1)
    """Task queue the MATIH workers poll."""
    max_concurrent_tasks: int = Field(default=4, ge=1, le=64)
    """Pipeline tasks one worker runs at the same time."""
    heartbeat_timeout: Duration = Field(default_factory=lambda: Duration.parse("30s"))
    """A task whose worker stops heartbeating for this long is handed to another worker."""
    time_scale: float = Field(default=1.0, gt=0, le=1)
    """Multiplies every duration of a pipeline spec (retry intervals, timeouts, health checks); below 1
    only for tests and rehearsals, e.g. 0.01 turns a 60 s retry wait into 0.6 s (Temporal waits at
    least 1 s between attempts)."""


class RaySettings(SpecModel):
    """Where training runs."""

    address: str | None = None
    """A Ray cluster (``"auto"``, ``"ray://head:10001"``, ``"head:6379"``) or ``"local"`` (a Ray instance
    on this machine, started by MATIH); ``MATIH_RAY_ADDRESS`` overrides it. When omitted, models are fitted
    one after the other in the process that trains."""


class CalendarSettings(SpecModel):
    """The business's calendar, which forecasts may use for the days ahead."""

    retail_events: Literal["us", "none"] = "none"
    """``us``: the US retail windows (Black Friday weekend, the Christmas ramp, Christmas Day,
    Valentine's week and the seed's holiday windows), as NovaMart sells; ``none``: no retail windows."""
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    """ISO 3166 country code whose public holidays are marked (the ``holidays`` package), e.g. ``GB``."""
    subdivision: str | None = None
    """A region of the country with its own holidays (``ENG``, ``SCT``; ``CA`` for California)."""
    events_table: str | None = None
    """A table of the business's own event dates (a ``date`` column): sales, launches, local fairs."""


class InferenceSettings(SpecModel):
    """How forecasts are computed from a trained model."""

    compiled_trees: Literal["auto", "always", "never"] = "auto"
    """LightGBM models scored as native code compiled by lleaves (the same numbers, several times
    faster): ``auto`` compiles a model version the first time one prediction scores
    ``compile_min_rows`` rows or more (a seed-scale batch; not the demo's), ``always`` at any size,
    ``never`` keeps LightGBM's own predict. Compiled code is cached under ``.matih/compiled``."""
    compile_min_rows: int = Field(default=100_000, ge=1)
    """Rows one prediction must score before ``auto`` compiles the model's trees (about 6 s of one core
    per 500 trees, once per version; below this a day's batch takes LightGBM a few seconds at most)."""


class NotificationSettings(SpecModel):
    """Where pipeline notifications are delivered."""

    slack_webhook_url: SecretRef | None = "${SLACK_WEBHOOK_URL}"
    """Slack incoming-webhook URL, always as a ``${NAME}`` reference; the message's ``channel`` is the
    spec's ``target``. When the variable is unset, notifications are skipped with a warning."""


class ApiKey(SpecModel):
    """A key accepted by the serving API."""

    key: SecretRef
    """Reference to the key, e.g. ``"${MATIH_READER_KEY}"``."""
    role: Literal["reader", "editor"] = "reader"
    """``reader`` may fetch forecasts; ``editor`` may also change specs and trigger runs."""
    rate_limit: str = "100/second"
    """Most requests the key may make, in the ``limits`` library's notation (``"100/second"``,
    ``"6000/minute"``, ``"10 per second"``); beyond it the API answers 429 with ``Retry-After``."""

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        import limits

        try:
            amount = limits.parse(value).amount
        except ValueError:
            amount = 0
        if amount < 1:
            raise ValueError(f"{value!r} is not a rate; write it like '100/second' or '6000/minute'")
        return value


class SourcesSettings(SpecModel):
    """How connectors reach their sources."""

    endpoints: str = Field(default="production", pattern=r"^[a-z][a-z0-9_-]*$")
    """``production`` uses each spec as written; another value names an endpoint provider (the
    ``matih.endpoints`` entry-point group): ``sandbox`` points every connector at the running NovaMart
    simulator (started by the CLI's ``sandbox serve``) and takes credentials from it."""
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
    ray: RaySettings = Field(default_factory=RaySettings)
    """Distributed training."""
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    """Notification delivery."""
    api_keys: list[ApiKey] = Field(default_factory=list)
    """Keys accepted by the serving API, each with a role."""
    calendar: CalendarSettings = Field(default_factory=CalendarSettings)
    """Holidays and events the forecasts know about in advance."""
    inference: InferenceSettings = Field(default_factory=InferenceSettings)
    """How trained models compute forecasts."""

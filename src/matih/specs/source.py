"""``sources/<name>.json``: where raw data comes from and how often it is synced.

The source's name is the file stem (``sources/shopify-orders.json`` -> ``"shopify-orders"``); pipelines
refer to it in ``ingestion_trigger.config.connections``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from matih.specs.common import CronExpression, SecretRef, SpecModel, matching, raise_spec_errors

__all__ = [
    "CONNECTOR_CONFIGS",
    "Connector",
    "Deduplication",
    "Destination",
    "FileConfig",
    "GoogleAnalyticsConfig",
    "GoogleAnalyticsCredentials",
    "PostgresConfig",
    "ReplicationMethod",
    "ShopifyConfig",
    "ShopifyCredentials",
    "SourceConfig",
    "SourceSchedule",
    "SourceSpec",
    "StreamSpec",
    "Transformation",
]

Connector = Literal["source-shopify", "source-postgres", "source-google-analytics-data-api", "source-file"]

_URL = Annotated[str, matching(r"https?://\S+", "an http(s) URL like 'http://localhost:8080'")]


class ShopifyCredentials(SpecModel):
    """How MATIH authenticates against the Shopify Admin API."""

    auth_method: Literal["api_password"]
    """Authentication scheme; only private-app API passwords are supported."""
    api_password: SecretRef
    """Reference to the Admin API password, e.g. ``"${SHOPIFY_API_KEY}"``."""


class ShopifyConfig(SpecModel):
    """Connector settings for ``source-shopify``."""

    shop: str = Field(min_length=1)
    """Shop domain, e.g. ``"novamart.myshopify.com"``."""
    credentials: ShopifyCredentials
    """API credentials (secret references only)."""
    base_url: _URL | None = None
    """Override of the API root, e.g. a local sandbox; defaults to ``https://<shop>``."""
    product_key: Literal["sku", "id"] = "sku"
    """What ``product_id`` holds in the loaded tables: the variant SKU (shared with other systems) or
    Shopify's numeric product id."""


class ReplicationMethod(SpecModel):
    """How rows are read from Postgres."""

    method: Literal["standard", "xmin", "cdc"]
    """``standard`` reads via cursor columns, ``xmin`` via transaction ids, ``cdc`` via replication."""


class PostgresConfig(SpecModel):
    """Connector settings for ``source-postgres``."""

    host: str = Field(min_length=1)
    """Database host name."""
    port: int = Field(default=5432, ge=1, le=65535)
    """TCP port."""
    database: str = Field(min_length=1)
    """Database name."""
    schemas: list[str] = Field(default_factory=lambda: ["public"], min_length=1)
    """Schemas whose tables may be synced as streams."""
    replication_method: ReplicationMethod = Field(
        default_factory=lambda: ReplicationMethod(method="standard")
    )
    """How changed rows are detected."""
    username: str | None = None
    """Login role; may be a ``${NAME}`` reference."""
    password: SecretRef | None = None
    """Reference to the password, e.g. ``"${INVENTORY_DB_PASSWORD}"``."""
    mode: Literal["ingest", "live"] = "ingest"
    """``ingest`` copies tables into the warehouse; ``live`` queries the database in place."""


class GoogleAnalyticsCredentials(SpecModel):
    """Service-account credentials for the GA4 Data API."""

    credentials_json: SecretRef
    """Reference to the service-account JSON, e.g. ``"${GA_SERVICE_ACCOUNT_JSON}"``."""


class GoogleAnalyticsConfig(SpecModel):
    """Connector settings for ``source-google-analytics-data-api``."""

    property_id: Annotated[
        str, matching(r"properties/\d+", "'properties/<number>', like 'properties/349871234'")
    ]
    """GA4 property, written ``"properties/<number>"``."""
    credentials: GoogleAnalyticsCredentials
    """Service-account credentials (secret references only)."""
    date_ranges_start_date: dt.date
    """First day to fetch on the initial sync (``YYYY-MM-DD``)."""
    base_url: _URL | None = None
    """Override of the API root, e.g. a local sandbox."""


class FileConfig(SpecModel):
    """Connector settings for ``source-file``: local files, one table per stream."""

    path: str = Field(min_length=1)
    """File path or glob, relative to the workspace, e.g. ``"data/orders/*.csv"``."""
    format: Literal["csv", "parquet", "jsonl"]
    """File format."""
    table: str | None = None
    """Target table; defaults to the stream name."""


SourceConfig = ShopifyConfig | PostgresConfig | GoogleAnalyticsConfig | FileConfig
"""Connector settings; which model applies is decided by ``SourceSpec.connector``."""

CONNECTOR_CONFIGS: dict[str, type[SpecModel]] = {
    "source-shopify": ShopifyConfig,
    "source-postgres": PostgresConfig,
    "source-google-analytics-data-api": GoogleAnalyticsConfig,
    "source-file": FileConfig,
}


class StreamSpec(SpecModel):
    """One table (stream) read from the source."""

    name: str = Field(min_length=1)
    """Stream name as the connector exposes it, e.g. ``"orders"``."""
    sync_mode: Literal["incremental", "full_refresh"]
    """``incremental`` reads only rows changed since the last cursor; ``full_refresh`` re-reads all."""
    cursor_field: str | None = None
    """Column that orders changes, e.g. ``"updated_at"`` (incremental streams)."""
    primary_key: list[str] | None = None
    """Columns identifying a row, used to upsert incremental batches."""
    max_shrink: float = Field(default=0.5, ge=0, le=1)
    """The largest share of its rows a full refresh may remove from the stream's table (0.5: down to
    half). A refresh that would remove more, an empty answer included, fails and loads nothing; set 1
    where the source may really lose that many rows."""


class SourceSchedule(SpecModel):
    """When the source is synced."""

    type: Literal["cron"]
    """Schedule kind; only ``cron`` is supported."""
    expression: CronExpression
    """5-field cron expression, e.g. ``"0 * * * *"``."""


class Deduplication(SpecModel):
    """How duplicate rows are collapsed after a sync."""

    key: list[str] = Field(min_length=1)
    """Columns that identify a logical row."""
    strategy: Literal["last_write_wins", "first_write_wins"]
    """Which duplicate survives."""


class Transformation(SpecModel):
    """Light, declarative clean-up applied while loading."""

    schema_mapping: dict[str, str] = Field(default_factory=dict)
    """Rename map from source column to warehouse column."""
    deduplication: Deduplication | None = None
    """Duplicate handling; none when omitted."""


class Destination(SpecModel):
    """Where a source's tables land in the warehouse: ``<catalog>.<schema>.<stream table>``."""

    # ``schema`` is a BaseModel attribute: the field is ``schema_`` in Python, ``schema`` in JSON
    model_config = ConfigDict(**SpecModel.model_config, serialize_by_alias=True, validate_by_name=True)

    catalog: Annotated[str, matching(r"[A-Za-z_][A-Za-z0-9_]*", "a plain identifier like 'postgresql'")]
    """Warehouse catalog, e.g. ``"postgresql"``."""
    schema_: Annotated[str, matching(r"[A-Za-z_][A-Za-z0-9_]*", "a plain identifier like 'shopify'")] = Field(
        alias="schema"
    )
    """Schema inside the catalog, e.g. ``"shopify"``."""


class SourceSpec(SpecModel):
    """A raw data source: connector, its settings, the streams to sync and the schedule."""

    connector: Connector
    """Connector type; decides which ``config`` fields are accepted."""
    config: SourceConfig
    """Connector settings; the accepted fields depend on ``connector``."""
    streams: list[StreamSpec] = Field(min_length=1)
    """Streams (tables) to sync."""
    schedule: SourceSchedule
    """Sync schedule."""
    transformation: Transformation | None = None
    """Optional renames and de-duplication."""
    destination: Destination | None = None
    """Where the tables land; each connector has a default (Shopify: ``postgresql.shopify``)."""

    _name: str | None = PrivateAttr(default=None)

    @property
    def name(self) -> str | None:
        """The source's name: its file stem, set by the loader (``None`` when built in memory)."""
        return self._name

    def with_name(self, name: str) -> SourceSpec:
        """Attach the name (the file stem) and return self."""
        self._name = name
        return self

    @field_validator("config", mode="wrap")
    @classmethod
    def _config_for_connector(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        # A plain union would try every connector model and report four sets of errors; validating
        # against the model the connector names gives one precise error list at $.config.<field>.
        connector = info.data.get("connector")
        model = CONNECTOR_CONFIGS.get(connector) if isinstance(connector, str) else None
        if model is None:
            # The connector itself is already reported as invalid; don't pile config errors on top.
            return value if isinstance(value, SpecModel) else None
        if isinstance(value, model):
            return value
        if isinstance(value, SpecModel):
            value = value.model_dump(exclude_unset=True)
        return model.model_validate(value)

    @model_validator(mode="after")
    def _unique_streams(self) -> SourceSpec:
        seen: dict[str, int] = {}
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for i, stream in enumerate(self.streams):
            if stream.name in seen:
                problems.append(
                    (
                        ("streams", i, "name"),
                        f"stream {stream.name!r} is already listed at streams[{seen[stream.name]}]",
                    )
                )
            seen.setdefault(stream.name, i)
        raise_spec_errors("SourceSpec", problems)
        return self

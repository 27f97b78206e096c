"""Ingestion: connectors built on dlt that load raw sources into the warehouse, and their sync journal."""

from matih.sources.connector import Connector, StreamInfo, SyncContext, connector_for, connectors
from matih.sources.live import live_sources, live_warehouse
from matih.sources.runs import StreamRun, SyncRun, history
from matih.sources.status import SourceSchedule, StreamStatus, schedules, stream_status
from matih.sources.sync import destination_of, load_source, source_names, sync

__all__ = [
    "Connector",
    "SourceSchedule",
    "StreamInfo",
    "StreamRun",
    "StreamStatus",
    "SyncContext",
    "SyncRun",
    "connector_for",
    "connectors",
    "destination_of",
    "history",
    "live_sources",
    "live_warehouse",
    "load_source",
    "schedules",
    "source_names",
    "stream_status",
    "sync",
]

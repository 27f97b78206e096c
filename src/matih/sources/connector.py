"""What a connector plugin provides, and how MATIH finds one by the spec's ``connector`` name.

A connector is a module exposing ``CONNECTOR``, an instance of :class:`Connector`. Built-in ones live in
``matih.sources.connectors.<folder>``; others are found through the ``matih.connectors`` entry-point
group, so a package can add one without touching MATIH.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from matih.exceptions import SourceError
from matih.sources.http import RetryPolicy

if TYPE_CHECKING:
    from dlt.extract.resource import DltResource

    from matih.specs.source import SourceSpec, StreamSpec
    from matih.workspace import Workspace


@dataclass
class SyncContext:
    """Everything a connector needs to build its dlt resources for one sync."""

    source: str
    """The source's name (its spec file stem)."""
    spec: SourceSpec
    config: dict[str, Any]
    """The spec's ``config`` with secrets resolved and endpoint overrides applied: never log it."""
    streams: list[StreamSpec]
    policy: RetryPolicy
    full_refresh: bool
    workspace: Workspace
    transformation: Any = None
    retries: int = 0
    """HTTP retries made during the sync (429s, 5xx, network errors), for the run record."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def note_retry(self) -> None:
        with self._lock:
            self.retries += 1


@dataclass(frozen=True)
class StreamInfo:
    """A stream a connector offers: the tables it fills, the cursor it reads by, the modes it allows.

    Keys are not listed here: the resources declare them to dlt, and the catalog reads them there."""

    tables: tuple[str, ...]
    cursor_field: str | None = None
    sync_modes: tuple[str, ...] = ("incremental", "full_refresh")
    custom_keys: bool = True
    """Whether a spec may set the stream's ``primary_key`` (False: the connector fixes the keys)."""
    state_resource: str | None = None
    """The dlt resource holding the stream's cursor, when it is not named like the stream."""


@dataclass
class Connector:
    """One kind of source."""

    name: str
    """The spec's ``connector`` value, e.g. ``source-shopify``."""
    streams: Mapping[str, StreamInfo]
    """Streams by name; a spec may only ask for these (``None`` in a key means any name)."""
    destination: Callable[[SourceSpec, str], tuple[str, str]]
    """(spec, source name) -> (catalog, schema) the tables land in, unless the spec says otherwise."""
    resources: Callable[[SyncContext], list[DltResource]]
    """Builds the dlt resources of the selected streams."""
    transformation: bool = False
    """Whether the connector applies a spec's ``transformation`` (renames, deduplication)."""
    explain: Callable[[BaseException, str], SourceError | None] | None = None
    """(an exception from a failed sync, the source's name) -> the clear error to report instead, or
    ``None``. Asked for each exception in the failure's chain, outermost first: a driver's error deep
    inside dlt's ``PipelineStepFailed`` then reaches the user in the source's own words."""

    def stream(self, name: str) -> StreamInfo:
        if name in self.streams:
            return self.streams[name]
        if "*" in self.streams:
            return self.streams["*"]
        raise SourceError(
            f"{self.name} has no stream {name!r}; it offers {', '.join(sorted(self.streams))}",
        )


@cache
def connectors() -> dict[str, Connector]:
    """Every connector, built-in first, then entry-point plugins (which may not shadow a built-in)."""
    import matih.sources.connectors as package

    found: dict[str, Connector] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        connector = getattr(module, "CONNECTOR", None)
        if isinstance(connector, Connector):
            found[connector.name] = connector
    for entry in entry_points(group="matih.connectors"):
        connector = entry.load()
        if isinstance(connector, Connector) and connector.name not in found:
            found[connector.name] = connector
    return found


def connector_for(name: str) -> Connector:
    """The connector registered under ``name`` (a spec's ``connector`` field)."""
    known = connectors()
    if name not in known:
        raise SourceError(f"no connector named {name!r}; installed: {', '.join(sorted(known))}")
    return known[name]

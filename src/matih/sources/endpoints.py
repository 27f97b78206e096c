"""Endpoint providers: where a workspace's sources answer when they are not the ones the specs name.

``matih.yaml``'s ``sources.endpoints`` is ``production`` (every spec as written) or the name of a
provider, such as ``sandbox``. A provider is a plugin found through the ``matih.endpoints`` entry-point
group (the NovaMart simulator registers ``sandbox`` from its own package, which sits above the core):
given the workspace, it returns config overrides per connector and the values of the ``${NAME}``
references it answers for. The core never imports a provider; it only looks one up by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from matih.exceptions import SourceError
from matih.workspace import Workspace

__all__ = ["PRODUCTION", "EndpointProvider", "Endpoints", "endpoint_provider", "endpoints_for"]

PRODUCTION = "production"
GROUP = "matih.endpoints"


@dataclass(frozen=True)
class Endpoints:
    """What a provider says about a workspace's sources."""

    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Config overrides per connector name (``source-shopify`` -> ``{"base_url": ...}``); a connector
    without an entry reads its source as its spec says."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Values for ``${NAME}`` references, laid over the process environment: never log them."""

    def overrides(self, connector: str) -> dict[str, Any] | None:
        found = self.config.get(connector)
        return dict(found) if found is not None else None


@dataclass(frozen=True)
class EndpointProvider:
    """A plugin that points some connectors elsewhere (registered in ``matih.endpoints``)."""

    connectors: frozenset[str]
    """The connector names it serves; every other connector reads its source as its spec says, and
    does not need the provider to be up."""
    endpoints: Callable[[Workspace], Endpoints]
    """Returns the endpoints for a workspace, or raises :class:`SourceError` (transient when the
    service may come up later, e.g. a simulator that is not running yet)."""


@cache
def _providers() -> dict[str, EndpointProvider]:
    return {entry.name: entry.load() for entry in entry_points(group=GROUP)}


def endpoint_provider(name: str) -> EndpointProvider:
    """The provider registered under ``name`` in the ``matih.endpoints`` entry-point group."""
    known = _providers()
    if name not in known:
        installed = ", ".join(sorted(known)) or "none"
        raise SourceError(
            f"matih.yaml: sources.endpoints {name!r} names no installed endpoint provider (installed: "
            f"{installed}); use 'production' to read every source as its spec says"
        )
    return known[name]


def endpoints_for(ws: Workspace, connector: str, mode: str | None = None) -> Endpoints | None:
    """The endpoints ``connector`` uses under ``mode`` (default: ``matih.yaml``'s ``sources.endpoints``);
    ``None`` in production, or when the provider does not serve that connector."""
    mode = mode or ws.settings().sources.endpoints
    if mode == PRODUCTION:
        return None
    provider = endpoint_provider(mode)
    if connector not in provider.connectors:
        return None
    return provider.endpoints(ws)

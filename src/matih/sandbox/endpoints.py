"""The sandbox as an endpoint provider: points every connector at the running NovaMart servers.

Registered as ``sandbox`` in the ``matih.endpoints`` entry-point group (``pyproject.toml``), so a
workspace whose ``matih.yaml`` says ``sources: {endpoints: sandbox}`` syncs from the simulator without
the core ever importing it.
"""

from __future__ import annotations

from typing import Any

from matih.exceptions import SourceError
from matih.sandbox.server import SandboxEndpoints, running, sandbox_secrets
from matih.sources.endpoints import EndpointProvider, Endpoints
from matih.workspace import Workspace

__all__ = ["SERVED", "connector_overrides", "provider", "sandbox_endpoints"]

#: the connectors the sandbox answers for (files are read as their spec says)
SERVED = frozenset({"source-shopify", "source-google-analytics-data-api", "source-postgres"})


def connector_overrides(ep: SandboxEndpoints) -> dict[str, dict[str, Any]]:
    """Config overrides per connector that point it at the sandbox's servers."""
    return {
        "source-shopify": {"base_url": ep.shopify_url},
        "source-google-analytics-data-api": {"base_url": ep.ga_url},
        "source-postgres": {
            "host": ep.postgres_host,
            "port": ep.postgres_port,
            "database": ep.postgres_database,
            "username": ep.postgres_user,
            "password": "${INVENTORY_DB_PASSWORD}",
        },
    }


def sandbox_endpoints(ws: Workspace) -> Endpoints:
    """The running sandbox's endpoints and credentials; a transient error while it is not running."""
    ep = running(ws)
    if ep is None:
        raise SourceError(
            "matih.yaml points sources at the NovaMart sandbox (sources.endpoints: sandbox) but it is not "
            "running; start it with `matih sandbox serve` (or set sources.endpoints: production)",
            transient=True,
        )
    return Endpoints(config=connector_overrides(ep), env=sandbox_secrets(ws))


provider = EndpointProvider(connectors=SERVED, endpoints=sandbox_endpoints)

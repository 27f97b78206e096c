"""Live sources: PostgreSQL sources declared ``"mode": "live"``, read in place rather than synced.

The warehouse does not know about source specs: this module reads them, resolves their secrets and
endpoints like a sync would, and hands the warehouse the attachments it needs (:func:`live_warehouse`).
Use it wherever the user's SQL or the catalog may reach a source table; code that reads only MATIH's own
tables (training, serving) opens the plain warehouse.
"""

from __future__ import annotations

import json

from matih.sources.connector import connector_for
from matih.sources.sync import build_context, destination_of, load_source
from matih.warehouse import Engine, LiveSource, warehouse_of
from matih.workspace import Workspace

__all__ = ["live_sources", "live_warehouse"]


def live_sources(workspace: Workspace) -> list[LiveSource]:
    """The workspace's live PostgreSQL sources, at their destination's names."""
    live = []
    for path in workspace.spec_files("sources"):
        try:
            raw = json.loads(path.read_text())
        except ValueError:
            continue  # `matih validate` reports it; the warehouse works without it
        if raw.get("connector") != "source-postgres" or raw.get("config", {}).get("mode") != "live":
            continue
        spec = load_source(workspace, path.stem)
        ctx = build_context(workspace, path.stem, spec, connector_for(spec.connector), full_refresh=False)
        config = ctx.config
        catalog, schema = destination_of(spec, path.stem)
        parts = {
            "host": config["host"],
            "port": config.get("port", 5432),
            "dbname": config["database"],
            "user": config.get("username"),
            "password": config.get("password"),
        }
        dsn = " ".join(f"{k}={v}" for k, v in parts.items() if v is not None)
        alias = "live_" + path.stem.replace("-", "_")
        pg_schema = (config.get("schemas") or ["public"])[0]
        live.append(LiveSource(catalog, schema, alias, dsn, pg_schema, secret=config.get("password")))
    return live


def live_warehouse(workspace: Workspace) -> Engine:
    """The workspace's warehouse with its live sources attached under the names queries use."""
    return warehouse_of(workspace, live=live_sources(workspace))

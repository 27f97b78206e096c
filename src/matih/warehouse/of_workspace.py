"""The warehouse a workspace's ``matih.yaml`` configures."""

from __future__ import annotations

import os

from matih.exceptions import WorkspaceError
from matih.warehouse.duckdb_warehouse import LiveSource, Warehouse
from matih.workspace import Workspace


def warehouse_of(workspace: Workspace) -> Warehouse:
    """The workspace's warehouse, as ``matih.yaml`` configures it."""
    workspace.ensure_state()
    settings = workspace.settings().warehouse
    if settings.engine != "duckdb":
        raise WorkspaceError(
            f"matih.yaml: warehouse.engine {settings.engine!r} is not available yet; the embedded engine is "
            "'duckdb' (remove the engine line to use it)"
        )
    return Warehouse(
        workspace.warehouse_dir,
        memory_limit=settings.memory_limit or default_memory_limit(),
        threads=settings.threads,
        live=live_sources(workspace),
    )


def live_sources(workspace: Workspace) -> list[LiveSource]:
    """PostgreSQL sources declared ``"mode": "live"``: read in place, at their destination's names."""
    import json

    live = []
    for path in workspace.spec_files("sources"):
        try:
            raw = json.loads(path.read_text())
        except ValueError:
            continue  # `matih validate` reports it; the warehouse works without it
        if raw.get("connector") != "source-postgres" or raw.get("config", {}).get("mode") != "live":
            continue
        from matih.sources.connector import connector_for
        from matih.sources.sync import build_context, destination_of, load_source

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


def default_memory_limit() -> str:
    """A quarter of physical memory: the warehouse shares the process with training and serving."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "4GB"
    return f"{max(1, total // 4 // 2**30)}GiB"

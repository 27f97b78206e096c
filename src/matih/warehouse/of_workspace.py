"""The warehouse a workspace's ``matih.yaml`` configures."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from matih.warehouse.duckdb_warehouse import Warehouse
from matih.warehouse.engine import Engine
from matih.warehouse.live import LiveSource
from matih.workspace import Workspace


def warehouse_of(workspace: Workspace, *, live: Sequence[LiveSource] = ()) -> Engine:
    """The workspace's warehouse, as ``matih.yaml`` configures it, with ``live`` sources attached (the
    sources package builds them from the specs: :func:`matih.sources.live.live_warehouse`)."""
    workspace.ensure_state()
    settings = workspace.settings().warehouse
    if settings.engine == "spark":
        from matih.warehouse.spark_warehouse import SparkWarehouse

        path = Path(settings.path).expanduser() if settings.path else workspace.warehouse_dir
        return SparkWarehouse(
            path if path.is_absolute() else workspace.root / path,
            master=settings.master,
            threads=settings.threads,
            memory_limit=settings.memory_limit or default_memory_limit(),
            live=list(live),
        )
    return Warehouse(
        workspace.warehouse_dir,
        memory_limit=settings.memory_limit or default_memory_limit(),
        threads=settings.threads,
        live=list(live),
    )


def default_memory_limit() -> str:
    """A quarter of physical memory: the warehouse shares the process with training and serving."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "4GB"
    return f"{max(1, total // 4 // 2**30)}GiB"

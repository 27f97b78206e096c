"""Orchestration on Temporal: pipeline specs as durable workflows, tasks as activities, schedules.

Modules: ``plan`` (what travels through Temporal), ``workflow`` (the DAG runner), ``activities`` and
``tasks`` (what each task type does), ``client`` (runs, history, schedules), ``worker``, ``devserver``
(the embedded Temporal) and ``notify`` (Slack).

The public entry points are in ``runner`` and are re-exported lazily: Temporal's workflow sandbox
imports ``matih.orchestrate.plan`` (and so this package) and must not pull in the client or DuckDB.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ensure_background_worker",
    "run_history",
    "run_pipeline",
    "run_status",
    "schedule",
    "schedules",
    "unschedule",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("matih.orchestrate.runner"), name)
    raise AttributeError(f"module 'matih.orchestrate' has no attribute {name!r}")

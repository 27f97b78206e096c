"""The business day monitors score up to: today, unless the workspace's data comes from a simulator that
keeps its own clock.

Accuracy is a question of which forecasts have matured, which is the data's calendar, not the wall
clock's: a simulator fast-forwarding production (the NovaMart sandbox) shows days that are not today.
A provider in the ``matih.clocks`` entry-point group, registered under the name the workspace's
``sources.endpoints`` uses, says what "today" is for that workspace (``None``: the wall clock's). The
core never imports a provider. Freshness is an operational question and stays on the wall clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points

from matih.workspace import Workspace

__all__ = ["business_today"]

GROUP = "matih.clocks"
PRODUCTION = "production"


@cache
def _providers() -> dict[str, Callable[[Workspace], dt.date | None]]:
    return {entry.name: entry.load() for entry in entry_points(group=GROUP)}


def business_today(ws: Workspace) -> dt.date:
    """Today for ``ws``'s data: its endpoint provider's clock when it keeps one, else the UTC date."""
    mode = ws.settings().sources.endpoints
    provider = _providers().get(mode) if mode != PRODUCTION else None
    day = provider(ws) if provider is not None else None
    return day or dt.datetime.now(dt.UTC).date()

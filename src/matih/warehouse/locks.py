"""The in-process lock on a warehouse folder, taken by everything that opens its catalog files."""

from __future__ import annotations

import threading
from pathlib import Path

_FOLDER_LOCKS: dict[Path, threading.RLock] = {}
_FOLDER_LOCKS_GUARD = threading.Lock()


def folder_lock(directory: str | Path) -> threading.RLock:
    """The lock every opening of a warehouse folder takes within this process.

    DuckDB lets one database instance per process hold a file, and each warehouse connection is its own
    in-memory database ATTACHing the catalog files: two at once fail with "Unique file handle conflict".
    So pipeline tasks running in parallel in one worker take turns on the warehouse (syncs hold it only
    while dlt loads); their other work still overlaps.
    """
    key = Path(directory).resolve()
    with _FOLDER_LOCKS_GUARD:
        return _FOLDER_LOCKS.setdefault(key, threading.RLock())

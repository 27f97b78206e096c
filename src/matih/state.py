"""Small state files under ``.matih/``: atomic JSON documents, JSON-lines journals, and UTC time stamps.

Every record, journal and stamp MATIH keeps goes through these few functions, so a reader never sees
half a document, a journal line is whole once written, and every stamp is an ISO-8601 time in UTC.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

__all__ = ["append_jsonl", "read_jsonl", "utc_now", "utc_stamp", "write_json_atomic"]

Timespec = Literal["seconds", "milliseconds", "microseconds"]


def utc_now() -> dt.datetime:
    """The current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


def utc_stamp(timespec: Timespec = "seconds") -> str:
    """The current UTC time as ISO-8601 text (``2026-12-02T03:04:05+00:00``)."""
    return utc_now().isoformat(timespec=timespec)


def write_json_atomic(
    path: Path,
    payload: Any,
    *,
    indent: int | None = 2,
    private: bool = False,
    default: Callable[[Any], Any] | None = None,
) -> None:
    """Write ``payload`` as JSON to ``path`` so readers see the old document or the new one, never half.

    ``private`` creates the file readable by its owner only (0600), for files holding credentials;
    ``default`` converts values JSON has no type for (as in :func:`json.dumps`)."""
    write_bytes_atomic(path, json.dumps(payload, indent=indent, default=default).encode(), private=private)


def write_bytes_atomic(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never half (``private``:
    readable by its owner only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # a temporary file of its own per call (mkstemp creates it 0600): two writers, even threads of one
    # process, never write into each other's file before the rename
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        if not private:
            os.chmod(name, 0o644)
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise


def append_jsonl(path: Path, record: dict[str, Any], *, durable: bool = False) -> None:
    """Append one record as a JSON line; ``durable`` also syncs it to disk before returning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record) + "\n"
    with path.open("a", encoding="utf-8") as out:
        out.write(line)
        if durable:
            out.flush()
            os.fsync(out.fileno())


def read_jsonl(path: Path, *, contains: str | None = None) -> Iterator[dict[str, Any]]:
    """The records of a JSON-lines journal, oldest first (nothing when it does not exist yet).

    ``contains`` skips lines without that text before parsing them (a cheap filter on long journals)."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as journal:
        for line in journal:
            if line.strip() and (contains is None or contains in line):
                yield json.loads(line)

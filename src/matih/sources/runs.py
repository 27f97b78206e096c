"""The sync journal: one JSON line per sync in ``.matih/sources/runs.jsonl``.

Each record holds the run's start and end, its outcome, rows per stream and table, and the cursor
values after the run. Status, catalog row counts and freshness are read from here. Records never hold
a secret: they are built from stream names, counts, cursor values and error messages that the
connectors word without credentials.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from matih.state import append_jsonl, read_jsonl
from matih.workspace import Workspace


@dataclass
class StreamRun:
    """What one stream did in a sync."""

    name: str
    mode: str
    tables: dict[str, int] = field(default_factory=dict)
    cursor: str | None = None

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


@dataclass
class SyncRun:
    """One sync of one source."""

    run_id: str
    source: str
    connector: str
    started_at: str
    ended_at: str | None = None
    status: str = "running"
    full_refresh: bool = False
    destination: str = ""
    streams: list[StreamRun] = field(default_factory=list)
    error: str | None = None
    retries: int = 0
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.streams)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SyncRun:
        streams = [StreamRun(**s) for s in raw.pop("streams", [])]
        return cls(**raw, streams=streams)


def journal_path(ws: Workspace) -> Path:
    return ws.state / "sources" / "runs.jsonl"


def record(ws: Workspace, run: SyncRun) -> None:
    """Append ``run`` to the journal (one line, flushed and synced)."""
    append_jsonl(journal_path(ws), run.to_dict(), durable=True)


def history(ws: Workspace, source: str | None = None) -> list[SyncRun]:
    """Every recorded sync, oldest first, optionally of one source."""
    runs = (SyncRun.from_dict(raw) for raw in read_jsonl(journal_path(ws)))
    return [run for run in runs if source is None or run.source == source]


def last_success(ws: Workspace, source: str) -> SyncRun | None:
    good = [r for r in history(ws, source) if r.status == "succeeded"]
    return good[-1] if good else None

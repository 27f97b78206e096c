"""What each source looks like now: streams, cursors, last sync; and when each is due."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from croniter import croniter

from matih.sources.runs import history
from matih.sources.sync import destination_of, load_source, source_names
from matih.state import utc_now
from matih.workspace import Workspace


@dataclass
class StreamStatus:
    """One stream of one source, as of its last sync."""

    source: str
    stream: str
    mode: str
    destination: str
    cursor: str | None
    rows_last_sync: int | None
    last_success: str | None
    last_status: str | None
    last_error: str | None


def stream_status(ws: Workspace) -> list[StreamStatus]:
    """Per stream of every source: its mode, cursor, rows of the last good sync and the last outcome."""
    statuses = []
    for name in source_names(ws):
        spec = load_source(ws, name)
        catalog, schema = destination_of(spec, name)
        runs = history(ws, name)
        good = [r for r in runs if r.status == "succeeded"]
        last = runs[-1] if runs else None
        for stream in spec.streams:
            done = next((s for s in good[-1].streams if s.name == stream.name), None) if good else None
            statuses.append(
                StreamStatus(
                    source=name,
                    stream=stream.name,
                    mode=stream.sync_mode,
                    destination=f"{catalog}.{schema}",
                    cursor=done.cursor if done else None,
                    rows_last_sync=done.rows if done else None,
                    last_success=good[-1].ended_at if good else None,
                    last_status=last.status if last else None,
                    last_error=last.error if last and last.status == "failed" else None,
                )
            )
    return statuses


@dataclass
class SourceSchedule:
    source: str
    expression: str
    next_runs: list[dt.datetime]


def schedules(ws: Workspace, *, after: dt.datetime | None = None, count: int = 3) -> list[SourceSchedule]:
    """Each source's cron expression with its next ``count`` run times (UTC)."""
    start = after or utc_now()
    found = []
    for name in source_names(ws):
        spec = load_source(ws, name)
        expression = spec.schedule.expression
        it = croniter(expression, start)
        found.append(SourceSchedule(name, expression, [it.get_next(dt.datetime) for _ in range(count)]))
    return found

"""``feature_freshness``: how old each table is, and how much of a period it spent within its SLA.

A table's loads come from the sync journal (a successful sync that loaded or checked the stream's table;
the seed writes ``shopify.order_items`` for the ingested ``postgresql.shopify.order_items``) and from the
warehouse's write journal (tables MATIH's SQL writes). Between two loads a table ages from the first; the
share of the period within the SLA is the time its age stayed at most ``max_age_hours``, counted from the
table's first load when that came after the period began.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

from matih.sources.runs import history
from matih.state import read_jsonl
from matih.warehouse import TableName
from matih.warehouse.journal import journal_path
from matih.workspace import Workspace

__all__ = ["Freshness", "freshness", "load_times"]


@dataclass(frozen=True)
class Freshness:
    table: str
    resolved: str | None
    """The table it was found as (``None``: no load of it was ever recorded)."""
    max_age_hours: float
    age_hours: float | None
    within_sla: float
    """Share of the period the table was at most ``max_age_hours`` old (0 when never loaded)."""
    loads: int

    @property
    def ok(self) -> bool:
        return self.age_hours is not None and self.age_hours <= self.max_age_hours

    def line(self) -> str:
        age = "never loaded" if self.age_hours is None else f"{self.age_hours:.1f}h old"
        verdict = "OK" if self.ok else "BREACH"
        return f"{self.table}: {self.within_sla:.1%} within {self.max_age_hours:g}h, {age} [{verdict}]" + (
            f" (as {self.resolved})" if self.resolved and self.resolved != self.table else ""
        )


def load_times(ws: Workspace, table: str) -> tuple[str | None, list[dt.datetime]]:
    """(the table's full name, when it was loaded, oldest first) from both journals."""
    parts = table.split(".")
    found: str | None = None
    times: list[dt.datetime] = []
    for run in history(ws):
        if run.status != "succeeded" or not run.ended_at:
            continue
        for stream in run.streams:
            for name in stream.tables:
                full = f"{run.destination}.{name}"
                if full.split(".")[-len(parts) :] == parts:
                    found = full
                    times.append(dt.datetime.fromisoformat(run.ended_at))
    if len(parts) == 3 or not found:
        try:
            wanted = str(TableName.parse(table))
        except ValueError:
            wanted = table
        path = journal_path(ws.warehouse_dir)
        for entry in read_jsonl(path, contains=wanted.split(".")[-1]):
            if entry["table"] == wanted or entry["table"].split(".")[-len(parts) :] == parts:
                found = entry["table"]
                times.append(dt.datetime.fromisoformat(entry["at"]))
    return found, sorted(set(times))


def freshness(
    ws: Workspace, table: str, max_age_hours: float, *, now: dt.datetime, period: dt.timedelta
) -> Freshness:
    """``table``'s age at ``now`` and its share of the ``period`` before ``now`` within ``max_age_hours``."""
    found, times = load_times(ws, table)
    times = [t for t in times if t <= now]
    if not times:
        return Freshness(table, found, max_age_hours, None, 0.0, 0)
    # the period counts from the table's first load when that is later: before it, nothing was promised
    start = max(now - period, times[0])
    sla = dt.timedelta(hours=max_age_hours)
    within = dt.timedelta(0)
    # from each load to the next (or now), the table is within its SLA for at most max_age after it
    before = [t for t in times if t <= start]
    marks = ([before[-1]] if before else []) + [t for t in times if t > start] + [now]
    for load, following in itertools.pairwise(marks):
        lo = max(load, start)
        hi = min(following, load + sla)
        if hi > lo:
            within += hi - lo
    span = now - start
    age = (now - times[-1]).total_seconds() / 3600
    share = min(1.0, within / span) if span.total_seconds() > 0 else 1.0
    return Freshness(table, found, max_age_hours, age, share, len(times))

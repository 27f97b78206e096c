"""The Sources panel's read: each source's streams (mode, cursor, rows, last outcome), its last syncs
from the sync journal and its next scheduled runs, as ``matih sources status`` and ``schedule`` print
them. A sync is started as a run of the source's one-task pipeline (``POST /pipelines/sync-NAME/runs``),
so it runs on Temporal like a scheduled sync and the page follows it like any run."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Query

from matih.api.auth import Caller
from matih.api.query import jsonable
from matih.api.state import Ws
from matih.orchestrate.runnable import PREFIX

__all__ = ["router"]

router = APIRouter(tags=["Sources"])


@router.get("/sources", summary="Every source: streams, cursors, last syncs and next runs")
def sources(caller: Caller, ws: Ws, runs: Annotated[int, Query(ge=0, le=200)] = 10) -> list[dict[str, Any]]:
    from matih.sources import destination_of, history, load_source, schedules, source_names, stream_status

    streams = stream_status(ws)
    crons = {s.source: s for s in schedules(ws)}
    journal = history(ws)
    out = []
    for name in source_names(ws):
        spec = load_source(ws, name)
        catalog, schema = destination_of(spec, name)
        mine = [r for r in journal if r.source == name][-runs:] if runs else []
        out.append(
            {
                "name": name,
                "connector": spec.connector,
                "destination": f"{catalog}.{schema}",
                "schedule": crons[name].expression,
                "next_runs": crons[name].next_runs,
                "sync_pipeline": f"{PREFIX['source']}{name}",
                "streams": [dataclasses.asdict(s) for s in streams if s.source == name],
                "runs": [{**r.to_dict(), "rows": r.rows} for r in reversed(mine)],
            }
        )
    return jsonable(out)

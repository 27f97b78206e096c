"""The Production Health dashboard's read: the report ``matih monitor report`` prints, as JSON (accuracy
per week and category, freshness against its SLA, retraining decisions, serving latency, pipeline runs),
plus the latest monitor runs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from matih.api.auth import Caller
from matih.api.query import jsonable
from matih.api.state import Wh, Ws

__all__ = ["router"]

router = APIRouter(prefix="/monitoring", tags=["Monitoring"])


@router.get("/health", summary="The Production Health report")
def health(caller: Caller, ws: Ws, wh: Wh, days: Annotated[int, Query(ge=1, le=730)] = 30) -> dict[str, Any]:
    from matih.monitoring.runner import past_reports
    from matih.orchestrate.runner import production_health

    report = production_health(ws, days=days, keep_server=True, warehouse=wh)
    body = report.to_dict()
    body["decisions"] = report.decisions
    body["freshness_detail"] = [f.__dict__ for f in report.freshness]
    body["monitor_runs"] = past_reports(ws)[-20:][::-1]
    return jsonable(body)

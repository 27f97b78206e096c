"""auto_reassign acted on: shadow forecasts of every family archived with each published batch, scored by
the accuracy monitor, the seed's condition decided on N matured days (never fewer), the category moved
in a new routing version served at once (blue-green), Slack told with the figures, and one command to
roll it back."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import numpy as np
from typer.testing import CliRunner

from matih.cli.main import app
from matih.forecast.adapt import configs_from_pipeline
from matih.forecast.archive import archive_table, shadow_table
from matih.forecast.batch import forecast
from matih.forecast.dataset import load_features
from matih.forecast.features import FeatureContext
from matih.forecast.registry import Registry
from matih.forecast.routing import family_config
from matih.forecast.routing_versions import current_routing, routing_history
from matih.forecast.training import train
from matih.monitoring.accuracy import FAMILY_ACCURACY_TABLE, track_accuracy
from matih.monitoring.reassign import past_reassignments
from matih.monitoring.runner import run_monitors
from matih.serving.deployments import load_state, republish, rollout
from matih.serving.online import LiveModel
from matih.warehouse import warehouse_of

DEPLOYMENT = "demand-forecaster"
STUMP = "seasonal_naive"  # the family that serves the category first, and should lose it
LAG = 14  # the seed monitor's evaluation_lag_days
ORIGINS = 3


def routing_doc(category: str | None) -> dict[str, Any]:
    return {
        "routing_strategy": "per_category",
        "default_model": "lightgbm",
        "overrides": [{"categories": [category], "model": STUMP}] if category else [],
        "fallback_model": "lightgbm",
        "auto_reassign": {
            "enabled": True,
            "condition": "alternative_model_mape < current_mape * 0.9 for 3 days",
            "notification": "slack:#ml-ops-alerts",
        },
    }


def wait_for(check: Any, seconds: float = 120.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def reassign_section(ws: Any, today: dt.date) -> Any:
    (report,) = run_monitors(
        ws, "demand-forecast-production", today=today, republish=lambda why: republish(ws)
    )
    (section,) = [s for s in report.sections if s.type == "auto_reassign"]
    return section


def test_a_category_moves_to_the_family_that_beat_it_and_rolls_back_with_one_command(serving_ws, slack):
    ws = serving_ws
    config, _, output = configs_from_pipeline(ws)
    features = load_features(ws, config)
    grid = features.grid
    Registry(ws).promote(train(ws, family_config(config, STUMP), features=features).forecaster)
    path = ws.root / "routing" / "per-category.json"
    path.write_text(json.dumps(routing_doc(None)))
    rollout(ws, DEPLOYMENT, config)

    # three daily batches published 20 days before the data ends, each with every family's shadows
    first = grid.n_days - 21
    for k in range(ORIGINS):
        forecast(ws, config, features=FeatureContext.build(grid.until(first + k)))
    wh = warehouse_of(ws)
    shadows = wh.query(f"SELECT * FROM {shadow_table(output)}")
    live = wh.query(f"SELECT * FROM {archive_table(output)}")
    assert set(shadows.column("family").to_pylist()) == {"lightgbm", STUMP}
    origin = grid.date_at(first).item()

    def rows(table: Any, **where: Any) -> list[tuple[str, str, float]]:
        picked = [r for r in table.to_pylist() if all(r[k] == v for k, v in where.items())]
        return sorted((r["product_id"], str(r["forecast_date"]), r["predicted_units"]) for r in picked)

    # a family's shadow is the batch it would publish answering every category: LightGBM's is the live one
    assert rows(shadows, family="lightgbm", forecast_origin=origin) == rows(live, forecast_origin=origin)
    assert len(rows(shadows, family=STUMP, forecast_origin=origin)) == len(rows(live, forecast_origin=origin))

    # the category where seasonal naive trails LightGBM furthest on the three days is served by it
    day = grid.date_at(first).item()
    track_accuracy(ws, config, output, as_of=day + dt.timedelta(days=3 + LAG), lag_days=LAG)
    scored = wh.query(f"SELECT * FROM {FAMILY_ACCURACY_TABLE} WHERE category <> 'ALL'").to_pylist()
    mape = {(r["category"], r["family"], r["forecast_date"]): r["mape"] for r in scored}
    worst: dict[str, float] = {}  # per category, LightGBM's MAPE over seasonal naive's on its worst day
    for (category, family, date), value in mape.items():
        if family == STUMP:
            ratio = mape[(category, "lightgbm", date)] / value
            worst[category] = max(worst.get(category, 0.0), ratio)
    target = min(worst, key=worst.__getitem__)
    assert worst[target] < 0.9, f"no category where LightGBM beats {STUMP} by 10% on each day: {worst}"
    path.write_text(json.dumps(routing_doc(target)))
    rollout(ws, DEPLOYMENT, config)
    assert load_state(ws, DEPLOYMENT).live["routing"]["categories"] == {target: STUMP}
    server = LiveModel(ws, DEPLOYMENT, poll_seconds=0.2)  # what `matih serve` answers with
    server.switch(None)
    server.start()
    assert server.current is not None and server.current.routing["categories"] == {target: STUMP}

    # two matured forecast days: the condition needs three, nothing moves however large the gap
    section = reassign_section(ws, day + dt.timedelta(days=2 + LAG))
    decision = section.figures["decision"]
    assert not decision["fired"] and "at most 2 of 3" in decision["reason"]
    assert decision["evidence"][target]["days"] == 2 and decision["evidence"][target]["best"] == "lightgbm"
    assert routing_history(ws) == [] and current_routing(ws) == routing_doc(target)

    # three: the stump's category goes back to LightGBM, in a new routing version, served at once
    section = reassign_section(ws, day + dt.timedelta(days=3 + LAG))
    decision = section.figures["decision"]
    assert decision["fired"], decision["reason"]
    assert decision["moves"] == {target: "lightgbm"} and decision["previous"] == {target: STUMP}
    daily = decision["evidence"][target]["daily"]
    assert len(daily) == 3 and all(v["lightgbm"] < v["current"] * 0.9 for v in daily.values())
    scored = wh.query(
        f"SELECT CAST(forecast_date AS VARCHAR) AS d, family, mape FROM {FAMILY_ACCURACY_TABLE} "
        f"WHERE category = '{target}'"
    ).to_pylist()
    by = {(r["d"], r["family"]): r["mape"] for r in scored}
    assert all(np.isclose(by[(d, STUMP)], v["current"], rtol=1e-5) for d, v in daily.items())
    assert current_routing(ws)["overrides"] == [] and current_routing(ws)["auto_reassign"]["enabled"]
    assert [v.version for v in routing_history(ws)] == [1, 2]
    state = load_state(ws, DEPLOYMENT)
    assert state.live["routing"]["categories"] == {}
    served = wh.query(
        f"SELECT DISTINCT model FROM analytics.forecasts.demand_14d WHERE category = '{target}'"
    )
    assert set(served.column("model").to_pylist()) <= {f"category:{target}", "fallback"}
    assert wait_for(lambda: server.current.routing["categories"] == {}), "the server kept the old routing"
    server.stop()
    (message,) = [m for m in slack.messages if "auto_reassign" in m.get("text", "")]
    assert message["channel"] == "#ml-ops-alerts"
    assert f"{target} {STUMP} -> lightgbm" in message["text"] and "matih routing rollback" in message["text"]

    # one command puts the category back on the stump, served at once
    undo = CliRunner().invoke(app, ["routing", "rollback", "-w", str(ws.root)])
    assert undo.exit_code == 0, undo.output
    assert current_routing(ws) == routing_doc(target)
    assert load_state(ws, DEPLOYMENT).live["routing"]["categories"] == {target: STUMP}
    served = wh.query(
        f"SELECT DISTINCT model FROM analytics.forecasts.demand_14d WHERE category = '{target}'"
    )
    assert f"{STUMP}:category:{target}" in served.column("model").to_pylist()

    # and the same evidence never moves it again: only days after the last move count
    section = reassign_section(ws, day + dt.timedelta(days=3 + LAG))
    assert not section.figures["decision"]["fired"]
    assert section.figures["decision"]["evidence"][target]["days"] == 0
    assert [d["fired"] for d in past_reassignments(ws)][-3:] == [False, True, False]

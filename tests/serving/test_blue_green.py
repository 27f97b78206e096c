"""Blue-green: broken greens (one that cannot load, one that returns NaN) are rolled back while blue
keeps serving, with a load generator running through each attempt; the rollout refuses them too."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import numpy as np
import pytest

from matih.api.app import create_app
from matih.exceptions import DeploymentError
from matih.forecast.adapt import configs_from_pipeline
from matih.serving.deployments import load_state, rollout
from matih.serving.online import LiveModel
from matih.state import write_json_atomic
from matih.warehouse import warehouse_of
from tests.servers import serve_in_thread
from tests.serving.helpers import register_from_champion, traffic, until

DEPLOYMENT = "demand-forecaster"


def nan_version(ws: Any) -> str:
    """A registered version whose interval calibration is NaN: it loads, and answers NaN bounds."""

    def break_intervals(model: Any) -> None:
        nan = float("nan")
        model.conformal = {
            name: dataclasses.replace(dist, lower=nan, upper=nan) for name, dist in model.conformal.items()
        }

    return f"v{register_from_champion(ws, break_intervals)}"


def point_record_at(ws: Any, version: str) -> None:
    """What a rollout that skipped its checks would do: name ``version`` live."""
    path = ws.state / "deployments" / f"{DEPLOYMENT}.json"
    record = json.loads(path.read_text())
    record["live"] = {**record["live"], "version": version, "deployed_at": f"{time.time()}"}
    write_json_atomic(path, record)  # as MATIH writes it: the watcher never reads half a record


def test_broken_greens_are_rolled_back_and_blue_serves_throughout(serving_ws):
    record = (serving_ws.state / "deployments" / f"{DEPLOYMENT}.json").read_text()
    live = LiveModel(serving_ws, DEPLOYMENT, poll_seconds=0.1)
    live.switch(None)
    blue = live.current.version
    products = list(live.current.products)
    broken_nan = nan_version(serving_ws)
    live.start()
    try:
        with (
            serve_in_thread(create_app(serving_ws, serving=live, max_concurrent=200)) as url,
            traffic(url, products) as answers,
        ):
            for broken in ("v999", broken_nan):  # cannot load; loads but answers NaN
                point_record_at(serving_ws, broken)
                until(
                    lambda b=broken: any(
                        e["event"] == "online_rollout_failed" and e["version"] == b for e in live.events
                    )
                )
                time.sleep(0.3)  # serve a little after the failure too
    finally:
        live.stop()
        (serving_ws.state / "deployments" / f"{DEPLOYMENT}.json").write_text(record)
    assert len(answers) > 50
    assert {code for code, _ in answers} == {200}  # not one failed request
    assert {version for _, version in answers} == {blue}
    failures = {e["version"]: e["reason"] for e in live.events if e["event"] == "online_rollout_failed"}
    assert "RegistryError" in failures["v999"] and "no version 999" in failures["v999"]
    assert "non-finite" in failures[broken_nan]
    assert live.current.version == blue


def test_the_rollout_refuses_a_nan_green_and_keeps_blue_live(serving_ws):
    train, _, _ = configs_from_pipeline(serving_ws)
    before = load_state(serving_ws, DEPLOYMENT).live
    broken = nan_version(serving_ws)
    with pytest.raises(DeploymentError) as err:
        rollout(serving_ws, DEPLOYMENT, train, model_source=broken.lstrip("v"))
    assert "health check" in str(err.value) and "not finite" in str(err.value)
    assert load_state(serving_ws, DEPLOYMENT).live == before
    served = warehouse_of(serving_ws).query(
        "SELECT prediction_interval_lower FROM analytics.forecasts.demand_14d"
    )
    assert np.isfinite(served.column(0).to_numpy()).all()


def test_a_rollout_that_dies_between_the_table_and_the_record_is_healed(serving_ws, monkeypatch):
    """The kill drill's torn case, made certain: the process dies after the batch table took green and
    before the record names it. Servers follow the record (blue), so the table must go back to blue."""
    import matih.serving.deployments as deployments

    train, _, _ = configs_from_pipeline(serving_ws)
    blue = load_state(serving_ws, "demand-forecaster").live["version"]
    green = register_from_champion(serving_ws)

    def killed(*_args: Any, **_kwargs: Any) -> Any:
        raise SystemExit("killed between the two commits")

    with monkeypatch.context() as patch:
        patch.setattr(deployments, "_switch", killed)
        with pytest.raises(SystemExit):
            rollout(serving_ws, "demand-forecaster", train, model_source=str(green))
    torn = load_state(serving_ws, "demand-forecaster")
    assert torn.live["version"] == blue and torn.switching["version"] == f"v{green}"
    assert served_versions(serving_ws) == {f"v{green}"}  # the table and the record disagree

    healed = deployments.heal(serving_ws, "demand-forecaster")
    assert healed is not None and f"v{green}" in healed
    state = load_state(serving_ws, "demand-forecaster")
    assert state.switching is None and state.live["version"] == blue
    assert served_versions(serving_ws) == {blue}
    assert state.history[-1]["event"] == "torn_rollout_healed"
    assert deployments.heal(serving_ws, "demand-forecaster") is None  # nothing left to heal


def served_versions(ws: Any) -> set[str]:
    table = warehouse_of(ws).query("SELECT DISTINCT model_version FROM analytics.forecasts.demand_14d")
    return set(table.column(0).to_pylist())

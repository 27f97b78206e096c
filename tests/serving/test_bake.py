"""After the switch: green that fails under traffic within its bake time sends traffic back to blue, and
the record, the batch table and the champion follow; green that serves well keeps traffic and blue is
unloaded when the bake time ends."""

from __future__ import annotations

import time
from typing import Any

from matih.api.app import create_app
from matih.forecast.adapt import configs_from_pipeline
from matih.serving.deployments import load_state, rollout
from matih.serving.online import LiveModel, ServedVersion, load_version
from matih.specs.deployment import RolloutGuard
from matih.warehouse import warehouse_of
from tests.servers import serve_in_thread
from tests.serving.helpers import register_from_champion, traffic, until

DEPLOYMENT = "demand-forecaster"


def losing_products(green: str) -> Any:
    """A loader whose ``green`` has lost every third product (as a version trained on a broken dataset
    would): it passes the load-time check, then fails a third of its answers."""

    def load(ws: Any, deployment: str, version: str | None) -> ServedVersion:
        served = load_version(ws, deployment, version)
        if served.version == green:
            served.products = {p: row for i, (p, row) in enumerate(served.products.items()) if i % 3}
        return served

    return load


def served_versions(ws: Any) -> set[str]:
    table = warehouse_of(ws).query("SELECT DISTINCT model_version FROM analytics.forecasts.demand_14d")
    return set(table.column(0).to_pylist())


def test_green_failing_under_traffic_is_rolled_back_everywhere(serving_ws):
    train, _, _ = configs_from_pipeline(serving_ws)
    number = str(register_from_champion(serving_ws))
    green = f"v{number}"
    guard = RolloutGuard(bake_time="10m", max_error_rate=0.05, min_requests=30)
    live = LiveModel(serving_ws, DEPLOYMENT, poll_seconds=0.1, guard=guard, loader=losing_products(green))
    live.switch(None)
    blue = live.current.version
    products = list(live.current.products)
    live.start()
    try:
        with (
            serve_in_thread(create_app(serving_ws, serving=live, max_concurrent=200)) as url,
            traffic(url, products) as answers,
        ):
            result = rollout(serving_ws, DEPLOYMENT, train, model_source=number)
            assert result.version == green and served_versions(serving_ws) == {green}
            until(lambda: any(e["event"] == "online_rollback" for e in live.events))
            until(lambda: load_state(serving_ws, DEPLOYMENT).live["version"] == blue)
            time.sleep(0.3)  # blue serves on after the rollback
    finally:
        live.stop()
    assert {code for code, _ in answers} == {200}  # green's failures were answered by blue
    assert {version for _, version in answers} == {blue, green}  # green did take traffic
    assert live.current.version == blue and live.standby is None
    state = load_state(serving_ws, DEPLOYMENT)
    events = {h["event"]: h for h in state.history}
    assert "answers failed" in events["online_rollback"]["reason"]
    assert events["auto_rollback"]["version"] == blue and green in events["auto_rollback"]["reason"]
    assert state.previous is None
    assert served_versions(serving_ws) == {blue}  # blue's rows are back in the batch table
    assert not warehouse_of(serving_ws).table_exists("analytics.forecasts.demand_14d_previous")


def test_green_that_serves_well_keeps_traffic_and_blue_is_unloaded_after_the_bake(serving_ws):
    train, _, _ = configs_from_pipeline(serving_ws)
    guard = RolloutGuard(bake_time="1s", max_error_rate=0.05, min_requests=5)
    live = LiveModel(serving_ws, DEPLOYMENT, poll_seconds=0.1, guard=guard)
    live.switch(None)
    blue = live.current.version
    number = str(register_from_champion(serving_ws))
    live.start()
    try:
        rollout(serving_ws, DEPLOYMENT, train, model_source=number)
        until(lambda: live.current.version == f"v{number}")
        assert live.standby is not None and live.standby.version == blue  # blue kept while green bakes
        for product in list(live.current.products)[:20]:
            assert live.answer(product, 14) is not None
        until(lambda: live.standby is None)
    finally:
        live.stop()
    assert (live.answers, live.failures) == (20, 0)
    assert load_state(serving_ws, DEPLOYMENT).live["version"] == f"v{number}"
    passed = [e for e in live.events if e["event"] == "online_bake_passed"]
    assert passed and passed[0]["version"] == f"v{number}"

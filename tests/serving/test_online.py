"""Online forecasts: routing by category with the fallback, equal to the batch rows, over real HTTP."""

from __future__ import annotations

import concurrent.futures

import httpx
import numpy as np
import pytest

from matih.api.app import create_app
from matih.serving.online import load_version
from matih.warehouse import warehouse_of
from tests.servers import serve_in_thread

BATCH = "analytics.forecasts.demand_14d"
FEATURES = "analytics.derived.demand_features"


def batch_rows(ws) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for r in warehouse_of(ws).query(f"SELECT * FROM {BATCH} ORDER BY product_id, horizon_days").to_pylist():
        rows.setdefault(r["product_id"], []).append(r)
    return rows


def test_online_forecasts_equal_the_batch_for_the_same_origin_and_version(serving_ws, live):
    served = live.current
    batch = batch_rows(serving_ws)
    assert served.version == next(iter(batch.values()))[0]["model_version"]
    assert set(served.products) == set(batch)
    for pid, rows in list(batch.items())[::25]:
        online = served.forecast(pid, 14)
        assert online["forecast_origin"] == str(rows[0]["forecast_origin"])
        assert [d["forecast_date"] for d in online["days"]] == [str(r["forecast_date"]) for r in rows]
        for field in ("predicted_units", "prediction_interval_lower", "prediction_interval_upper"):
            assert [d[field] for d in online["days"]] == [r[field] for r in rows], field
        assert online["model"] == rows[0]["model"]


def test_each_category_answers_with_its_model_and_short_or_unknown_ones_fall_back(serving_ws, live):
    served = live.current
    categories = {c for c in served.categories if c}
    for category in categories:
        pid = next(
            p
            for p, i in served.products.items()
            if served.categories[i] == category and served.models[i] != "fallback"
        )
        assert served.forecast(pid, 1)["model"] == f"category:{category}"
    wh = warehouse_of(serving_ws)
    days = wh.query(
        f"SELECT product_id, count(DISTINCT sale_date) AS d FROM {FEATURES} GROUP BY 1"
    ).to_pylist()
    short = [r["product_id"] for r in days if r["d"] < 30 and r["product_id"] in served.products]
    assert short, "the small world has products with under 30 days of history"
    assert {served.forecast(p, 1)["model"] for p in short} == {"fallback"}
    # a category the models never saw: route to the fallback
    pid = next(p for p, i in served.products.items() if served.models[i] != "fallback")
    wh.run(f"SELECT * FROM {FEATURES}", target="analytics.derived.features_backup")
    wh.run(
        "SELECT * REPLACE (CASE WHEN product_id = $p THEN 'Brand New Category' ELSE category END "
        "AS category) FROM analytics.derived.features_backup",
        target=FEATURES,
        params={"p": pid},
    )
    try:
        renamed = load_version(serving_ws, "demand-forecaster")
        assert renamed.forecast(pid, 1)["model"] == "fallback"
        assert renamed.forecast(pid, 1)["category"] == "Brand New Category"
    finally:
        wh.run("SELECT * FROM analytics.derived.features_backup", target=FEATURES)


@pytest.fixture(scope="module")
def server(serving_ws, live):
    with serve_in_thread(create_app(serving_ws, serving=live, max_concurrent=4)) as url:
        yield url


def test_http_endpoints(server, live):
    served = live.current
    pid = next(iter(served.products))
    one = httpx.post(f"{server}/v1/forecast", json={"product_id": pid, "horizon": 3})
    assert one.status_code == 200
    body = one.json()
    assert body["model_version"] == served.version
    (forecast,) = body["forecasts"]
    assert forecast["product_id"] == pid and len(forecast["days"]) == 3 and forecast["model"]
    many = list(served.products)[:5]
    assert [
        f["product_id"]
        for f in httpx.post(f"{server}/v1/forecast", json={"product_ids": many}).json()["forecasts"]
    ] == many
    latest = httpx.get(f"{server}/v1/forecast/{pid}").json()
    assert len(latest["days"]) == 14 and latest["days"][:3] == forecast["days"]
    unknown = httpx.post(f"{server}/v1/forecast", json={"product_id": "PRD-NOPE"})
    assert unknown.status_code == 404 and "PRD-NOPE" in unknown.json()["detail"]
    bad = httpx.post(f"{server}/v1/forecast", json={"product_id": pid, "horizon": 15})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "horizon"]
    neither = httpx.post(f"{server}/v1/forecast", json={"horizon": 3})
    assert neither.status_code == 422 and "product_id or product_ids" in neither.text
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server}/readyz")
    assert ready.status_code == 200 and ready.json()["model_version"] == served.version
    # Prometheus metrics: by route template, status, family and category, never by product
    exposed = httpx.get(f"{server}/metrics")
    assert exposed.status_code == 200 and exposed.headers["content-type"].startswith("text/plain")
    text = exposed.text
    assert 'matih_requests_total{route="POST /v1/forecast",status="200"}' in text
    assert 'matih_requests_total{route="POST /v1/forecast",status="404"}' in text
    assert 'matih_request_seconds_bucket{le="0.05",route="GET /v1/forecast/{product_id}"}' in text
    category = forecast["category"]
    assert f'matih_forecast_answers_total{{category="{category}",family="default"}}' in text
    assert pid not in text and "PRD-NOPE" not in text


def test_over_the_concurrency_limit_is_503_not_a_timeout(server, live):
    products = list(live.current.products)
    body = {"product_ids": (products * 4)[:1000]}

    def call(_: int) -> int:
        return httpx.post(f"{server}/v1/forecast", json=body, timeout=30).status_code

    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        codes = list(pool.map(call, range(48)))
    assert set(codes) <= {200, 503} and codes.count(200) >= 4 and 503 in codes
    limited = next(iter([c for c in codes if c == 503]))
    assert limited == 503


def test_intervals_are_finite_and_ordered(live):
    served = live.current
    assert np.isfinite(served.predicted).all()
    assert (served.lower <= served.predicted + 1e-9).all() and (served.predicted <= served.upper + 1e-9).all()


@pytest.fixture
def published_ws(serving_ws, tmp_path):
    """A copy of the served workspace with its batch just published by a rollout."""
    import shutil

    from matih.forecast.adapt import configs_from_pipeline
    from matih.serving.deployments import rollout
    from matih.workspace import Workspace

    root = tmp_path / "novamart"
    shutil.copytree(serving_ws.root, root)
    ws = Workspace(root)
    rollout(ws, "demand-forecaster", configs_from_pipeline(ws)[0])
    return ws


def test_serving_starts_from_the_published_batch_and_it_equals_computing(published_ws):
    from matih.forecast.adapt import configs_from_pipeline
    from matih.forecast.batch import predict_batch
    from matih.serving.online import _served

    loaded = load_version(published_ws, "demand-forecaster")
    assert loaded.from_published  # the rollout recorded the rows it published
    train, _, _ = configs_from_pipeline(published_ws)
    number = int(loaded.version[1:])
    table, batch = predict_batch(published_ws, train, version=number)
    computed = _served(table, train, number, batch.origin, batch.routing, 0.0)
    assert loaded.products == computed.products and loaded.origin == computed.origin
    assert loaded.routing == computed.routing and loaded.dates == computed.dates
    for field in ("predicted", "lower", "upper"):
        assert np.array_equal(getattr(loaded, field), getattr(computed, field)), field
    assert loaded.models == computed.models and loaded.model_versions == computed.model_versions


def test_a_changed_batch_table_or_new_features_are_computed_again(published_ws):
    ws = published_ws
    wh = warehouse_of(ws)
    first = wh.query(
        f"SELECT product_id, predicted_units FROM {BATCH} WHERE horizon = 1 ORDER BY product_id LIMIT 1"
    ).to_pylist()[0]
    pid = first["product_id"]
    one = f"WHERE product_id = '{pid}' AND horizon = 1"
    wh.run(f"UPDATE {BATCH} SET predicted_units = predicted_units + 1 {one}")
    tampered = load_version(ws, "demand-forecaster")
    assert not tampered.from_published  # the checksum no longer matches: computed as the batch job does
    assert tampered.forecast(pid, 1)["days"][0]["predicted_units"] != first["predicted_units"] + 1
    wh.run(f"UPDATE {BATCH} SET predicted_units = $value {one}", params={"value": first["predicted_units"]})
    assert load_version(ws, "demand-forecaster").from_published  # the published rows again
    wh.run(ws.query_path("demand_features").read_text())  # the feature table written again: a new origin
    assert not load_version(ws, "demand-forecaster").from_published

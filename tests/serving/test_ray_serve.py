"""The forecast application on Ray Serve (a local Ray instance started by the test), sized by the
seed's serving_config, answering exactly as the embedded server does."""

from __future__ import annotations

import time

import httpx
import pytest

from matih.serving.deployments import deployment_spec
from matih.serving.ray_engine import ray_options

# Ray Serve
pytestmark = pytest.mark.cluster


def test_serving_config_maps_onto_ray_serve_options(serving_ws):
    options = ray_options(deployment_spec(serving_ws, "demand-forecaster").serving_config)
    assert options["max_ongoing_requests"] == 200
    assert options["autoscaling_config"] == {
        "min_replicas": 2,
        "initial_replicas": 2,
        "max_replicas": 8,
        "target_ongoing_requests": 25,
        "upscale_delay_s": 30,
        "downscale_delay_s": 300,
    }
    assert "num_replicas" not in options  # autoscaling decides


@pytest.fixture
def ray_serve():
    import ray
    from ray import serve

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield serve
    finally:
        serve.shutdown()
        ray.shutdown()


def test_the_application_on_ray_serve_answers_like_the_embedded_one(serving_ws, live, ray_serve):
    from matih.api.forecast import forecast_app
    from matih.processes import free_port
    from matih.serving.ray_engine import deploy

    url = deploy(
        serving_ws, "demand-forecaster", app_factory=forecast_app, port=free_port(), cpus_per_replica=0.5
    )
    deadline = time.monotonic() + 240
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the replicas did not become ready"
        time.sleep(1)
    pid = next(iter(live.current.products))
    answer = httpx.post(f"{url}/v1/forecast", json={"product_id": pid, "horizon": 5}, timeout=30)
    assert answer.status_code == 200
    (forecast,) = answer.json()["forecasts"]
    assert forecast == live.current.forecast(pid, 5)
    assert "app;dur=" in answer.headers["server-timing"]
    bad = httpx.post(f"{url}/v1/forecast", json={"product_id": pid, "horizon": 0}, timeout=30)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "horizon"]
    status = ray_serve.status().applications["demand-forecaster"]
    replicas = status.deployments["forecaster"].replica_states
    assert replicas.get("RUNNING") == 2  # the seed's min_replicas

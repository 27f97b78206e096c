"""The online forecast endpoints under property-based requests from their own OpenAPI spec: never a 500."""

from __future__ import annotations

import schemathesis

from tests.servers import assert_no_server_errors, serve_in_thread


def test_the_forecast_endpoints_never_answer_500(serving_ws, live) -> None:
    from matih.api.app import create_app

    with serve_in_thread(create_app(serving_ws, serving=live, max_concurrent=200)) as url:
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        forecast = [op for op in operations if op.path.startswith("/v1/forecast")]
        assert {op.path for op in forecast} == {"/v1/forecast", "/v1/forecast/{product_id}"}
        assert_no_server_errors(forecast, examples=60)

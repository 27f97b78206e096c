"""Property-based requests generated from the API's own OpenAPI spec (schemathesis) never get a 500."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error


def test_no_server_errors(api_url) -> None:
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/query", "/catalog/search", "/lineage/{name}"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_500(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        no_500()

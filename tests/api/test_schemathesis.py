"""Property-based requests generated from the API's own OpenAPI spec (schemathesis) never get a 500."""

from __future__ import annotations

import schemathesis

from tests.servers import assert_no_server_errors


def test_no_server_errors(api_url) -> None:
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/query", "/catalog/search", "/lineage/{name}"}
    assert_no_server_errors(operations, examples=40)

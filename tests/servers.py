"""Serving an ASGI app for real in a test: uvicorn on a free 127.0.0.1 port, in a daemon thread."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn


@contextlib.contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Yields the base URL while ``app`` answers on it."""
    from matih.processes import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def assert_no_server_errors(operations: list[Any], *, examples: int) -> None:
    """Schemathesis: ``examples`` requests per OpenAPI operation, generated from its schema; a 500 fails."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def no_500(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        no_500()

"""The API served for real: uvicorn on a free 127.0.0.1 port, in a thread, over the demo's workspace."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from tests.servers import serve_in_thread

READER_KEY = "reader-key-0123456789"
EDITOR_KEY = "editor-key-9876543210"
LIMITED_KEY = "limited-key-5555555555"


@pytest.fixture(scope="session")
def api_url(demo_run) -> Iterator[str]:
    from matih.api.app import create_app
    from matih.catalog.tables import refresh

    ws = demo_run.workspace
    with (ws.root / "matih.yaml").open("a") as out:
        out.write(
            "api_keys:\n"
            '  - {key: "${MATIH_TEST_READER_KEY}", role: reader}\n'
            '  - {key: "${MATIH_TEST_EDITOR_KEY}", role: editor}\n'
            '  - {key: "${MATIH_TEST_LIMITED_KEY}", role: reader, rate_limit: "3/minute"}\n'
        )
    os.environ["MATIH_TEST_READER_KEY"] = READER_KEY
    os.environ["MATIH_TEST_EDITOR_KEY"] = EDITOR_KEY
    os.environ["MATIH_TEST_LIMITED_KEY"] = LIMITED_KEY
    refresh(ws)
    with serve_in_thread(create_app(ws)) as url:
        httpx.get(f"{url}/openapi.json").raise_for_status()
        yield url


@pytest.fixture(autouse=True)
def _temporal_as_found(request: pytest.FixtureRequest) -> Iterator[None]:
    """Routes that read runs start the demo workspace's Temporal dev server and keep it running, as a
    server should; each test leaves it as it found it, since later tests count on the demo's being
    stopped (the served app stops it only when the session ends)."""
    if "api_url" not in request.fixturenames:
        yield
        return
    from matih.orchestrate import devserver
    from matih.orchestrate.runner import stop_embedded

    ws = request.getfixturevalue("demo_run").workspace
    was_running = devserver.running(ws) is not None
    yield
    if not was_running and devserver.running(ws) is not None:
        stop_embedded(ws)

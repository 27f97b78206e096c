"""The API served for real: uvicorn on a free 127.0.0.1 port, in a thread, over the demo's workspace."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

READER_KEY = "reader-key-0123456789"
EDITOR_KEY = "editor-key-9876543210"


@pytest.fixture(scope="session")
def api_url(demo_run) -> Iterator[str]:
    import os

    from matih.api.app import create_app
    from matih.catalog.tables import refresh
    from matih.sandbox.postgres import free_port

    ws = demo_run.workspace
    with (ws.root / "matih.yaml").open("a") as out:
        out.write(
            "api_keys:\n"
            '  - {key: "${MATIH_TEST_READER_KEY}", role: reader}\n'
            '  - {key: "${MATIH_TEST_EDITOR_KEY}", role: editor}\n'
        )
    os.environ["MATIH_TEST_READER_KEY"] = READER_KEY
    os.environ["MATIH_TEST_EDITOR_KEY"] = EDITOR_KEY
    refresh(ws)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(ws), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    httpx.get(f"{url}/openapi.json").raise_for_status()
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)

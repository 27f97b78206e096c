"""The API served for real: uvicorn on a free 127.0.0.1 port, in a thread, over the demo's workspace."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.servers import serve_in_thread

READER_KEY = "reader-key-0123456789"
EDITOR_KEY = "editor-key-9876543210"
LIMITED_KEY = "limited-key-5555555555"


@pytest.fixture(scope="session")
def api_url(demo_run) -> Iterator[str]:
    import os

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

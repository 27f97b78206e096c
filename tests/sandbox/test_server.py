"""The sandbox process: endpoints while it runs, a clean stop, a clock bounded by the world."""

from __future__ import annotations

import datetime as dt

import pytest

from matih.exceptions import SandboxError
from matih.sandbox import save_world, server
from matih.workspace import Workspace
from tests.conftest import END


@pytest.mark.server
def test_start_advance_stop(tmp_path, small_world) -> None:
    ws = Workspace.at(tmp_path / "ws")
    ws.ensure_state()
    with pytest.raises(SandboxError, match="matih sandbox generate"):
        server.start(ws)
    save_world(small_world, ws.sandbox_dir)
    with pytest.raises(SandboxError, match="not running"):
        server.advance(ws)
    handle = server.start(ws, as_of=END - dt.timedelta(days=1))
    try:
        assert server.running(ws) is not None
        with pytest.raises(SandboxError, match="already runs"):
            server.start(ws)
        assert server.advance(ws)["as_of"] == END.isoformat()
        with pytest.raises(SandboxError, match="world ends on"):
            server.advance(ws)
    finally:
        handle.stop()
    assert server.running(ws) is None
    assert not server.endpoints_path(ws).exists()
    assert not (ws.sandbox_dir / "postgres" / "data" / "postmaster.pid").exists()

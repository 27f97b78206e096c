"""The embedded Temporal server's bookkeeping that needs no server running."""

from __future__ import annotations

from pathlib import Path

import pytest

from matih.exceptions import OrchestrationError
from matih.orchestrate import devserver
from matih.workspace import Workspace


def test_a_process_that_refuses_starts_starts_no_server(tmp_path: Path):
    """An application shutting down refuses new starts, so a request still in flight leaves no server."""
    ws = Workspace(tmp_path)
    devserver.state_dir(ws).mkdir(parents=True)
    devserver.refuse_starts(ws)
    with pytest.raises(OrchestrationError, match="shutting down"):
        devserver.start(ws)
    assert devserver.running(ws) is None
    assert not (devserver.state_dir(ws) / "server.json").exists()

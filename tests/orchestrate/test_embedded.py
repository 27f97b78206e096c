"""Stopping the embedded Temporal and the background worker of its runs."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from matih.orchestrate import runner
from matih.processes import adopt, alive
from matih.workspace import Workspace

pytestmark = pytest.mark.server  # starts a child process


def test_the_background_worker_has_exited_before_the_server_is_stopped(tmp_path: Path):
    """A worker reads the schedules from the server as it exits: stopping the server before the worker
    is gone would make it start another (a server left running after ``matih serve`` stopped)."""
    ws = Workspace(tmp_path)
    ws.ensure_state()
    (tmp_path / ".matih" / "temporal").mkdir(parents=True, exist_ok=True)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys, time\n"
            "signal.signal(signal.SIGTERM, lambda *_: (time.sleep(1.0), sys.exit(0)))\n"
            "time.sleep(60)\n",
        ]
    )
    adopt(worker)
    time.sleep(0.5)
    runner.register_worker(ws, worker.pid)
    assert runner.background_worker_pid(ws) == worker.pid
    assert runner.stop_embedded(ws) is False  # no server ran
    assert not alive(worker.pid) and worker.returncode == 0
